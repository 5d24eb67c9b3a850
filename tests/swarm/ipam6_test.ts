// IPv6 IPAM (cli/control/swarm/ipam6.ts) and --ip-range allocation: no root needed.

import assert from "node:assert/strict";
import { allocateAddress6, bigToIp6, ip6ToBig, parseCidr6 } from "../../cli/control/swarm/ipam6.ts";
import { allocateAddress, IpamError, parseCidr } from "../../cli/control/swarm/ipam.ts";

Deno.test("ipam6: addresses print as RFC 5952 §4 says (lower case, longest zero run, first of equals)", () => {
  const cases: [string, string][] = [
    ["FD00:0010:0000:0000:0000:0000:0000:0001", "fd00:10::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // equal runs: the first is shortened
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // the longest run, not the first
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // one zero group stays
    ["::", "::"],
    ["fe80::", "fe80::"],
  ];
  for (const [input, want] of cases) assert.equal(bigToIp6(ip6ToBig(input)), want, input);
  assert.throws(() => ip6ToBig("10.0.0.1"), IpamError);
  assert.throws(() => ip6ToBig("fd00::1::2"), IpamError);
});

Deno.test("ipam6: ::1 up, skipping the gateway and addresses in use, within --ip-range; host bits refused", () => {
  const s = parseCidr6("fd00:10::/64");
  assert.equal(allocateAddress6(s, "fd00:10::1", new Set()), "fd00:10::2");
  assert.equal(allocateAddress6(s, "fd00:10::ff", new Set(["fd00:10::1"])), "fd00:10::2");
  assert.equal(allocateAddress6(s, "", new Set(), parseCidr6("fd00:10::100/120")), "fd00:10::100");
  const tiny = parseCidr6("fd00:10::/126");
  assert.throws(() => allocateAddress6(tiny, "fd00:10::1", new Set(["fd00:10::2", "fd00:10::3"])), /no free address left in fd00:10::\/126/);
  assert.throws(() => parseCidr6("fd00:10::1/64"), /host bits are set/);
  assert.throws(() => parseCidr6("fd00:10::/129"), /invalid subnet/);
});

Deno.test("ipam: --ip-range keeps IPv4 allocation inside the range and the subnet", () => {
  const s = parseCidr("10.10.0.0/24");
  assert.equal(allocateAddress(s, "10.10.0.1", new Set(), parseCidr("10.10.0.128/25")), "10.10.0.128");
  // A range reaching the subnet's broadcast address never hands it out.
  const used = new Set(Array.from({ length: 126 }, (_, i) => `10.10.0.${128 + i}`));
  assert.equal(allocateAddress(s, "10.10.0.1", used, parseCidr("10.10.0.128/25")), "10.10.0.254");
  used.add("10.10.0.254");
  assert.throws(() => allocateAddress(s, "10.10.0.1", used, parseCidr("10.10.0.128/25")), /no free address left in 10\.10\.0\.128\/25/);
});
