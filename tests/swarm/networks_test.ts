// A network's options as `docker network create -d overlay` takes them, checked before any write
// (cli/control/swarm/networks.ts parseNetworkOptions), and the VNIs and subnets a manager on an
// embedded store hands out. No root needed.

import assert from "node:assert/strict";
import { parseNetworkOptions } from "../../cli/control/swarm/network_options.ts";
import { SwarmError } from "../../cli/control/swarm/errors.ts";
import { Manager } from "../../cli/control/swarm/manager.ts";
import { formatCidr } from "../../cli/control/swarm/ipam.ts";
import { formatCidr6 } from "../../cli/control/swarm/ipam6.ts";
import { FIRST_VNI } from "../../cli/defaults.ts";

Deno.test("network options: one subnet per family; gateway and range go to the subnet of their family", () => {
  const { v4, v6 } = parseNetworkOptions({
    name: "n",
    subnet: ["10.1.0.0/24", "fd00:10::/64"],
    gateway: ["10.1.0.254", "fd00:10::ff"],
    ipRange: ["10.1.0.128/25", "fd00:10::100/120"],
    ipv6: true,
  });
  assert.equal(formatCidr(v4.subnet!), "10.1.0.0/24");
  assert.equal(v4.gateway, "10.1.0.254");
  assert.equal(formatCidr(v4.range!), "10.1.0.128/25");
  assert.equal(formatCidr6(v6.subnet!), "fd00:10::/64");
  assert.equal(v6.gateway, "fd00:10::ff");
  assert.equal(formatCidr6(v6.range!), "fd00:10::100/120");
  assert.deepEqual(parseNetworkOptions({ name: "pool" }), { v4: {}, v6: {} }, "nothing given: the pool");
});

Deno.test("network options: what Docker refuses is a SwarmError (400) naming the value", () => {
  const bad: [Parameters<typeof parseNetworkOptions>[0], RegExp][] = [
    [{ name: "bad name" }, /invalid network name "bad name"/],
    [{ name: "n", subnet: ["10.1.0.0/24", "10.2.0.0/24"] }, /only one IPv4 --subnet/],
    [{ name: "n", subnet: "10.1.0.0/31" }, /too small: at most \/30/],
    [{ name: "n", subnet: "fd00::/64" }, /needs --ipv6/],
    [{ name: "n", ipv6: true }, /--ipv6 needs an IPv6 --subnet/],
    [{ name: "n", gateway: "10.1.0.1" }, /no matching subnet for gateway 10\.1\.0\.1/],
    [{ name: "n", subnet: "10.1.0.0/24", gateway: "10.2.0.1" }, /no matching subnet for gateway/],
    [{ name: "n", subnet: "10.1.0.0/24", ipRange: "10.1.0.0/16" }, /no matching subnet for range/],
    [{ name: "n", subnet: "010.1.0.0/24" }, /invalid IPv4 address "010\.1\.0\.0"/],
    [{ name: "n", mtu: 67 }, /must be an integer in 68\.\.65535, got 67/],
    [{ name: "n", mtu: 1400.5 }, /68\.\.65535/],
  ];
  for (const [o, message] of bad) {
    assert.throws(
      () => parseNetworkOptions(o),
      (e) => e instanceof SwarmError && e.status === 400 && message.test(e.message),
      JSON.stringify(o),
    );
  }
});

Deno.test("networks: VNIs from FIRST_VNI and pool /24s in order; a removed network's VNI is reused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-networks-" });
  const m = await Manager.init(dir, {
    advertiseAddr: "127.0.0.1",
    listenAddr: "127.0.0.1",
    listenPort: 2377,
    dataPathPort: 4789,
    pool: "10.0.0.0/8",
    poolMaskLength: 24,
    hostname: "m1",
  });
  m.log = () => {};
  try {
    const a = await m.createNetwork({ name: "a" });
    const b = await m.createNetwork({ name: "b" });
    assert.deepEqual([a.vni, b.vni], [FIRST_VNI, FIRST_VNI + 1]);
    assert.deepEqual([a.subnet, a.gateway, b.subnet], ["10.0.0.0/24", "10.0.0.1", "10.0.1.0/24"]);
    await assert.rejects(m.createNetwork({ name: "a" }), (e) => e instanceof SwarmError && e.status === 409);
    await m.removeNetwork("a");
    const c = await m.createNetwork({ name: "c" });
    assert.equal(c.vni, FIRST_VNI, "the lowest free VNI again");
    assert.equal(c.subnet, "10.0.0.0/24");
  } finally {
    await m.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
