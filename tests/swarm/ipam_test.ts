// IPv4 IPAM (cli/control/swarm/ipam.ts): pool subnets, addresses, Docker's MACs. No root needed.

import assert from "node:assert/strict";
import {
  allocateAddress,
  allocateSubnet,
  contains,
  formatCidr,
  intToIp,
  IpamError,
  ipToInt,
  macFor,
  objectId,
  overlaps,
  parseCidr,
} from "../../cli/control/swarm/ipam.ts";

Deno.test("ipam: /24s from 10.0.0.0/8 in order, skipping those in use; .1 is the gateway", () => {
  const pool = parseCidr("10.0.0.0/8");
  assert.equal(formatCidr(allocateSubnet(pool, 24, [])), "10.0.0.0/24");
  assert.equal(
    formatCidr(allocateSubnet(pool, 24, [parseCidr("10.0.0.0/24"), parseCidr("10.0.2.0/24")])),
    "10.0.1.0/24",
  );
  const s = parseCidr("10.0.0.0/24");
  assert.equal(allocateAddress(s, "10.0.0.1", new Set()), "10.0.0.2");
  assert.equal(allocateAddress(s, "10.0.0.1", new Set(["10.0.0.2"])), "10.0.0.3");
  assert.throws(
    () => allocateAddress(parseCidr("10.0.0.0/30"), "10.0.0.1", new Set(["10.0.0.2"])),
    /no free address/,
  );
  assert.throws(() => parseCidr("10.0.0.1/24"), /host bits/);
  assert.equal(macFor("10.0.0.2"), "02:42:0a:00:00:02");
  assert.match(objectId(), /^[a-z0-9]{25}$/);
});

Deno.test("ipam: an IPv4 address is four decimal parts 0..255; a leading zero is refused", () => {
  assert.equal(ipToInt("10.0.0.1"), 0x0a000001);
  assert.equal(ipToInt("255.255.255.255"), 0xffffffff);
  assert.equal(ipToInt("0.0.0.0"), 0);
  assert.equal(intToIp(ipToInt("192.168.10.200")), "192.168.10.200");
  // "010" is 8 to inet_aton (octal) and 10 to a decimal parser: which host is meant is unclear,
  // so it is refused, as the core's parser (cli/core/addr.ts parseIpv4) does.
  for (
    const bad of [
      "010.0.0.1",
      "10.0.0.01",
      "10.00.0.1",
      "256.0.0.1",
      "10.0.0",
      "10.0.0.1.2",
      " 10.0.0.1",
      "a.b.c.d",
      "",
    ]
  ) {
    assert.throws(() => ipToInt(bad), IpamError, bad);
  }
  assert.throws(() => parseCidr("010.0.0.0/8"), IpamError);
  assert.throws(() => macFor("10.0.0.02"), IpamError);
});

Deno.test("ipam: the pool's mask length must fit the pool and leave room for hosts", () => {
  const pool = parseCidr("10.0.0.0/16");
  assert.throws(() => allocateSubnet(pool, 8, []), /does not fit the pool 10\.0\.0\.0\/16/);
  assert.throws(() => allocateSubnet(pool, 31, []), IpamError);
  assert.throws(
    () => allocateSubnet(parseCidr("10.0.0.0/23"), 24, [parseCidr("10.0.0.0/23")]),
    /10\.0\.0\.0\/23 is exhausted: no free \/24 left/,
  );
  assert.equal(overlaps(parseCidr("10.0.0.0/16"), parseCidr("10.0.5.0/24")), true);
  assert.equal(overlaps(parseCidr("10.0.0.0/24"), parseCidr("10.0.1.0/24")), false);
  assert.equal(contains(parseCidr("10.0.0.0/24"), ipToInt("10.0.0.255")), true);
  assert.equal(contains(parseCidr("10.0.0.0/24"), ipToInt("10.0.1.0")), false);
});
