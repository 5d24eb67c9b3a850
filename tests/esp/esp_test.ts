// cli/esp/: ESP (RFC 4303) in UDP (RFC 3948) over VXLAN with AES-GCM (RFC 4106) and extended
// sequence numbers (RFC 4304). Datagrams are sealed in place in one buffer with headroom, as in
// the core's frame slots; tshark, given the SA in its esp_sa table, must decrypt them to the very
// VXLAN frames that went in.
import assert from "node:assert/strict";
import {
  ESP_HEADROOM,
  ESP_PORT,
  ESP_TAILROOM,
  espCounters,
  EspInbound,
  EspOutbound,
  NEXT_UDP,
} from "../../cli/esp/esp.ts";
import { espSaLines, InboundSad } from "../../cli/esp/sad.ts";
import { LINKTYPE_ETHERNET, PcapWriter } from "../../cli/pcap/pcap.ts";
import { addressOf } from "../../cli/sys/libc.ts";
import { run } from "../netns.ts";

const KEYMAT = Uint8Array.from({ length: 20 }, (_, i) => 0x40 + i);
const SPI = 0x1234abcd;
const VXLAN_PORT = 4789;
const TWO32 = 0x1_0000_0000;

/** A buffer with its address; the datagram goes at `at` (headroom before it). */
function arena(size = 4096) {
  const bytes = new Uint8Array(size);
  return { bytes, mem: new DataView(bytes.buffer), ptr: BigInt(addressOf(bytes)) };
}

/** VXLAN (VNI `vni`) + Ethernet + IPv4 + ICMP echo request whose payload is `pattern` repeated. */
function vxlanPing(vni: number, seq: number, pattern: number, payload = 56): Uint8Array {
  const f = new Uint8Array(8 + 14 + 20 + 8 + payload);
  const v = new DataView(f.buffer);
  f[0] = 0x08;
  v.setUint32(4, vni << 8);
  f.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00], 8);
  const ip = 22;
  f.set([0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], ip);
  v.setUint16(ip + 2, 20 + 8 + payload);
  v.setUint16(ip + 10, checksum(f.subarray(ip, ip + 20)));
  const icmp = ip + 20;
  f[icmp] = 8;
  v.setUint16(icmp + 4, 0x77);
  v.setUint16(icmp + 6, seq);
  f.fill(pattern, icmp + 8);
  v.setUint16(icmp + 2, checksum(f.subarray(icmp)));
  return f;
}

function checksum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i] << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Seals `dgram` placed at offset 256 of a fresh arena; returns the ESP datagram's bytes. */
function sealOne(out: EspOutbound, dgram: Uint8Array, srcPort = 49152): Uint8Array {
  const a = arena();
  a.bytes.set(dgram, 256);
  const n = out.seal(a.mem, a.ptr, 256, dgram.length, srcPort, VXLAN_PORT);
  assert.ok(n > 0, "seal failed");
  return a.bytes.slice(256 - ESP_HEADROOM, 256 - ESP_HEADROOM + n);
}

/** Opens an ESP datagram through `sad`; returns the VXLAN datagram or the drop reason. */
function openOne(sad: InboundSad, esp: Uint8Array): Uint8Array | string {
  const a = arena();
  a.bytes.set(esp, 128);
  const why = sad.open(a.mem, a.ptr, 128, esp.length);
  if (why) return why;
  return a.bytes.slice(sad.sa!.vxlanOff, sad.sa!.vxlanOff + sad.sa!.vxlanLen);
}

function pair(startSeq = 1) {
  const counters = espCounters();
  const out = new EspOutbound(SPI, KEYMAT, counters);
  out.seq = startSeq;
  const sad = new InboundSad();
  const inb = new EspInbound(SPI, KEYMAT, espCounters());
  sad.add(inb);
  return { out, sad, inb, counters, free: () => (out.free(), sad.clear()) };
}

Deno.test("esp: seal/open round trip for every padding length; framing as RFC 4303 lays it out", () => {
  const { out, sad, inb, free } = pair();
  try {
    for (let extra = 0; extra < 8; extra++) {
      const dgram = vxlanPing(42, extra, 0xa5, 56 + extra);
      const esp = sealOne(out, dgram, 50000 + extra);
      const v = new DataView(esp.buffer);
      assert.equal(v.getUint32(0), SPI);
      assert.equal(v.getUint32(4), extra + 1, "sequence numbers start at 1");
      assert.equal(v.getUint32(8), 0, "IV: high half of the sequence number");
      assert.equal(v.getUint32(12), extra + 1, "IV: low half");
      // header + IV + (UDP + VXLAN datagram + padding + 2) + ICV, the middle a multiple of 4
      const middle = esp.length - 16 - 16;
      assert.equal(middle % 4, 0);
      assert.ok(middle - (8 + dgram.length + 2) <= 3);
      assert.equal(
        Array.from(esp).join().includes(Array(16).fill(0xa5).join()),
        false,
        "no cleartext pattern left",
      );
      const back = openOne(sad, esp);
      assert.deepEqual(back, dgram);
      assert.equal(inb.srcPort, 50000 + extra);
      assert.equal(inb.dstPort, VXLAN_PORT);
    }
    assert.equal(inb.counters.decrypted, 8);
  } finally {
    free();
  }
});

Deno.test("esp: seal stays within ESP_HEADROOM before and ESP_TAILROOM after the datagram", () => {
  const { out, free } = pair();
  try {
    for (let len = 22; len < 30; len++) {
      const a = arena();
      a.bytes.fill(0xee);
      a.bytes.fill(0, 256, 256 + len);
      const n = out.seal(a.mem, a.ptr, 256, len, 1, VXLAN_PORT);
      assert.ok(n <= ESP_HEADROOM + len + ESP_TAILROOM);
      assert.ok(a.bytes.subarray(0, 256 - ESP_HEADROOM).every((b) => b === 0xee));
      assert.ok(a.bytes.subarray(256 - ESP_HEADROOM + n).every((b) => b === 0xee));
    }
  } finally {
    free();
  }
});

Deno.test("esp: a replayed datagram is dropped and counted; reordering inside the window is not", () => {
  const { out, sad, inb, free } = pair();
  try {
    const sealed = Array.from({ length: 10 }, (_, i) => sealOne(out, vxlanPing(42, i, 1)));
    assert.ok(openOne(sad, sealed[0]) instanceof Uint8Array);
    assert.equal(openOne(sad, sealed[0]), "replayed");
    for (const i of [5, 3, 9, 1, 2]) assert.ok(openOne(sad, sealed[i]) instanceof Uint8Array, `seq ${i + 1}`);
    for (const i of [5, 3, 9, 1, 2]) assert.equal(openOne(sad, sealed[i]), "replayed");
    assert.equal(inb.counters.replayed, 6);
    assert.equal(inb.counters.decrypted, 6);
  } finally {
    free();
  }
});

Deno.test("esp: a flipped bit anywhere in the datagram is dropped, never decrypted", () => {
  const { out, sad, inb, free } = pair();
  try {
    const esp = sealOne(out, vxlanPing(42, 1, 0x5a, 20));
    const reasons = new Set<string>();
    for (let bit = 0; bit < esp.length * 8; bit++) {
      const bad = esp.slice();
      bad[bit >> 3] ^= 1 << (bit & 7);
      const r = openOne(sad, bad);
      assert.equal(typeof r, "string", `bit ${bit} accepted`);
      reasons.add(r as string);
    }
    // SPI bits: no SA; sequence bits: the number 0 (never sent) or another one, failing the ICV.
    assert.deepEqual([...reasons].sort(), ["auth_failed", "replayed", "unknown_spi"]);
    assert.equal(inb.counters.decrypted, 0);
    assert.ok(openOne(sad, esp) instanceof Uint8Array, "the unflipped datagram still opens");
  } finally {
    free();
  }
});

Deno.test("esp: 64-bit sequence numbers cross 2^32 with only the low half on the wire (RFC 4304)", () => {
  const { out, sad, inb, free } = pair(TWO32 - 3);
  try {
    inb.window.accept(TWO32 - 10); // a receiver that has followed this SA for 2^32 datagrams
    for (let i = 0; i < 6; i++) {
      const seq = TWO32 - 3 + i;
      const esp = sealOne(out, vxlanPing(42, i, 2));
      assert.equal(new DataView(esp.buffer).getUint32(4), seq >>> 0);
      assert.ok(openOne(sad, esp) instanceof Uint8Array, `seq ${seq}`);
      assert.equal(inb.window.top, seq);
    }
    // The same low 32 bits under the old high half (a datagram from 2^32 ago) fail the ICV:
    // the implicit high bits are authenticated.
    const old = pair(3);
    const stale = sealOne(old.out, vxlanPing(42, 0, 2));
    old.free();
    assert.equal(openOne(sad, stale), "auth_failed");
  } finally {
    free();
  }
});

Deno.test("esp: random datagrams for a known SPI never open and never throw", () => {
  const { sad, inb, free } = pair();
  try {
    for (let i = 0; i < 3000; i++) {
      const len = 1 + Math.floor(Math.random() * 200);
      const junk = crypto.getRandomValues(new Uint8Array(len));
      if (len >= 4 && i % 2 === 0) new DataView(junk.buffer).setUint32(0, SPI);
      assert.equal(typeof openOne(sad, junk), "string");
    }
    assert.equal(inb.counters.decrypted, 0);
  } finally {
    free();
  }
});

Deno.test("esp: an open that fails leaves the replay window where it was", () => {
  const { out, sad, inb, free } = pair();
  try {
    const a = sealOne(out, vxlanPing(42, 1, 3));
    const b = sealOne(out, vxlanPing(42, 2, 3));
    const forged = b.slice();
    forged[forged.length - 1] ^= 1;
    assert.equal(openOne(sad, forged), "auth_failed");
    assert.equal(inb.window.top, 0);
    assert.ok(openOne(sad, a) instanceof Uint8Array);
    assert.ok(openOne(sad, b) instanceof Uint8Array, "the genuine datagram with the forged one's number");
  } finally {
    free();
  }
});

/** Ethernet + IPv4 + UDP(sport → ESP_PORT) around an ESP datagram, for tshark. */
function underlayFrame(esp: Uint8Array, sport: number): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + esp.length);
  const v = new DataView(f.buffer);
  f.set([0x02, 0, 0, 0, 0, 0x22, 0x02, 0, 0, 0, 0, 0x11, 0x08, 0x00]);
  f.set([0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2], 14);
  v.setUint16(16, 20 + 8 + esp.length);
  v.setUint16(24, checksum(f.subarray(14, 34)));
  v.setUint16(34, sport);
  v.setUint16(36, ESP_PORT);
  v.setUint16(38, 8 + esp.length);
  f.set(esp, 42);
  return f;
}

Deno.test("esp: tshark, given the SA as an esp_sa line, decrypts every datagram to the VXLAN frame sent", async () => {
  const { out, free } = pair();
  const dir = await Deno.makeTempDir({ prefix: "weft-esp-" });
  try {
    const w = new PcapWriter(LINKTYPE_ETHERNET);
    const sent: { vni: number; seq: number; pattern: number }[] = [];
    for (let i = 0; i < 5; i++) {
      const m = { vni: 4096 + i, seq: 100 + i, pattern: 0x30 + i };
      sent.push(m);
      w.write(
        1700000000 + i,
        underlayFrame(sealOne(out, vxlanPing(m.vni, m.seq, m.pattern, 40 + i)), 40000 + i),
      );
    }
    const file = `${dir}/esp.pcap`;
    await Deno.writeFile(file, w.bytes());
    const [line] = espSaLines([{
      family: "IPv4",
      src: "198.18.0.1",
      dst: "198.18.0.2",
      spi: SPI,
      keymat: KEYMAT,
    }]);
    const fields = ["esp.spi", "esp.sequence", "udp.dstport", "vxlan.vni", "icmp.seq", "data.data"];
    const r = await run([
      "tshark",
      "-n",
      "-r",
      file,
      "-o",
      "esp.enable_encryption_decode:TRUE",
      "-o",
      `uat:esp_sa:${line}`,
      "-T",
      "fields",
      "-E",
      "separator=;",
      "-E",
      "occurrence=l",
      ...fields.flatMap((f) => ["-e", f]),
    ], { timeoutMs: 60000 });
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.trim().split("\n").map((l) => l.split(";"));
    assert.equal(rows.length, sent.length, r.stdout);
    rows.forEach((row, i) => {
      const m = sent[i];
      assert.equal(Number(row[0]), SPI);
      assert.equal(Number(row[1]), i + 1);
      assert.equal(Number(row[2]), VXLAN_PORT, "the decrypted payload is the UDP datagram to 4789");
      assert.equal(Number(row[3]), m.vni);
      assert.equal(Number(row[4]), m.seq);
      assert.equal(row[5], m.pattern.toString(16).padStart(2, "0").repeat(40 + i));
    });
    assert.equal(NEXT_UDP, 17);
  } finally {
    free();
    await Deno.remove(dir, { recursive: true });
  }
});
