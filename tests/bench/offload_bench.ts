// Kernel offloads measured between two namespaces (root): UDP GSO vs plain sendmmsg of 1400-byte
// datagrams into a plain or UDP_GRO socket (2 s each), and the cost of a TAP write with a
// virtio_net_hdr (two iovecs, in place, or copied in front). A measurement, not a test: the
// behaviour is asserted in tests/offload/kernel_offloads_test.ts.
//
//   deno run -A tests/bench/offload_bench.ts [--json FILE]

import { parseArgs } from "node:util";
import { Lab } from "../../cli/lab/mod.ts";
import { boundUdp, finished, peer, spawnPeer, underlay } from "../offload/peers.ts";
import { loadavg, runContext, writeReport } from "./report.ts";

const { values } = parseArgs({ args: Deno.args, options: { json: { type: "string" } } });
const context = runContext();
console.log(`load average at start: ${context.loadavgStart}`);
const lab = new Lab();
const udp: Record<string, unknown>[] = [], tap: Record<string, unknown>[] = [];
try {
  const { a, b, A, B } = await underlay(lab);
  for (const [gso, gro] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
    const port = 6000 + gso * 2 + gro;
    const recv = spawnPeer(lab, b, ["recv", `listen=${B}:${port}`, `gro=${gro}`, "ms=4000", "quiet=1"]);
    await boundUdp(b, port);
    const s = await peer(lab, a, [
      "bench",
      `from=${A}:${4100 + port}`,
      `to=${B}:${port}`,
      "size=1400",
      `gso=${gso}`,
      "ms=2000",
    ]);
    const r = await finished(recv);
    const row = {
      send: gso ? "gso" : "plain",
      recv: gro ? "gro" : "plain",
      sentMpps: s.pps / 1e6,
      sentGbps: s.gbps,
      sendmmsg: s.syscalls,
      receivedMpps: r.datagrams / s.secs / 1e6,
      receivedGbps: (r.datagrams * 1400 * 8) / s.secs / 1e9,
      receivedShare: r.datagrams / s.datagrams,
      recvmmsg: r.syscalls,
    };
    udp.push(row);
    console.log(
      `send ${row.send.padEnd(5)} → recv ${row.recv.padEnd(5)}: sent ${row.sentMpps.toFixed(2)} Mpps ` +
        `${row.sentGbps.toFixed(2)} Gbit/s in ${row.sendmmsg} sendmmsg; received ${
          row.receivedMpps.toFixed(2)
        } ` +
        `Mpps ${row.receivedGbps.toFixed(2)} Gbit/s (${
          (100 * row.receivedShare).toFixed(0)
        }%) in ${row.recvmmsg} recvmmsg`,
    );
  }
  for (const len of [1000, 60000]) {
    const w = await peer(lab, a, ["tapwrite", `tap=${lab.prefix}tw`, "n=50000", `len=${len}`]);
    const row = {
      len,
      writevUs: w.writev.nsPerWrite / 1000,
      inPlaceUs: w.inPlace.nsPerWrite / 1000,
      copyThenWriteUs: w.copyThenWrite.nsPerWrite / 1000,
    };
    tap.push(row);
    console.log(
      `TAP write ${len} B: writev(hdr, frame) ${row.writevUs.toFixed(2)} µs, write(hdr+frame in place) ` +
        `${row.inPlaceUs.toFixed(2)} µs, copy 10 B then write ${row.copyThenWriteUs.toFixed(2)} µs`,
    );
  }
} finally {
  await lab.close();
}
console.log(`load average at end: ${loadavg()}`);
if (values.json) writeReport(values.json, context, { udp, tap });
