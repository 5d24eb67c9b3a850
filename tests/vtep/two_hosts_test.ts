// Two hosts h1, h2 on one underlay veth (198.18.0.1/24, 198.18.0.2/24); each runs `weft vtep`
// with its TAP moved into a container namespace c1/c2 (10.0.0.1/24, 10.0.0.2/24).

import assert from "node:assert/strict";
import { pingDf, pingRtt, tcpTransfer, twoWeftHosts } from "../../cli/lab/mod.ts";
import { labTest } from "../harness.ts";

for (const [mode, extra] of [["with offloads", []], ["with --no-offload", ["--no-offload"]]] as const) {
  labTest(
    `weft vtep ↔ weft vtep ${mode}: ARP, ping both ways, TCP both ways, MTU 1450 with DF`,
    {},
    async (lab) => {
      const { c1, c2, v1 } = await twoWeftHosts(lab, [...extra]);

      const p12 = await lab.exec(c1, ["ping", "-c", "3", "-i", "0.2", "-W", "1", "10.0.0.2"]);
      assert.equal(p12.code, 0, `c1 → c2 ping failed:\n${p12.stdout}${p12.stderr}`);
      const p21 = await lab.exec(c2, ["ping", "-c", "3", "-i", "0.2", "-W", "1", "10.0.0.1"]);
      assert.equal(p21.code, 0, `c2 → c1 ping failed:\n${p21.stdout}`);
      const neigh = await lab.exec(c1, ["ip", "neigh", "show", "10.0.0.2"]);
      assert.match(neigh.stdout, /lladdr/, "ARP resolved 10.0.0.2");

      const big = await pingDf(lab, c1, "10.0.0.2", 1422);
      assert.equal(big.code, 0, `a 1450-byte packet with DF passes:\n${big.stdout}${big.stderr}`);
      const tooBig = await pingDf(lab, c1, "10.0.0.2", 1423, { count: 1 });
      assert.notEqual(tooBig.code, 0, "a 1451-byte packet with DF is refused");
      // Refused for its size at the 1450-byte MTU, not lost for another reason (a timeout).
      assert.match(`${tooBig.stdout}${tooBig.stderr}`, /message too long, mtu=1450/);

      const there = await tcpTransfer(lab, c1, c2, "10.0.0.2");
      const back = await tcpTransfer(lab, c2, c1, "10.0.0.1");
      const rtt = await lab.exec(c1, ["ping", "-c", "10", "-i", "0.05", "-W", "1", "10.0.0.2"]);
      console.log(
        `weft↔weft ${mode}: 20 MB TCP c1→c2 ${
          there.gbps.toFixed(2)
        } Gbit/s (${there.retransmits} retransmits), ` +
          `c2→c1 ${back.gbps.toFixed(2)} Gbit/s, ping RTT avg ${pingRtt(rtt.stdout)} ms`,
      );

      const s1 = await v1.stats();
      const c = s1.vnis[0].counters;
      assert.ok(c.encap > 0 && c.decap > 0);
      // Offloads on: TCP left as super-frames, was cut by the core and merged back on the way in.
      if (extra.length === 0) assert.ok(c.gso_frames > 0 && c.gro_merged > 0, JSON.stringify(c));
      else assert.equal(c.gso_frames + c.gro_merged, 0);
      const fdb = await v1.fdb();
      assert.ok(fdb.entries.some((e: any) => e.where === "198.18.0.2:4789"), "learned c2's MAC behind h2");
    },
  );
}

/** read(2)-family calls the process made so far (/proc/PID/io syscr; recvmmsg does not count). */
function readCalls(pid: number): number {
  const m = /^syscr: (\d+)$/m.exec(Deno.readTextFileSync(`/proc/${pid}/io`));
  if (!m) throw new Error(`no syscr in /proc/${pid}/io`);
  return Number(m[1]);
}

labTest(
  "weft vtep: a lone frame costs its VTEP one TAP read (no read that returns EAGAIN)",
  {},
  async (lab) => {
    const { c1, v1, v2 } = await twoWeftHosts(lab, []);
    const warm = await lab.exec(c1, ["ping", "-c", "3", "-i", "0.1", "-W", "1", "10.0.0.2"]);
    assert.equal(warm.code, 0, `c1 → c2 ping failed:\n${warm.stdout}`);
    // Each ping is one frame out of c1's TAP (the request, at h1) and one out of c2's (the reply,
    // at h2), 50 ms apart: every TAP read finds a lone frame. Draining each TAP until EAGAIN
    // would read twice per ping; no control request may run meanwhile (it reads its socket).
    const pings = 40;
    const before = [readCalls(v1.process.pid), readCalls(v2.process.pid)];
    const r = await lab.exec(c1, ["ping", "-c", String(pings), "-i", "0.05", "-W", "1", "10.0.0.2"]);
    const after = [readCalls(v1.process.pid), readCalls(v2.process.pid)];
    assert.equal(r.code, 0, `pings failed:\n${r.stdout}`);
    for (const [i, host] of ["h1", "h2"].entries()) {
      const perPing = (after[i] - before[i]) / pings;
      console.log(`${host}: ${perPing} reads per ping`);
      assert.ok(perPing >= 1, `${host}: ${perPing} reads per ping: each ping crosses its TAP once`);
      assert.ok(perPing < 1.5, `${host}: ${perPing} reads per ping, want 1 (+ the odd ARP refresh)`);
    }
  },
);
