// Properties of the capture readers and the outer-header path under arbitrary input (fast-check):
// readCapture() either returns packets that lie inside the file or throws a PcapError, never
// anything else; the underlay reader never throws, accounts for every record exactly once, and
// never holds more fragment bytes than its bound, however the fragments are cut, repeated,
// overlapped or left open; decapsulation of any of it never traps the core.

import assert from "node:assert/strict";
import fc from "fast-check";
import { decapsulate } from "../../cli/commands/pcap.ts";
import {
  type CapturePacket,
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_RAW,
  PcapError,
  PcapWriter,
  readCapture,
  readPcap,
  Reassembler,
  UnderlayReader,
} from "../../cli/pcap/mod.ts";

const SEED = Number(Deno.env.get("WEFT_FC_SEED") ?? Date.now() % 2 ** 31);
const CASES = new URL("../../../shared/fixtures/field-cases/", import.meta.url);
const real = [
  "sll2-any/any-sll2.pcap",
  "sll2-any/any-sll.pcap",
  "pcapng/capture-ns.pcapng",
  "pcapng/capture-us.pcapng",
  "outer-fragments/outer-ipv4-fragments.pcap",
  "outer-fragments/outer-ipv6-fragments.pcap",
  "gpe/gpe-4790.pcap",
].map((f) => Deno.readFileSync(new URL(f, CASES)));
const records = real.flatMap((f) => readCapture(f).packets);
const LINK_TYPES = [
  LINKTYPE_ETHERNET,
  LINKTYPE_RAW,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  0,
  147,
];

/** Real files, flipped at random places, cut, or random bytes behind a real magic. */
const fileArb = fc.oneof(
  fc.tuple(
    fc.constantFrom(...real),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
  )
    .map(([f, flips]) => {
      const out = f.slice();
      for (const [at, v] of flips) out[at % out.length] = v;
      return out;
    }),
  fc.tuple(fc.constantFrom(...real), fc.nat()).map(([f, n]) => f.subarray(0, n % (f.length + 1))),
  fc.tuple(fc.constantFrom(...real), fc.uint8Array({ maxLength: 400 })).map(([f, tail]) => {
    const out = new Uint8Array(Math.min(f.length, 36) + tail.length);
    out.set(f.subarray(0, 36));
    out.set(tail, Math.min(f.length, 36));
    return out;
  }),
  fc.uint8Array({ maxLength: 300 }),
);

Deno.test("readCapture: any bytes give packets inside the file or a PcapError, nothing else", () => {
  fc.assert(
    fc.property(fileArb, (file) => {
      let c;
      try {
        c = readCapture(file);
      } catch (e) {
        assert.ok(e instanceof PcapError, `threw ${e}`);
        return;
      }
      for (const p of c.packets) {
        assert.equal(p.data.buffer, file.buffer);
        assert.ok(p.data.byteOffset >= file.byteOffset);
        assert.ok(p.data.byteOffset + p.data.length <= file.byteOffset + file.length);
        assert.ok(Number.isInteger(p.nanos) && p.nanos >= 0 && p.nanos < 1e9, `nanos ${p.nanos}`);
      }
    }),
    { numRuns: 2000, seed: SEED },
  );
});

/** Records: real ones (any link type), mutated, cut by a "snap length", or random. */
const recordArb = fc.oneof(
  fc.tuple(
    fc.constantFrom(...records),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    fc.nat(),
    fc.boolean(),
    fc.constantFrom(...LINK_TYPES),
    fc.boolean(),
  ).map(([r, flips, cut, doCut, linkType, keepType]) => {
    const data = r.data.slice();
    for (const [at, v] of flips) data[at % data.length] = v;
    const len = doCut ? cut % (data.length + 1) : data.length;
    return {
      linkType: keepType ? r.linkType : linkType,
      data: data.subarray(0, len),
      origLen: r.origLen,
      time: 0,
    };
  }),
  fc.tuple(fc.constantFrom(...LINK_TYPES), fc.uint8Array({ maxLength: 200 }), fc.nat({ max: 400 })).map(
    ([linkType, data, extra]) => ({
      linkType,
      data,
      origLen: data.length + (extra > 300 ? extra : 0),
      time: 0,
    }),
  ),
);

Deno.test("UnderlayReader: any records, any order, never throw and each is accounted for once", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(recordArb, fc.integer({ min: 0, max: 100 })), { maxLength: 40 }),
      (input) => {
        const reader = new UnderlayReader(new Set([4789, 4790]), 64 * 1024);
        let accounted = 0;
        let time = 0;
        const count = (rs: ReturnType<UnderlayReader["read"]>) => {
          for (const r of rs) {
            if (r.kind === "dropped") accounted += r.count;
            if (r.kind === "datagram") {
              accounted += r.datagram.fragments;
              assert.ok(r.datagram.payload.length <= r.datagram.wireLen);
              assert.equal(r.datagram.peer.length, 16);
            }
          }
        };
        for (const [rec, dt] of input) {
          time += dt;
          count(reader.read({ ...rec, time }));
          assert.ok(reader.heldBytes <= 64 * 1024);
        }
        count(reader.finish());
        assert.equal(reader.heldBytes, 0);
        assert.equal(accounted, input.length);
      },
    ),
    { numRuns: 1000, seed: SEED },
  );
});

Deno.test("Reassembler: random fragments stay within the memory bound, and complete datagrams are exact", () => {
  const maxBytes = 8 * 1024;
  const fragArb = fc.record({
    key: fc.constantFrom("a", "b", "c"),
    // Mostly small offsets and 8-byte multiples, so datagrams do complete; some far and odd.
    offset: fc.oneof(fc.integer({ min: 0, max: 512 }), fc.integer({ min: 0, max: 70000 })).map((n) => n & ~7),
    length: fc.oneof(fc.integer({ min: 0, max: 64 }).map((n) => n * 8), fc.integer({ min: 0, max: 3000 })),
    more: fc.boolean(),
    dt: fc.integer({ min: 0, max: 20 }),
  });
  let completed = 0;
  fc.assert(
    fc.property(fc.array(fragArb, { maxLength: 60 }), (frags) => {
      let dropped = 0;
      const r = new Reassembler((_reason, n) => (dropped += n), maxBytes);
      let accounted = 0;
      let now = 0;
      for (const f of frags) {
        now += f.dt;
        // The data says where it belongs: byte i of the payload is (i & 0xff).
        const data = Uint8Array.from({ length: f.length }, (_, i) => (f.offset + i) & 0xff);
        const res = r.add({ key: f.key, now, timeout: 30, offset: f.offset, more: f.more, data });
        if (res.kind === "dropped") accounted += res.fragments;
        if (res.kind === "complete") {
          completed++;
          accounted += res.fragments;
          assert.ok(res.payload.length <= 65535);
          res.payload.forEach((b, i) => assert.equal(b, i & 0xff, `byte ${i}`));
        }
        assert.ok(r.bytes <= maxBytes, `${r.bytes} bytes held`);
      }
      r.finish();
      assert.equal(r.bytes, 0);
      assert.equal(r.pending, 0);
      assert.equal(accounted + dropped, frags.length);
    }),
    { numRuns: 2000, seed: SEED },
  );
  assert.ok(completed > 0, "some random datagrams completed");
});

Deno.test("decapsulate: captures of arbitrary records never trap the core and write only whole-header frames", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(recordArb, { minLength: 1, maxLength: 20 }), async (input) => {
      const packets: CapturePacket[] = input.map((r) => ({
        ...r,
        interfaceId: 0,
        resolution: 1e6,
        seconds: 0,
        nanos: 0,
      }));
      const w = new PcapWriter();
      const s = await decapsulate(packets, { ports: [4789, 4790], mtu: 1500 }, (p, frame, origLen) => {
        assert.ok(frame.length >= 14 && origLen >= frame.length);
        w.writeAt(p.seconds, p.nanos, frame, origLen);
      });
      assert.equal(readPcap(w.bytes()).packets.length, s.written);
    }),
    { numRuns: 150, seed: SEED },
  );
});
