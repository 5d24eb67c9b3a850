// cli/pcap/decap.ts's learnFdb(): the FDB a learning VTEP would hold after a capture (what the
// `weft ui` page shows), on the kernel's VNI 42 capture with its clock and senders edited; and
// analyseCapture(), the page's model (the page itself: tests/node/ui.test.mjs).

import assert from "node:assert/strict";
import { formatMac } from "../../cli/core/addr.ts";
import { loadCore } from "../../cli/core/load.ts";
import { learnFdb } from "../../cli/pcap/decap.ts";
import { type CapturePacket, readCapture } from "../../cli/pcap/mod.ts";
import { analyseCapture } from "../../cli/ui/analyse.ts";

const OUTER = new URL("../../../shared/fixtures/kernel-vxlan-vni42/outer.pcap", import.meta.url);
/** Outer Ethernet (14) + IPv4 (20) + UDP (8) + VXLAN (8): where the inner frame starts. */
const INNER = 50;
const IPV4_SRC = 14 + 12;
const OPTIONS = { ports: [4789], mtu: 1500 };

const packets = readCapture(await Deno.readFile(OUTER)).packets;
const innerSource = (p: CapturePacket) => formatMac(p.data.subarray(INNER + 6, INNER + 12));
const outerSource = (p: CapturePacket) => p.data.subarray(IPV4_SRC, IPV4_SRC + 4).join(".");

/** A copy of `p` `dt` seconds later. */
function later(p: CapturePacket, dt: number): CapturePacket {
  return { ...p, time: p.time + dt, seconds: p.seconds + dt };
}

Deno.test("learnFdb: an entry idle past the ageing time (300 s) is gone, one refreshed stays with age 0", async () => {
  const last = packets.at(-1)!;
  const fdb = await learnFdb([...packets, later(last, 400)], OPTIONS, loadCore);
  assert.deepEqual(fdb, [{ vni: 42, mac: innerSource(last), vtep: outerSource(last), age: 0 }]);
  // The same capture without the late packet keeps every sender, none older than the capture.
  const all = await learnFdb(packets, OPTIONS, loadCore);
  assert.equal(all.length, 4);
  const span = Math.floor(last.time - packets[0].time);
  for (const e of all) assert.ok(e.age >= 0 && e.age <= span, `${e.mac}: age ${e.age}`);
});

Deno.test("learnFdb: a MAC that later arrives from another VTEP moves there (vxlan_snoop)", async () => {
  const c1 = packets.find((p) => innerSource(p) === "02:42:0a:00:00:01")!;
  assert.equal(outerSource(c1), "198.18.0.1");
  const moved = later(c1, 5);
  moved.data = moved.data.slice();
  moved.data[IPV4_SRC + 3] = 3; // 198.18.0.3: checksums are not verified (cli/pcap/underlay.ts)
  const fdb = await learnFdb([...packets, moved], OPTIONS, loadCore);
  const entry = fdb.find((e) => e.mac === "02:42:0a:00:00:01");
  assert.deepEqual(entry, { vni: 42, mac: "02:42:0a:00:00:01", vtep: "198.18.0.3", age: 0 });
  assert.equal(fdb.find((e) => e.mac === "02:42:0a:00:00:02")?.vtep, "198.18.0.2", "others stay put");
});

Deno.test("learnFdb: datagrams to another port teach nothing; the same port teaches all four senders", async () => {
  assert.deepEqual(await learnFdb(packets, { ports: [8472], mtu: 1500 }, loadCore), []);
  const macs = (await learnFdb(packets, OPTIONS, loadCore)).map((e) => e.mac).sort();
  const unicast = new Set(
    packets.map(innerSource).filter((m) => (parseInt(m.slice(0, 2), 16) & 1) === 0),
  );
  assert.deepEqual(macs, [...unicast].sort());
});

Deno.test("analyseCapture (the page's model): maxRows describes the first rows only, the counts and the file stay whole", async () => {
  const bytes = await Deno.readFile(OUTER);
  const all = await analyseCapture(bytes, OPTIONS, loadCore);
  const capped = await analyseCapture(bytes, { ...OPTIONS, maxRows: 10 }, loadCore);
  assert.equal(all.frames.length, 63);
  assert.deepEqual(capped.frames, all.frames.slice(0, 10));
  assert.equal(capped.summary.written, 63);
  assert.deepEqual(capped.lines, ["vni 42: 63 decapsulated, 0 dropped"]);
  assert.deepEqual(capped.pcap, all.pcap);
  assert.deepEqual(capped.fdb, all.fdb);
});
