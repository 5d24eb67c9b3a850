// cli/pcap/pcap.ts: classic libpcap files in both byte orders and both time resolutions, written
// the way tcpdump writes them on x86, and clear errors for everything else.

import assert from "node:assert/strict";
import { LINKTYPE_ETHERNET, PcapError, PcapWriter, readPcap, recordHeader } from "../../cli/pcap/pcap.ts";

/** A capture built by hand: global header then records, in the given byte order and magic. */
function build(
  o: { magic: number; le: boolean; linkType?: number; snapLen?: number },
  records: { sec: number; frac: number; data: number[]; origLen?: number }[],
): Uint8Array {
  const size = 24 + records.reduce((n, r) => n + 16 + r.data.length, 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, o.magic, o.le);
  v.setUint16(4, 2, o.le);
  v.setUint16(6, 4, o.le);
  v.setUint32(16, o.snapLen ?? 65535, o.le);
  v.setUint32(20, o.linkType ?? 1, o.le);
  let off = 24;
  for (const r of records) {
    v.setUint32(off, r.sec, o.le);
    v.setUint32(off + 4, r.frac, o.le);
    v.setUint32(off + 8, r.data.length, o.le);
    v.setUint32(off + 12, r.origLen ?? r.data.length, o.le);
    out.set(r.data, off + 16);
    off += 16 + r.data.length;
  }
  return out;
}

const FRAME = Array.from({ length: 60 }, (_, i) => (i * 7) & 0xff);

Deno.test("PcapWriter output reads back: data, timestamps to the microsecond, original lengths", () => {
  const w = new PcapWriter();
  const frames = [new Uint8Array(FRAME), new Uint8Array([1, 2, 3]), new Uint8Array(1514).fill(0xa5)];
  const times = [1700000000.123456, 1700000000.5, 1700000001.999999];
  w.write(times[0], frames[0]);
  w.write(times[1], frames[1], 1500); // cut by a snap length
  w.write(times[2], frames[2]);
  const file = w.bytes();
  assert.equal(file.length, 24 + 3 * 16 + 60 + 3 + 1514);
  const pcap = readPcap(file);
  assert.equal(pcap.linkType, LINKTYPE_ETHERNET);
  assert.equal(pcap.snapLen, 262144);
  assert.equal(pcap.packets.length, 3);
  pcap.packets.forEach((p, i) => {
    assert.deepEqual(p.data, frames[i]);
    assert.ok(Math.abs(p.time - times[i]) < 1e-6, `time ${p.time} vs ${times[i]}`);
  });
  assert.deepEqual(pcap.packets.map((p) => p.origLen), [60, 1500, 1514]);
});

Deno.test("PcapWriter writes what tcpdump writes on x86: little-endian, microseconds, version 2.4", () => {
  const w = new PcapWriter(LINKTYPE_ETHERNET, 65535);
  w.write(1.25, new Uint8Array([9, 9]));
  const b = w.bytes();
  assert.deepEqual(Array.from(b.subarray(0, 8)), [0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]);
  const v = new DataView(b.buffer);
  assert.equal(v.getUint32(16, true), 65535);
  assert.equal(v.getUint32(20, true), 1);
  assert.equal(v.getUint32(24, true), 1);
  assert.equal(v.getUint32(28, true), 250000);
  assert.deepEqual(Array.from(b.subarray(40)), [9, 9]);
});

Deno.test("recordHeader never writes a microsecond field of 1000000", () => {
  const v = new DataView(recordHeader(5.9999999, 10).buffer);
  assert.equal(v.getUint32(0, true), 5);
  assert.ok(v.getUint32(4, true) <= 999999);
});

Deno.test("a big-endian capture (magic a1b2c3d4 as written on SPARC) reads the same", () => {
  const file = build({ magic: 0xa1b2c3d4, le: false, snapLen: 1600 }, [
    { sec: 1368908504, frac: 837063, data: FRAME },
    { sec: 1368908505, frac: 0, data: [1, 2, 3, 4], origLen: 98 },
  ]);
  assert.deepEqual(Array.from(file.subarray(0, 4)), [0xa1, 0xb2, 0xc3, 0xd4]);
  const pcap = readPcap(file);
  assert.equal(pcap.linkType, 1);
  assert.equal(pcap.snapLen, 1600);
  assert.deepEqual(pcap.packets[0].data, new Uint8Array(FRAME));
  assert.ok(Math.abs(pcap.packets[0].time - 1368908504.837063) < 1e-6);
  assert.deepEqual(pcap.packets[1].data, new Uint8Array([1, 2, 3, 4]));
  assert.equal(pcap.packets[1].origLen, 98);
});

for (const le of [true, false]) {
  Deno.test(`a nanosecond capture (magic a1b23c4d, ${le ? "little" : "big"}-endian) keeps the fraction`, () => {
    const pcap = readPcap(build({ magic: 0xa1b23c4d, le }, [{ sec: 100, frac: 123456789, data: FRAME }]));
    assert.equal(pcap.packets.length, 1);
    assert.ok(Math.abs(pcap.packets[0].time - 100.123456789) < 1e-9, `${pcap.packets[0].time}`);
    assert.deepEqual(pcap.packets[0].data, new Uint8Array(FRAME));
  });
}

Deno.test("the FCS-length bits above the link type are ignored (Ethernet with a 4-byte FCS)", () => {
  const pcap = readPcap(build({ magic: 0xa1b2c3d4, le: true, linkType: (4 << 28) | 1 }, []));
  assert.equal(pcap.linkType, 1);
  assert.equal(pcap.packets.length, 0);
});

Deno.test("a header-only capture has no packets; a shorter file is refused", () => {
  assert.equal(readPcap(build({ magic: 0xa1b2c3d4, le: true }, [])).packets.length, 0);
  assert.throws(
    () => readPcap(new Uint8Array(10)),
    (e: unknown) => e instanceof PcapError && /10 bytes is shorter than the 24-byte header/.test(e.message),
  );
});

Deno.test("a record header cut short names the record and the byte", () => {
  const whole = build({ magic: 0xa1b2c3d4, le: true }, [{ sec: 1, frac: 0, data: FRAME }]);
  assert.throws(
    () => readPcap(whole.subarray(0, 24 + 10)),
    (e: unknown) => e instanceof PcapError && /record 1 header cut at byte 24/.test(e.message),
  );
  const two = build({ magic: 0xa1b2c3d4, le: true }, [
    { sec: 1, frac: 0, data: FRAME },
    { sec: 2, frac: 0, data: FRAME },
  ]);
  assert.throws(
    () => readPcap(two.subarray(0, two.length - 60 - 4)),
    (e: unknown) => e instanceof PcapError && /record 2 header cut at byte 100/.test(e.message),
  );
});

Deno.test("record data cut short says how many bytes were needed and how many are left", () => {
  const whole = build({ magic: 0xa1b2c3d4, le: true }, [{ sec: 1, frac: 0, data: FRAME }]);
  assert.throws(
    () => readPcap(whole.subarray(0, whole.length - 10)),
    (e: unknown) => e instanceof PcapError && /record 1 needs 60 bytes, 50 left/.test(e.message),
  );
});

Deno.test("pcapng is recognised and the message says how to convert it", () => {
  // Section Header Block: type 0x0a0d0d0a, length, byte-order magic 0x1a2b3c4d.
  const shb = new Uint8Array(28);
  const v = new DataView(shb.buffer);
  v.setUint32(0, 0x0a0d0d0a, true);
  v.setUint32(4, 28, true);
  v.setUint32(8, 0x1a2b3c4d, true);
  assert.throws(
    () => readPcap(shb),
    (e: unknown) => e instanceof PcapError && /pcapng/.test(e.message) && /editcap -F pcap/.test(e.message),
  );
});

Deno.test("anything else is refused with its magic", () => {
  const text = new TextEncoder().encode("this is not a capture file at all\n");
  assert.throws(
    () => readPcap(text),
    (e: unknown) =>
      e instanceof PcapError && /not a classic pcap file: magic 0x74686973/.test(e.message) &&
      !/pcapng/.test(e.message),
  );
});
