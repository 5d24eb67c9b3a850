// Offloads in the core: TSO/USO super-frames from a TAP with IFF_VNET_HDR are cut into
// MTU-sized VXLAN datagrams as the kernel's GSO would cut them, and the datagrams of a UDP GRO
// buffer are merged back into one super-frame for the receiving TAP, as the kernel's GRO would.
import assert from "node:assert/strict";
import { loadCore } from "../../cli/core/load.ts";
import { OFFLOAD_CONFIG, PORT_UNDERLAY, TARGET_REMOTE, type WeftCore } from "../../cli/core/mod.ts";
import { verdictOf } from "../../cli/core/counters.ts";
import {
  ECN,
  eth,
  ip,
  MSS,
  NEEDS_CSUM,
  onesSum,
  type Super,
  tcpSuper,
  TCPV4,
  TCPV6,
  UDP_L4,
} from "./frames.ts";

const A = "02:42:0a:00:00:01", B = "02:42:0a:00:00:02";
async function vtep(config = {}): Promise<{ core: WeftCore; remote: number }> {
  const core = await loadCore({ ...OFFLOAD_CONFIG, ...config });
  core.addVni(42);
  core.attachPort(0, 42);
  core.attachPort(1, 42);
  const remote = core.addVtep("198.18.0.2");
  core.addFlood(42, remote);
  core.addStatic(42, B, { vtep: remote });
  return { core, remote };
}

/** Puts a frame and its virtio-net header in slot `slot` as RX entry `slot`, from port 0. */
function place(core: WeftCore, s: Super, slot: number): void {
  const ptr = core.slotData(slot);
  core.bytes.set(s.vnet, ptr - 10);
  core.bytes.set(s.frame, ptr);
  core.describe(slot, ptr, s.frame.length, 0, undefined, 0, { vnet: true });
}

function sendSuper(core: WeftCore, s: Super, slot = 0): number {
  place(core, s, slot);
  return core.process(slot + 1, 1);
}

/** Every datagram of the TX entries, split at their gsoSize stride. */
function datagrams(core: WeftCore, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const t = core.tx(i);
    const stride = t.gsoSize || t.len;
    for (let off = 0; off < t.len; off += stride) {
      out.push(core.bytes.slice(t.ptr + off, t.ptr + Math.min(off + stride, t.len)));
    }
  }
  return out;
}

const u16 = (b: Uint8Array, o: number) => (b[o] << 8) | b[o + 1];
const u32 = (b: Uint8Array, o: number) =>
  ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;

function tcpChecksumValid(f: Uint8Array, l3: number, v6: boolean): boolean {
  const l4 = l3 + (v6 ? 40 : (f[l3] & 0xf) * 4);
  const end = v6 ? l3 + 40 + u16(f, l3 + 4) : l3 + u16(f, l3 + 2);
  const pseudo = v6
    ? onesSum(f.subarray(l3 + 8, l3 + 40), end - l4 + f[l3 + 6])
    : onesSum(f.subarray(l3 + 12, l3 + 20), end - l4 + f[l3 + 9]);
  return onesSum(f.subarray(l4, end), pseudo) === 0xffff;
}

Deno.test("a TSO super-frame for a VTEP is cut into MSS-sized segments as the kernel's tcp_gso_segment would", async () => {
  const { core, remote } = await vtep();
  const s = tcpSuper(20000);
  const n = sendSuper(core, s);
  assert.equal(core.verdict(0), 0);
  const dgrams = datagrams(core, n);
  assert.equal(dgrams.length, Math.ceil(20000 / MSS));
  assert.equal(core.tx(0).target, (TARGET_REMOTE | remote) >>> 0);
  assert.equal(core.tx(0).gsoSize, 8 + s.hdr + MSS, "one stride: every datagram but the last is full");
  let payload = new Uint8Array(0);
  dgrams.forEach((d, i) => {
    const f = d.subarray(8);
    const last = i === dgrams.length - 1;
    assert.deepEqual([...d.subarray(0, 8)], [8, 0, 0, 0, 0, 0, 42, 0], "VXLAN header");
    assert.ok(f.length <= 1450 + 14, `segment ${i} fits the MTU`);
    assert.equal(u16(f, 16), f.length - 14, "IPv4 total length");
    assert.equal(u16(f, 18), (0x1234 + i) & 0xffff, "IP IDs increment");
    assert.equal(onesSum(f.subarray(14, 34)), 0xffff, "IPv4 header checksum");
    assert.equal(u32(f, 38), (0xfffff000 + i * MSS) >>> 0, "sequence number");
    assert.equal(f[47], last ? 0x18 : 0x10, "PSH only on the last segment");
    assert.ok(tcpChecksumValid(f, 14, false), `segment ${i}: full TCP checksum`);
    assert.deepEqual(f.subarray(54, 66), s.frame.subarray(54, 66), "options copied");
    const p = new Uint8Array(payload.length + f.length - 66);
    p.set(payload);
    p.set(f.subarray(66), payload.length);
    payload = p;
  });
  assert.deepEqual(payload, s.frame.subarray(s.hdr), "the payload, in order, nothing lost");
  const c = core.counters(42);
  assert.deepEqual([c.gso_frames, c.gso_segments, c.encap], [1, dgrams.length, dgrams.length]);
});

Deno.test("FIN goes on the last segment only, CWR on the first only (ECN), IPv6 lengths per segment", async () => {
  const { core } = await vtep();
  const s = tcpSuper(5000, { v6: true, flags: 0x80 | 0x10 | 0x01, gso: TCPV6 | ECN, mss: 1450 - 40 - 32 });
  const dgrams = datagrams(core, sendSuper(core, s));
  assert.equal(dgrams.length, 4);
  const flags = dgrams.map((d) => d[8 + 14 + 40 + 13]);
  assert.deepEqual(flags, [0x90, 0x10, 0x10, 0x11]);
  for (const d of dgrams) {
    const f = d.subarray(8);
    assert.equal(u16(f, 18), f.length - 14 - 40, "IPv6 payload length");
    assert.ok(tcpChecksumValid(f, 14, true));
  }
});

Deno.test("a UDP (USO) super-frame is cut into datagrams with their own lengths and checksums", async () => {
  const { core } = await vtep();
  const payload = 4000, mss = 1422;
  const f = eth(B, A, 0x0800, 14 + 20 + 8 + payload);
  const v = new DataView(f.buffer);
  f.set([0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 14);
  v.setUint16(16, 20 + 8 + payload);
  v.setUint16(34, 5000);
  v.setUint16(36, 5001);
  v.setUint16(38, 8 + payload);
  const vnet = new Uint8Array([NEEDS_CSUM, UDP_L4, 42, 0, mss & 0xff, mss >> 8, 34, 0, 6, 0]);
  const dgrams = datagrams(core, sendSuper(core, { frame: f, vnet, l4: 34, hdr: 42 }));
  assert.equal(dgrams.length, 3);
  for (const d of dgrams) {
    const g = d.subarray(8);
    assert.equal(u16(g, 38), g.length - 34, "UDP length");
    const pseudo = onesSum(g.subarray(26, 34), g.length - 34 + 17);
    assert.equal(onesSum(g.subarray(34), pseudo), 0xffff, "UDP checksum");
  }
});

Deno.test("local copies of a super-frame keep its virtio-net header; the receiving TAP segments it", async () => {
  const core = await loadCore(OFFLOAD_CONFIG);
  core.addVni(42);
  core.attachPort(0, 42);
  core.attachPort(1, 42);
  const s = tcpSuper(9000);
  const n = sendSuper(core, s);
  assert.equal(n, 1);
  const t = core.tx(0);
  assert.equal(t.target, 1);
  assert.equal(t.len, s.frame.length);
  assert.deepEqual(core.bytes.slice(t.vnet, t.vnet + 10), s.vnet);
});

Deno.test("a plain frame with a partial checksum has it completed once, for every copy", async () => {
  const { core } = await vtep();
  const s = tcpSuper(600);
  s.vnet[1] = 0; // GSO none: only the checksum is left to us
  const n = sendSuper(core, s);
  assert.equal(n, 1);
  const t = core.tx(0);
  const f = core.bytes.slice(t.ptr + 8, t.ptr + t.len);
  assert.ok(tcpChecksumValid(f, 14, false));
  assert.equal(t.gsoSize, 0);
});

Deno.test("a GSO frame whose payload fits one segment goes out as one plain datagram, checksum completed", async () => {
  const { core } = await vtep();
  for (const [payload, v6] of [[600, false], [MSS, false], [500, true]] as const) {
    const s = tcpSuper(payload, { v6, gso: v6 ? TCPV6 : TCPV4 }); // gso_size MSS, one segment's worth
    assert.equal(sendSuper(core, s), 1, `${payload} B over IPv${v6 ? 6 : 4}: one TX entry`);
    const t = core.tx(0);
    assert.equal(t.gsoSize, 0, "sent as it is, not cut");
    const f = core.bytes.slice(t.ptr + 8, t.ptr + t.len);
    assert.equal(f.length, s.frame.length);
    assert.ok(tcpChecksumValid(f, 14, v6), "the partial checksum was completed");
  }
  const c = core.counters(42);
  assert.equal(c.dropped.bad_vnet_hdr, 0);
});

Deno.test("a cut super-frame counts its datagrams; with no TX entry left each is counted lost, the frame dropped once", async () => {
  const { core } = await vtep();
  assert.equal(datagrams(core, sendSuper(core, tcpSuper(3000))).length, 3);
  const c = core.counters(42);
  assert.deepEqual([c.tx_frames, c.encap, c.gso_segments], [3, 3, 3], "every datagram is a frame sent");

  // One TX entry, taken by a plain frame ahead in the burst: nothing is left for the super-frame,
  // neither as unicast to B nor flooded to the one VTEP (no other local port).
  const full = await loadCore({ ...OFFLOAD_CONFIG, txEntries: 1 });
  full.addVni(42);
  full.attachPort(0, 42);
  const remote = full.addVtep("198.18.0.2");
  full.addFlood(42, remote);
  full.addStatic(42, B, { vtep: remote });
  const plain = tcpSuper(600);
  plain.vnet[1] = 0;
  const unknown = tcpSuper(3000);
  unknown.frame.set([2, 0x42, 0x0a, 0, 0, 0x99]); // a destination nobody learned: flooded
  place(full, plain, 0);
  place(full, tcpSuper(3000), 1);
  place(full, unknown, 2);
  assert.equal(full.process(3, 1), 1);
  assert.deepEqual([1, 2].map((i) => full.verdict(i)), [verdictOf("tx_full"), verdictOf("tx_full")]);
  const d = full.counters(42);
  assert.equal(d.dropped.tx_full, 6, "3 datagrams lost per super-frame");
  assert.equal(d.dropped.no_recipient, 0);
  assert.equal(d.drops, 2, "each super-frame dropped once");
});

Deno.test("bad virtio-net headers, oversized segments and a full arena are drops with reasons", async () => {
  const { core } = await vtep({ arenaBytes: 8192 });
  const bad = tcpSuper(600);
  bad.vnet[1] = 0;
  new DataView(bad.vnet.buffer).setUint16(6, 2000, true); // csum_start beyond the frame
  sendSuper(core, bad);
  const wrongType = tcpSuper(3000, { gso: TCPV6 }); // says IPv6, is IPv4
  sendSuper(core, wrongType);
  const tooBig = tcpSuper(9000, { mss: 1500 });
  sendSuper(core, tooBig);
  const big = tcpSuper(20000); // ~21 KiB of segments: more than the 8 KiB arena
  sendSuper(core, big);
  const d = core.counters(42).dropped;
  assert.deepEqual([d.bad_vnet_hdr, d.over_mtu, d.arena_full], [2, 1, 1]);
});

// ── GRO: the reverse path ─────────────────────────────────────────────────────────────────────

/** Segments a super-frame with one core, then hands the datagrams as one UDP GRO buffer to
 *  another (what the kernel's UDP_GRO socket delivers: same-size datagrams back to back). */
async function groRoundTrip(s: Super, mutate?: (dgrams: Uint8Array[]) => void) {
  const { core: tx } = await vtep();
  const dgrams = datagrams(tx, sendSuper(tx, s));
  mutate?.(dgrams);
  const rx = await loadCore(OFFLOAD_CONFIG);
  rx.addVni(42);
  rx.attachPort(0, 42);
  rx.addStatic(42, B, { port: 0 });
  rx.setCoalescing(true);
  const stride = dgrams[0].length;
  const ptr = rx.slotData(0);
  dgrams.forEach((d, i) => rx.bytes.set(d, ptr + i * stride));
  const len = dgrams.reduce((n, d) => n + d.length, 0);
  rx.describe(0, ptr, len, PORT_UNDERLAY, ip("198.18.0.1"), 4789, { groStride: stride });
  const n = rx.process(1, 1);
  return { rx, n, dgrams };
}

Deno.test("GRO merges the segments of one TCP flow back into the super-frame, with a virtio-net header for the TAP", async () => {
  const s = tcpSuper(20000);
  const { rx, n, dgrams } = await groRoundTrip(s);
  assert.equal(n, 1, `${dgrams.length} datagrams, one frame for the TAP`);
  const t = rx.tx(0);
  const f = rx.bytes.slice(t.ptr, t.ptr + t.len);
  assert.equal(f.length, s.frame.length);
  assert.deepEqual(f.subarray(s.hdr), s.frame.subarray(s.hdr), "payload identical");
  assert.deepEqual(f.subarray(0, 18), s.frame.subarray(0, 18), "Ethernet, IP version..length identical");
  assert.equal(onesSum(f.subarray(14, 34)), 0xffff, "IPv4 header checksum refreshed");
  assert.equal(u32(f, 38), 0xfffff000, "first sequence number");
  assert.equal(u32(f, 42), 77, "ACK number (read before the payload moved over its header)");
  assert.equal(u16(f, 48), 501, "window");
  assert.equal(f[47], 0x18, "PSH from the last segment");
  assert.equal(u16(f, 50), u16(s.frame, 50), "partial checksum = pseudo-header sum, as the kernel leaves it");
  assert.deepEqual([...rx.bytes.slice(t.vnet, t.vnet + 10)], [
    NEEDS_CSUM,
    TCPV4,
    s.hdr,
    0,
    MSS & 0xff,
    MSS >> 8,
    34,
    0,
    16,
    0,
  ]);
  assert.equal(rx.counters(42).gro_merged, dgrams.length - 1);
});

Deno.test("GRO keeps ACK number and window of the newest segment, whose header the merge overwrites", async () => {
  // Full-size last segment: its payload moves back over its own header; the fields must be read
  // before (a 20000-byte super-frame ends in a short segment that moves nothing over itself).
  const { rx, n } = await groRoundTrip(tcpSuper(3 * MSS));
  assert.equal(n, 1);
  const t = rx.tx(0);
  const f = rx.bytes.slice(t.ptr, t.ptr + t.len);
  assert.equal(u32(f, 42), 77);
  assert.equal(u16(f, 48), 501);
  assert.equal(f.length, 66 + 3 * MSS);
});

Deno.test("GRO never merges a segment whose checksum fails, or that is out of order", async () => {
  const corrupt = await groRoundTrip(tcpSuper(6000), (d) => d[2][100] ^= 0xff);
  assert.equal(corrupt.n, 3, "two merged, the corrupt one alone, the last after it alone");
  const swapped = await groRoundTrip(tcpSuper(6000), (d) => {
    const t = d[1];
    d[1] = d[2];
    d[2] = t;
  });
  assert.ok(swapped.n >= 3, `out of order: ${swapped.n} frames`);
  for (let i = 0; i < swapped.n; i++) {
    const t = swapped.rx.tx(i);
    const f = swapped.rx.bytes.slice(t.ptr, t.ptr + t.len);
    if (!t.vnet) assert.ok(tcpChecksumValid(f, 14, false), "unmerged frames keep their own valid checksum");
  }
});

Deno.test("without coalescing, a GRO buffer still delivers every datagram as its own frame", async () => {
  const { core: tx } = await vtep();
  const dgrams = datagrams(tx, sendSuper(tx, tcpSuper(7000)));
  const rx = await loadCore(OFFLOAD_CONFIG);
  rx.addVni(42);
  rx.attachPort(0, 42);
  const stride = dgrams[0].length, ptr = rx.slotData(0);
  dgrams.forEach((d, i) => rx.bytes.set(d, ptr + i * stride));
  rx.describe(0, ptr, dgrams.reduce((n, d) => n + d.length, 0), PORT_UNDERLAY, ip("198.18.0.1"), 4789, {
    groStride: stride,
  });
  assert.equal(rx.process(1, 1), dgrams.length);
  for (let i = 0; i < dgrams.length; i++) assert.equal(rx.tx(i).vnet, 0);
});
