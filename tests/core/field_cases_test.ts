// `weft pcap decap` on the captures users have (../shared/fixtures/field-cases/, each folder's
// expected.txt): tcpdump -i any (Linux cooked SLL/SLL2), pcapng in µs and ns, outer fragments
// over IPv4 and IPv6, VXLAN-GPE. Each answer is checked against the folder's reference capture
// or hex, not against numbers written here.

import assert from "node:assert/strict";
import { decapsulate, type DecapSummary } from "../../cli/commands/pcap.ts";
import { type CapturePacket, PcapWriter, readCapture, readPcap } from "../../cli/pcap/mod.ts";
import { weftPcap } from "../harness.ts";
import { hex } from "./frames.ts";

const CASES = new URL("../../../shared/fixtures/field-cases/", import.meta.url);

function read(path: string): CapturePacket[] {
  return readCapture(Deno.readFileSync(new URL(path, CASES))).packets;
}

interface Frame {
  packet: CapturePacket;
  frame: Uint8Array;
  origLen: number;
}

async function decap(
  packets: CapturePacket[],
  ports = [4789],
): Promise<{ frames: Frame[]; summary: DecapSummary }> {
  const frames: Frame[] = [];
  const summary = await decapsulate(packets, { ports, mtu: 1500 }, (packet, frame, origLen) => {
    frames.push({ packet, frame: frame.slice(), origLen });
  });
  return { frames, summary };
}

/** "vni 42: 1 decapsulated, 0 dropped" as the CLI prints it, for comparing with expected.txt. */
function line(summary: DecapSummary, vni: number): string {
  const s = summary.vnis.get(vni);
  assert.ok(s, `vni ${vni} in the summary`);
  let drops = 0;
  for (const n of s.dropped.values()) drops += n;
  return `vni ${vni}: ${s.decapsulated} decapsulated, ${drops} dropped`;
}

Deno.test("sll2-any: SLL (113), SLL2 (276) and Ethernet captures of one packet give the same inner frame", async () => {
  const expected = new TextDecoder().decode(Deno.readFileSync(new URL("sll2-any/inner-expected.hex", CASES)))
    .trim();
  const expectTxt = new TextDecoder().decode(Deno.readFileSync(new URL("sll2-any/expected.txt", CASES)));
  assert.match(expectTxt, /vni 42: 1 decapsulated/);
  for (
    const [file, linkType] of [["any-sll2.pcap", 276], ["any-sll.pcap", 113], [
      "reference-ethernet.pcap",
      1,
    ]] as const
  ) {
    const packets = read(`sll2-any/${file}`);
    assert.equal(packets[0].linkType, linkType, file);
    const { frames, summary } = await decap(packets);
    assert.equal(line(summary, 42), "vni 42: 1 decapsulated, 0 dropped", file);
    assert.equal(summary.other.size, 0, file);
    assert.equal(frames.length, 1, file);
    assert.equal(frames[0].frame.length, 98, file);
    assert.equal(hex(frames[0].frame), expected, file);
  }
});

Deno.test("pcapng: µs and ns captures decapsulate like the classic reference, timestamps exact", async () => {
  const reference = await decap(read("pcapng/reference.pcap"));
  assert.equal(reference.frames.length, 2);
  for (const file of ["capture-us.pcapng", "capture-ns.pcapng"]) {
    const capture = readCapture(Deno.readFileSync(new URL(`pcapng/${file}`, CASES)));
    assert.equal(capture.format, "pcapng");
    const { frames, summary } = await decap(capture.packets);
    assert.equal(line(summary, 42), "vni 42: 2 decapsulated, 0 dropped", file);
    assert.deepEqual(frames.map((f) => hex(f.frame)), reference.frames.map((f) => hex(f.frame)), file);
    assert.deepEqual(frames.map((f) => f.frame.length), [98, 98]);
    // expected.txt: 1700000000.250000 and 1700000000.500000, to the microsecond.
    assert.deepEqual(frames.map((f) => [f.packet.seconds, Math.floor(f.packet.nanos / 1000)]), [
      [1700000000, 250000],
      [1700000000, 500000],
    ]);
  }
  // The ns file carries ns below the µs (gen.py: +123 and +456 ns): kept, and written out.
  const ns = readCapture(Deno.readFileSync(new URL("pcapng/capture-ns.pcapng", CASES)));
  assert.equal(ns.nanos, true);
  const w = new PcapWriter(1, 262144, { nanos: ns.nanos });
  for (const p of ns.packets) w.writeAt(p.seconds, p.nanos, p.data, p.origLen);
  const back = readPcap(w.bytes());
  assert.equal(back.nanos, true);
  assert.deepEqual(back.packets.map((p) => p.nanos), ns.packets.map((p) => p.nanos));
  assert.ok(ns.packets.some((p) => p.nanos % 1000 !== 0), "the ns capture has sub-µs digits");
});

Deno.test("outer-fragments: IPv4 and IPv6 fragments reassemble to the unfragmented packet's inner frame", async () => {
  const reference = await decap(read("outer-fragments/reference-unfragmented.pcap"));
  assert.equal(reference.frames.length, 1);
  assert.equal(reference.frames[0].frame.length, 1514);
  for (const file of ["outer-ipv4-fragments.pcap", "outer-ipv6-fragments.pcap"]) {
    const packets = read(`outer-fragments/${file}`);
    assert.equal(packets.length, 2, file);
    const { frames, summary } = await decap(packets);
    assert.equal(line(summary, 42), "vni 42: 1 decapsulated, 0 dropped", file);
    assert.equal(summary.other.size, 0, file);
    assert.deepEqual(summary.reassembled, { datagrams: 1, fragments: 2 }, file);
    assert.equal(frames.length, 1, file);
    assert.equal(hex(frames[0].frame), hex(reference.frames[0].frame), file);
    // Stamped at the fragment that completed it, as Wireshark shows the reassembled packet.
    assert.equal(frames[0].packet, packets[1], file);
  }
});

Deno.test("outer-fragments: only one fragment, or overlapping ones, are counted and write nothing", async () => {
  const packets = read("outer-fragments/outer-ipv4-fragments.pcap");
  const first = await decap([packets[0]]);
  assert.equal(first.frames.length, 0);
  assert.deepEqual([...first.summary.other], [["outer_fragment_incomplete", 1]]);
  // The second fragment again, moved 8 bytes back into the first one's range.
  const moved = packets[1].data.slice();
  const word = ((moved[20] << 8) | moved[21]) - 1; // flags/offset at 14 + 6; offset in 8-byte units
  moved[20] = word >> 8;
  moved[21] = word & 0xff;
  const overlap = await decap([packets[0], { ...packets[1], data: moved }]);
  assert.equal(overlap.frames.length, 0);
  assert.deepEqual([...overlap.summary.other], [["outer_fragment_overlap", 2]]);
  const dup = await decap([packets[0], packets[0], packets[1]]);
  assert.equal(dup.frames.length, 1);
  assert.deepEqual([...dup.summary.other], [["outer_fragment_duplicate", 1]]);
});

Deno.test("outer-fragments: out of order they reassemble; 31 s apart (IPv4) or 61 s (IPv6) they time out", async () => {
  const reference = await decap(read("outer-fragments/reference-unfragmented.pcap"));
  for (
    const [file, timeout] of [["outer-ipv4-fragments.pcap", 30], ["outer-ipv6-fragments.pcap", 60]] as const
  ) {
    const [a, b] = read(`outer-fragments/${file}`);
    const reversed = await decap([b, a]);
    assert.equal(hex(reversed.frames[0].frame), hex(reference.frames[0].frame), file);
    const late = await decap([a, { ...b, time: a.time + timeout + 1 }]);
    assert.equal(late.frames.length, 0, file);
    assert.deepEqual([...late.summary.other], [["outer_fragment_incomplete", 2]], file);
    const inTime = await decap([a, { ...b, time: a.time + timeout - 1 }]);
    assert.equal(inTime.frames.length, 1, file);
  }
});

Deno.test("gpe: on 4790 the Ethernet payload decapsulates, the IPv4 and IPv6 ones are dropped, not written", async () => {
  const packets = read("gpe/gpe-4790.pcap");
  assert.equal(packets.length, 3);
  const { frames, summary } = await decap(packets, [4790]);
  assert.equal(line(summary, 42), "vni 42: 1 decapsulated, 2 dropped");
  assert.deepEqual([...summary.vnis.get(42)!.dropped], [["gpe_not_ethernet", 2]]);
  assert.equal(frames.length, 1);
  // The Ethernet one is the first packet (gen.py): its payload after the 8-byte GPE header.
  assert.equal(frames[0].packet, packets[0]);
  const outer = packets[0].data;
  assert.equal(hex(frames[0].frame), hex(outer.subarray(outer.length - frames[0].frame.length)));
  assert.equal(frames[0].frame.length, outer.length - 14 - 20 - 8 - 8);
  // On 4789 these are not VXLAN at all.
  const plain = await decap(packets, [4789]);
  assert.deepEqual([...plain.summary.other], [["not_vxlan", 3]]);
});

Deno.test("weft pcap decap on every field-case file of items 1-5: what expected.txt says", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-field-" });
  try {
    const run = async (...args: string[]) => {
      const r = await weftPcap("decap", ...args);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    const gpe = await run(
      "--port",
      "4789",
      "--port",
      "4790",
      new URL("gpe/gpe-4790.pcap", CASES).pathname,
      `${dir}/g.pcap`,
    );
    assert.match(gpe, /^vni 42: 1 decapsulated, 2 dropped \(gpe_not_ethernet 2\)$/m);
    assert.equal(readPcap(Deno.readFileSync(`${dir}/g.pcap`)).packets.length, 1);
    // The other folders' files, as a user runs them: each line as expected.txt says.
    for (
      const [file, answer, frames] of [
        ["sll2-any/any-sll2.pcap", "vni 42: 1 decapsulated, 0 dropped", 1],
        ["sll2-any/any-sll.pcap", "vni 42: 1 decapsulated, 0 dropped", 1],
        ["pcapng/capture-us.pcapng", "vni 42: 2 decapsulated, 0 dropped", 2],
        ["outer-fragments/outer-ipv4-fragments.pcap", "vni 42: 1 decapsulated, 0 dropped", 1],
        ["outer-fragments/outer-ipv6-fragments.pcap", "vni 42: 1 decapsulated, 0 dropped", 1],
      ] as const
    ) {
      const stdout = await run(new URL(file, CASES).pathname, `${dir}/f.pcap`);
      assert.match(stdout, new RegExp(`^${answer.replace(/[()]/g, "\\$&")}$`, "m"), file);
      assert.doesNotMatch(stdout, /not VXLAN/, file);
      assert.equal(readPcap(Deno.readFileSync(`${dir}/f.pcap`)).packets.length, frames, file);
    }
    const ns = await run(new URL("pcapng/capture-ns.pcapng", CASES).pathname, `${dir}/n.pcap`);
    assert.match(ns, /^vni 42: 2 decapsulated, 0 dropped$/m);
    const out = readPcap(Deno.readFileSync(`${dir}/n.pcap`));
    assert.equal(out.nanos, true);
    const input = read("pcapng/capture-ns.pcapng");
    assert.deepEqual(out.packets.map((p) => [p.seconds, p.nanos]), input.map((p) => [p.seconds, p.nanos]));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
