// cli/pcap: pcapng as tshark, editcap and mergecap write it (and big-endian, by hand, which they
// never write), and the outer headers real captures carry: VLAN stacks, IPv6 extension headers,
// raw-IP link types, records cut by the snap length. Hand-built captures are first checked with
// tshark as an independent decoder, so a builder bug cannot make a test pass.

import assert from "node:assert/strict";
import { decapsulate, type DecapSummary } from "../../cli/commands/pcap.ts";
import { type CapturePacket, PcapError, PcapWriter, readCapture, readPcap } from "../../cli/pcap/mod.ts";
import { LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2, LINKTYPE_RAW } from "../../cli/pcap/link.ts";
import { hex } from "./frames.ts";
import { hasTool, tsharkFields, withTemp } from "../harness.ts";

const FIXTURES = new URL("../../../shared/fixtures/", import.meta.url);
const KERNEL = new URL("kernel-vxlan-vni42/outer.pcap", FIXTURES).pathname;
const REFERENCE = new URL("field-cases/sll2-any/reference-ethernet.pcap", FIXTURES).pathname;
const INNER_HEX = new TextDecoder().decode(
  Deno.readFileSync(new URL("field-cases/sll2-any/inner-expected.hex", FIXTURES)),
).trim();
/** The reference packet: Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8 + the 98-byte inner frame. */
const REF = readPcap(Deno.readFileSync(REFERENCE)).packets[0].data;
const IP4 = REF.subarray(14);
const VXLAN = REF.subarray(14 + 20 + 8);

const NO_TSHARK = !hasTool("tshark");

/** Ethernet frames as the records of a capture, at time 0 and whole. */
function ethernetPackets(frames: Uint8Array[]): CapturePacket[] {
  return frames.map((data) => ({
    linkType: 1,
    interfaceId: 0,
    resolution: 1e6,
    seconds: 0,
    nanos: 0,
    time: 0,
    data,
    origLen: data.length,
  }));
}

async function run(cmd: string, ...args: string[]): Promise<string> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder();
  assert.ok(r.success, `${cmd} ${args.join(" ")}: ${text.decode(r.stderr)}`);
  return text.decode(r.stdout);
}

/** tshark's VNI of each packet (empty when it sees no VXLAN), the independent check of a builder. */
async function tsharkVnis(file: string, port = 4789): Promise<string[]> {
  const rows = await tsharkFields(file, ["vxlan.vni"], { args: ["-d", `udp.port==${port},vxlan`] });
  return rows.map(([vni]) => vni);
}

function write(path: string, linkType: number, records: Uint8Array[], origLen?: number[]): void {
  const w = new PcapWriter(linkType);
  records.forEach((r, i) => w.writeAt(1700000000, i * 1000, r, origLen?.[i] ?? r.length));
  Deno.writeFileSync(path, w.bytes());
}

async function decap(packets: CapturePacket[], mtu = 1500) {
  const frames: { frame: Uint8Array; origLen: number }[] = [];
  const summary: DecapSummary = await decapsulate(
    packets,
    { ports: [4789], mtu },
    (_p, frame, origLen) => {
      frames.push({ frame: frame.slice(), origLen });
    },
  );
  return { frames, summary };
}

// ── pcapng ───────────────────────────────────────────────────────────────────────────────────

Deno.test({
  name: "pcapng from editcap reads exactly as the classic pcap it was converted from",
  ignore: NO_TSHARK,
  fn: () =>
    withTemp(async (dir) => {
      await run("editcap", "-F", "pcapng", KERNEL, `${dir}/k.pcapng`);
      const ng = readCapture(Deno.readFileSync(`${dir}/k.pcapng`));
      const classic = readPcap(Deno.readFileSync(KERNEL));
      assert.equal(ng.format, "pcapng");
      assert.equal(ng.packets.length, classic.packets.length);
      ng.packets.forEach((p, i) => {
        const c = classic.packets[i];
        assert.equal(p.linkType, 1);
        assert.deepEqual([p.seconds, p.nanos, p.origLen, hex(p.data)], [
          c.seconds,
          c.nanos,
          c.origLen,
          hex(c.data),
        ]);
      });
    }),
});

Deno.test({
  name: "pcapng from editcap of a nanosecond pcap keeps if_tsresol 9: every nanosecond survives",
  ignore: NO_TSHARK,
  fn: () =>
    withTemp(async (dir) => {
      const w = new PcapWriter(1, 262144, { nanos: true });
      w.writeAt(1700000000, 123456789, REF);
      w.writeAt(1700000001, 1, REF);
      Deno.writeFileSync(`${dir}/ns.pcap`, w.bytes());
      await run("editcap", "-F", "pcapng", `${dir}/ns.pcap`, `${dir}/ns.pcapng`);
      const epochs = (await run("tshark", "-r", `${dir}/ns.pcapng`, "-T", "fields", "-e", "frame.time_epoch"))
        .trimEnd().split("\n");
      assert.deepEqual(epochs, ["1700000000.123456789", "1700000001.000000001"]);
      const ng = readCapture(Deno.readFileSync(`${dir}/ns.pcapng`));
      assert.equal(ng.nanos, true);
      assert.deepEqual(ng.packets.map((p) => [p.seconds, p.nanos, p.resolution]), [
        [1700000000, 123456789, 1e9],
        [1700000001, 1, 1e9],
      ]);
    }),
});

Deno.test({
  name: "pcapng from mergecap with an Ethernet and an SLL2 interface: each packet has its link type",
  ignore: NO_TSHARK,
  fn: () =>
    withTemp(async (dir) => {
      const sll2 = new URL("field-cases/sll2-any/any-sll2.pcap", FIXTURES).pathname;
      await run("mergecap", "-F", "pcapng", "-w", `${dir}/m.pcapng`, KERNEL, sll2);
      const ng = readCapture(Deno.readFileSync(`${dir}/m.pcapng`));
      assert.deepEqual(ng.linkTypes, [1, LINKTYPE_LINUX_SLL2]);
      const kernel = readPcap(Deno.readFileSync(KERNEL)).packets;
      const byType = (t: number) => ng.packets.filter((p) => p.linkType === t).length;
      assert.equal(byType(1), kernel.length);
      assert.equal(byType(LINKTYPE_LINUX_SLL2), 1);
      const { frames, summary } = await decap(ng.packets);
      const alone = await decap(readCapture(Deno.readFileSync(KERNEL)).packets);
      assert.equal(frames.length, alone.frames.length + 1);
      assert.equal(summary.vnis.get(42)!.decapsulated, alone.summary.vnis.get(42)!.decapsulated + 1);
      assert.ok(frames.some((f) => hex(f.frame) === INNER_HEX));
    }),
});

/** A pcapng block: type, length, body padded to 4, length again. */
function block(le: boolean, type: number, body: Uint8Array): Uint8Array {
  const padded = (body.length + 3) & ~3;
  const out = new Uint8Array(12 + padded);
  const v = new DataView(out.buffer);
  v.setUint32(0, type, le);
  v.setUint32(4, out.length, le);
  out.set(body, 8);
  v.setUint32(out.length - 4, out.length, le);
  return out;
}

function bytes(
  le: boolean,
  fields: [number, 1 | 2 | 4 | 8][],
  tail: Uint8Array = new Uint8Array(),
): Uint8Array {
  const size = fields.reduce((n, [, w]) => n + w, 0);
  const out = new Uint8Array(size + tail.length);
  const v = new DataView(out.buffer);
  let off = 0;
  for (const [x, w] of fields) {
    if (w === 1) v.setUint8(off, x);
    else if (w === 2) v.setUint16(off, x, le);
    else if (w === 4) v.setUint32(off, x, le);
    else v.setBigUint64(off, BigInt(x), le);
    off += w;
  }
  out.set(tail, size);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** A section: SHB, IDBs ([link type, if_tsresol byte or undefined, if_tsoffset]), then blocks. */
function section(le: boolean, idbs: [number, number?, number?][], blocks: Uint8Array[]): Uint8Array {
  const shb = block(le, 0x0a0d0d0a, bytes(le, [[0x1a2b3c4d, 4], [1, 2], [0, 2], [0, 4], [0xffffffff, 4]]));
  const idb = idbs.map(([linkType, tsresol, tsoffset]) => {
    const opts: Uint8Array[] = [];
    if (tsresol !== undefined) opts.push(bytes(le, [[9, 2], [1, 2], [tsresol, 1], [0, 1], [0, 2]]));
    if (tsoffset !== undefined) opts.push(bytes(le, [[14, 2], [8, 2], [tsoffset, 8]]));
    if (opts.length) opts.push(bytes(le, [[0, 2], [0, 2]]));
    return block(le, 1, concat(bytes(le, [[linkType, 2], [0, 2], [0, 4]]), ...opts));
  });
  return concat(shb, ...idb, ...blocks);
}

function epb(le: boolean, id: number, ticks: bigint, data: Uint8Array, origLen = data.length): Uint8Array {
  return block(
    le,
    6,
    bytes(le, [[id, 4], [Number(ticks >> 32n), 4], [Number(ticks & 0xffffffffn), 4], [data.length, 4], [
      origLen,
      4,
    ]], data),
  );
}

Deno.test("pcapng by hand: big-endian and little-endian sections, 2^-n and 10^-n resolutions, SPB, unknown blocks skipped", () => {
  const be = false, le = true;
  const file = concat(
    section(be, [[1, 0x94, 100], [LINKTYPE_RAW]], [
      block(be, 0x0bad, new Uint8Array([1, 2, 3])), // unknown: skipped by its length
      epb(be, 0, (1700000000n << 20n) + (1n << 19n), REF), // 2^-20 s ticks: .5 s, + if_tsoffset 100 s
      block(be, 4, new Uint8Array(8)), // name resolution block: skipped
      epb(be, 1, 1700000000_000001n, IP4), // default resolution: µs
    ]),
    section(le, [[LINKTYPE_IPV4, 9]], [
      block(le, 3, bytes(le, [[IP4.length, 4]], IP4)), // simple packet: interface 0, no time
      epb(le, 0, 1700000000_000000123n, IP4.subarray(0, 60), IP4.length), // ns, cut to 60 bytes
      block(le, 5, new Uint8Array(20)), // interface statistics: skipped
    ]),
  );
  const c = readCapture(file);
  assert.deepEqual(c.linkTypes, [1, LINKTYPE_RAW, LINKTYPE_IPV4]);
  assert.equal(c.nanos, true);
  assert.deepEqual(
    c.packets.map((p) => [p.linkType, p.interfaceId, p.seconds, p.nanos, p.data.length, p.origLen]),
    [
      [1, 0, 1700000100, 500000000, REF.length, REF.length],
      [LINKTYPE_RAW, 1, 1700000000, 1000, IP4.length, IP4.length],
      [LINKTYPE_IPV4, 0, 0, 0, IP4.length, IP4.length],
      [LINKTYPE_IPV4, 0, 1700000000, 123, 60, IP4.length],
    ],
  );
  assert.equal(hex(c.packets[2].data), hex(IP4));
});

Deno.test("pcapng with an interface weft cannot read: its packets are counted, the others decapsulate", async () => {
  const le = true;
  const file = section(le, [[147], [1]], [epb(le, 0, 0n, REF), epb(le, 1, 0n, REF), epb(le, 0, 0n, REF)]);
  const { frames, summary } = await decap(readCapture(file).packets);
  assert.deepEqual(frames.map((f) => hex(f.frame)), [INNER_HEX]);
  assert.deepEqual([...summary.other], [["unsupported_link_type", 2]]);
});

Deno.test("pcapng errors name the block: cut, bad length, trailing length, unknown interface", () => {
  const le = true;
  const good = section(le, [[1]], [epb(le, 0, 0n, REF)]);
  const cases: [Uint8Array, RegExp][] = [
    [good.subarray(0, good.length - 8), /Truncated pcapng file: block 3 at byte \d+ needs/],
    [section(le, [[1]], [epb(le, 3, 0n, REF)]), /block 3 .* names interface 3, not described/],
    [concat(good, bytes(le, [[6, 4], [13, 4]])), /has length 13/],
  ];
  const bad = good.slice();
  new DataView(bad.buffer).setUint32(bad.length - 4, 8, true);
  cases.push([bad, /trailing length differs/]);
  const badBom = good.slice();
  new DataView(badBom.buffer).setUint32(8, 0x01020304, true);
  cases.push([badBom, /byte-order magic 0x01020304/]);
  for (const [input, message] of cases) {
    assert.throws(
      () => readCapture(input),
      (e: unknown) => e instanceof PcapError && message.test(e.message),
    );
  }
});

// ── outer headers ────────────────────────────────────────────────────────────────────────────

/** The reference packet with `tags` ([TPID, VID]) inserted after its MACs. */
function tagged(tags: [number, number][]): Uint8Array {
  const t = new Uint8Array(tags.length * 4);
  tags.forEach(([tpid, vid], i) => t.set([tpid >> 8, tpid & 0xff, vid >> 8, vid & 0xff], i * 4));
  return concat(REF.subarray(0, 12), t, REF.subarray(12));
}

/** The reference's VXLAN datagram over IPv6, after `ext` extension headers ([type, length in 8s]). */
function overIpv6(ext: [number, number][], linkType = 1): Uint8Array {
  const udp = concat(bytes(false, [[49152, 2], [4789, 2], [8 + VXLAN.length, 2], [0, 2]]), VXLAN);
  const headers: Uint8Array[] = [];
  ext.forEach(([, units], i) => {
    const h = new Uint8Array((units + 1) * 8);
    h[0] = i + 1 < ext.length ? ext[i + 1][0] : 17;
    h[1] = units;
    // Options headers: one PadN option filling the rest. Routing: a segment routing header
    // (type 4, RFC 8754) with segments left 0 and `units / 2` segments, all ::.
    if (ext[i][0] !== 43) h.set([1, (units + 1) * 8 - 4], 2);
    else h.set([4, 0, units / 2 - 1], 2);
    headers.push(h);
  });
  const payload = concat(...headers, udp);
  const ip6 = new Uint8Array(40);
  const v = new DataView(ip6.buffer);
  v.setUint32(0, 0x60000000);
  v.setUint16(4, payload.length);
  ip6[6] = ext.length ? ext[0][0] : 17;
  ip6[7] = 64;
  ip6.set([0x20, 0x01, 0x0d, 0xb8], 8);
  ip6[23] = 1;
  ip6.set([0x20, 0x01, 0x0d, 0xb8], 24);
  ip6[39] = 2;
  const ip = concat(ip6, payload);
  return linkType === 1 ? concat(REF.subarray(0, 12), new Uint8Array([0x86, 0xdd]), ip) : ip;
}

Deno.test({
  name:
    "outer VLAN stacks (802.1ad + 802.1Q, three tags, legacy 0x9100) and IPv6 extension headers decapsulate",
  ignore: NO_TSHARK,
  fn: () =>
    withTemp(async (dir) => {
      const records = [
        tagged([[0x88a8, 100], [0x8100, 200]]),
        tagged([[0x88a8, 1], [0x8100, 2], [0x8100, 3]]),
        tagged([[0x9100, 7], [0x8100, 8]]),
        overIpv6([[0, 0], [60, 1], [43, 2], [60, 0]]), // hop-by-hop, dest opts, routing, dest opts
        overIpv6([]),
      ];
      write(`${dir}/outer.pcap`, 1, records);
      assert.deepEqual(await tsharkVnis(`${dir}/outer.pcap`), records.map(() => "42"));
      const { frames, summary } = await decap(readCapture(Deno.readFileSync(`${dir}/outer.pcap`)).packets);
      assert.equal(summary.vnis.get(42)!.decapsulated, records.length);
      assert.deepEqual(frames.map((f) => hex(f.frame)), records.map(() => INNER_HEX));
    }),
});

/** IPv6 fragments of the reference's UDP datagram, each after a hop-by-hop header (unfragmentable). */
function ipv6Fragments(cut: number, secondNext: number): Uint8Array[] {
  const udp = concat(bytes(false, [[49152, 2], [4789, 2], [8 + VXLAN.length, 2], [0, 2]]), VXLAN);
  const parts: [number, Uint8Array, boolean, number][] = [
    [0, udp.subarray(0, cut), true, 17],
    [cut, udp.subarray(cut), false, secondNext],
  ];
  return parts.map(([offset, data, more, next]) => {
    const hbh = new Uint8Array([44, 0, 1, 4, 0, 0, 0, 0]); // next: fragment; PadN
    const frag = bytes(false, [[next, 1], [0, 1], [offset | (more ? 1 : 0), 2], [0xabcd, 4]]);
    const payload = concat(hbh, frag, data);
    const ip6 = overIpv6([]).slice(0, 14 + 40);
    new DataView(ip6.buffer).setUint16(14 + 4, payload.length);
    ip6[14 + 6] = 0;
    return concat(ip6, payload);
  });
}

Deno.test({
  name: "IPv6 fragments after a hop-by-hop header reassemble; the first fragment's next header counts",
  ignore: NO_TSHARK,
  fn: () =>
    withTemp(async (dir) => {
      const records = ipv6Fragments(56, 17);
      write(`${dir}/v6frag.pcap`, 1, records);
      assert.deepEqual(await tsharkVnis(`${dir}/v6frag.pcap`), ["", "42"]);
      const { frames, summary } = await decap(readCapture(Deno.readFileSync(`${dir}/v6frag.pcap`)).packets);
      assert.deepEqual(summary.reassembled, { datagrams: 1, fragments: 2 });
      assert.deepEqual(frames.map((f) => hex(f.frame)), [INNER_HEX]);
      // RFC 8200 §4.5: a later fragment's next header may differ and is ignored; the kernel
      // takes the first fragment's (ip6_frag_reasm). Wireshark 4.0 takes the last one's, so this
      // case is checked against the RFC only.
      const other = ethernetPackets(ipv6Fragments(56, 59));
      assert.deepEqual((await decap(other)).frames.map((f) => hex(f.frame)), [INNER_HEX]);
      assert.deepEqual((await decap([other[1], other[0]])).frames.map((f) => hex(f.frame)), [INNER_HEX]);
      // A non-final fragment whose length is not a multiple of 8 is malformed.
      const odd = await decap(ethernetPackets(ipv6Fragments(52, 17)));
      assert.equal(odd.frames.length, 0);
      assert.equal(odd.summary.other.get("underlay_malformed"), 1);
    }),
});

Deno.test("a hop-by-hop header anywhere but first is malformed (RFC 8200 §4.1), as the kernel drops it", async () => {
  const { frames, summary } = await decap(ethernetPackets([overIpv6([[60, 0], [0, 0]])]));
  assert.equal(frames.length, 0);
  assert.deepEqual([...summary.other], [["underlay_malformed", 1]]);
});

Deno.test({
  name: "raw IP link types (101, 228, 229) give the same inner frame",
  ignore: NO_TSHARK,
  fn: () =>
    withTemp(async (dir) => {
      const files: [number, Uint8Array[]][] = [
        [LINKTYPE_RAW, [IP4, overIpv6([], LINKTYPE_RAW)]],
        [LINKTYPE_IPV4, [IP4]],
        [LINKTYPE_IPV6, [overIpv6([[60, 0]], LINKTYPE_IPV6)]],
      ];
      for (const [linkType, records] of files) {
        const path = `${dir}/${linkType}.pcap`;
        write(path, linkType, records);
        assert.deepEqual(await tsharkVnis(path), records.map(() => "42"), `tshark on link type ${linkType}`);
        const { frames } = await decap(readCapture(Deno.readFileSync(path)).packets);
        assert.deepEqual(
          frames.map((f) => hex(f.frame)),
          records.map(() => INNER_HEX),
          `link type ${linkType}`,
        );
      }
    }),
});

Deno.test({
  name: "editcap -s cuts records: the inner frame is written cut with its original length, or counted",
  ignore: NO_TSHARK,
  fn: () =>
    withTemp(async (dir) => {
      await run("editcap", "-s", "120", REFERENCE, `${dir}/s120.pcap`);
      const cut = readCapture(Deno.readFileSync(`${dir}/s120.pcap`)).packets;
      assert.deepEqual([cut[0].data.length, cut[0].origLen], [120, REF.length]);
      const { frames, summary } = await decap(cut);
      assert.equal(summary.cut, 1);
      assert.equal(frames.length, 1);
      assert.equal(frames[0].origLen, 98);
      assert.equal(frames[0].frame.length, 120 - 50);
      assert.equal(hex(frames[0].frame), INNER_HEX.slice(0, 2 * 70));
      // A cut 1514-byte frame is still over an MTU of 1400 by its length on the wire.
      const big = new URL("field-cases/outer-fragments/reference-unfragmented.pcap", FIXTURES).pathname;
      await run("editcap", "-s", "200", big, `${dir}/big.pcap`);
      const bigCut = readCapture(Deno.readFileSync(`${dir}/big.pcap`)).packets;
      const fits = await decap(bigCut);
      assert.deepEqual(fits.frames.map((f) => [f.frame.length, f.origLen]), [[200 - 50, 1514]]);
      const over = await decap(bigCut, 1400);
      assert.equal(over.frames.length, 0);
      assert.deepEqual([...over.summary.vnis.get(42)!.dropped], [["over_mtu", 1]]);
      // Cut inside the outer headers, or before a whole inner Ethernet header: not a frame.
      for (const snap of [40, 60]) {
        await run("editcap", "-s", String(snap), REFERENCE, `${dir}/s${snap}.pcap`);
        const r = await decap(readCapture(Deno.readFileSync(`${dir}/s${snap}.pcap`)).packets);
        assert.equal(r.frames.length, 0, `snap ${snap}`);
        assert.deepEqual([...r.summary.other], [["cut_by_snaplen", 1]], `snap ${snap}`);
      }
    }),
});

Deno.test({
  name: "decapsulating the ns pcapng writes a nanosecond pcap that tshark reads to the nanosecond",
  ignore: NO_TSHARK,
  fn: () =>
    withTemp(async (dir) => {
      const capture = readCapture(
        Deno.readFileSync(new URL("field-cases/pcapng/capture-ns.pcapng", FIXTURES)),
      );
      const w = new PcapWriter(1, 262144, { nanos: capture.nanos });
      await decapsulate(capture.packets, { ports: [4789], mtu: 1500 }, (p, frame, origLen) => {
        w.writeAt(p.seconds, p.nanos, frame, origLen);
      });
      Deno.writeFileSync(`${dir}/out.pcap`, w.bytes());
      const input = await run(
        "tshark",
        "-r",
        new URL("field-cases/pcapng/capture-ns.pcapng", FIXTURES).pathname,
        "-T",
        "fields",
        "-e",
        "frame.time_epoch",
      );
      const output = await run("tshark", "-r", `${dir}/out.pcap`, "-T", "fields", "-e", "frame.time_epoch");
      assert.equal(output, input);
      assert.match(output, /^1700000000\.25000\d{4}$/m);
      assert.doesNotMatch(output, /\.\d{6}000$/m); // not rounded to the microsecond
    }),
});
