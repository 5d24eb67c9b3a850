// Two hosts h1, h2 on one underlay veth (198.18.0.1/24, 198.18.0.2/24); each runs `weft vtep`
// with its TAP moved into a container namespace c1/c2 (10.0.0.1/24, 10.0.0.2/24).

import assert from "node:assert/strict";
import { Lab, pingRtt, twoHosts } from "../netns.ts";

Deno.test({
  name: "weft vtep ↔ weft vtep: ARP, ping both ways, TCP, MTU 1450 with DF",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const lab = new Lab();
    try {
      const { h1, h2, c1, c2 } = await twoHosts(lab);
      const t1 = `${lab.prefix}t1`, t2 = `${lab.prefix}t2`;
      const v1 = await lab.vtep(h1, [
        "--vni",
        "42",
        "--tap",
        t1,
        "--netns",
        c1,
        "--address",
        "10.0.0.1/24",
        "--listen",
        "198.18.0.1",
        "--peer",
        "198.18.0.2",
      ]);
      const v2 = await lab.vtep(h2, [
        "--vni",
        "42",
        "--tap",
        t2,
        "--netns",
        c2,
        "--address",
        "10.0.0.2/24",
        "--listen",
        "198.18.0.2",
        "--peer",
        "198.18.0.1",
      ]);

      const p12 = await lab.exec(c1, ["ping", "-c", "3", "-i", "0.2", "-W", "1", "10.0.0.2"]);
      assert.equal(p12.code, 0, `c1 → c2 ping failed:\n${p12.stdout}${p12.stderr}`);
      const p21 = await lab.exec(c2, ["ping", "-c", "3", "-i", "0.2", "-W", "1", "10.0.0.1"]);
      assert.equal(p21.code, 0, `c2 → c1 ping failed:\n${p21.stdout}`);
      const neigh = await lab.exec(c1, ["ip", "neigh", "show", "10.0.0.2"]);
      assert.match(neigh.stdout, /lladdr/, "ARP resolved 10.0.0.2");

      const big = await lab.exec(c1, [
        "ping",
        "-M",
        "do",
        "-s",
        "1422",
        "-c",
        "2",
        "-i",
        "0.2",
        "-W",
        "1",
        "10.0.0.2",
      ]);
      assert.equal(big.code, 0, `a 1450-byte packet with DF passes:\n${big.stdout}${big.stderr}`);
      const tooBig = await lab.exec(c1, ["ping", "-M", "do", "-s", "1423", "-c", "1", "-W", "1", "10.0.0.2"]);
      assert.notEqual(tooBig.code, 0, "a 1451-byte packet with DF is refused");

      const server = lab.spawn(c2, ["iperf3", "-s", "-1", "-B", "10.0.0.2"], "iperf3 -s");
      await new Promise((r) => setTimeout(r, 500));
      const iperf = await lab.exec(c1, ["iperf3", "-c", "10.0.0.2", "-t", "2", "-J"], { timeoutMs: 15000 });
      assert.equal(iperf.code, 0, `iperf3 failed: ${iperf.stdout.slice(0, 400)}${iperf.stderr}`);
      const gbps = JSON.parse(iperf.stdout).end.sum_received.bits_per_second / 1e9;
      await server.status;
      const rtt = await lab.exec(c1, ["ping", "-c", "10", "-i", "0.05", "-W", "1", "10.0.0.2"]);
      console.log(`weft↔weft: iperf3 TCP ${gbps.toFixed(2)} Gbit/s, ping RTT avg ${pingRtt(rtt.stdout)} ms`);
      assert.ok(gbps > 0);

      const s1 = await v1.stats();
      assert.ok(s1.vnis[0].counters.encap > 0 && s1.vnis[0].counters.decap > 0);
      const fdb = await v1.fdb();
      assert.ok(fdb.entries.some((e: any) => e.where === "198.18.0.2:4789"), "learned c2's MAC behind h2");
      void v2;
    } finally {
      await lab.close();
    }
  },
});
