// GRO's refusals, each shown on a real run of segments the core cut from a super-frame, with one
// segment changed and its TCP checksum made good again (so that only the rule under test can
// refuse it): what tcp_gro_receive() will not merge — SYN, FIN, RST, URG, another flow, other
// option bytes — is delivered as it came; merges stop at 64 KiB of IP packet; IPv6 merges too.
import assert from "node:assert/strict";
import { loadCore } from "../../cli/core/load.ts";
import { OFFLOAD_CONFIG, PORT_UNDERLAY, type WeftCore } from "../../cli/core/mod.ts";
import { cutSuper, ip, MSS, onesSum, type Super, tcpSuper, TCPV4, TCPV6 } from "./frames.ts";

const B = "02:42:0a:00:00:02";
const VX = 8; // VXLAN header before each inner frame

/** The datagrams (VXLAN header + inner frame) a core cuts `s` into for a VTEP. */
async function cutDatagrams(s: Super): Promise<Uint8Array[]> {
  const tx = await loadCore(OFFLOAD_CONFIG);
  tx.addVni(42);
  tx.attachPort(0, 42);
  tx.addStatic(42, B, { vtep: tx.addVtep("198.18.0.2") });
  return cutSuper(tx, s);
}

/** Recomputes the TCP checksum of the inner frame of datagram `d` (after a change to it). */
function fixTcp(d: Uint8Array): void {
  const f = d.subarray(VX), v = new DataView(f.buffer, f.byteOffset);
  const v6 = v.getUint16(12) === 0x86dd;
  const l4 = v6 ? 54 : 14 + (f[14] & 15) * 4;
  const len = f.length - l4;
  v.setUint16(l4 + 16, 0);
  const pseudo = v6 ? onesSum(f.subarray(22, 54), len + 6) : onesSum(f.subarray(26, 34), len + 6);
  v.setUint16(l4 + 16, 0xffff - onesSum(f.subarray(l4), pseudo) || 0xffff);
}

const l4Of = (d: Uint8Array) =>
  VX + (new DataView(d.buffer, d.byteOffset).getUint16(VX + 12) === 0x86dd ? 54 : 34);

/** The datagrams as one UDP GRO buffer into a coalescing core: its TX entries' frames. */
async function gro(
  dgrams: Uint8Array[],
): Promise<{ core: WeftCore; frames: Uint8Array[]; vnets: Uint8Array[] }> {
  const rx = await loadCore(OFFLOAD_CONFIG);
  rx.addVni(42);
  rx.attachPort(0, 42);
  rx.addStatic(42, B, { port: 0 });
  rx.setCoalescing(true);
  const stride = dgrams[0].length, ptr = rx.slotData(0);
  dgrams.forEach((d, i) => rx.bytes.set(d, ptr + i * stride));
  const len = dgrams.reduce((n, d) => n + d.length, 0);
  assert.ok(len <= rx.slotCapacity, "the buffer fits a slot");
  rx.describe(0, ptr, len, PORT_UNDERLAY, ip("198.18.0.1"), 4789, { groStride: stride });
  const n = rx.process(1, 1);
  assert.equal(rx.verdict(0), 0);
  const frames = [], vnets = [];
  for (let i = 0; i < n; i++) {
    const t = rx.tx(i);
    frames.push(rx.bytes.slice(t.ptr, t.ptr + t.len));
    vnets.push(t.vnet ? rx.bytes.slice(t.vnet, t.vnet + 10) : new Uint8Array(10));
  }
  return { core: rx, frames, vnets };
}

Deno.test("GRO control: a run whose checksums were recomputed unchanged merges into one frame", async () => {
  const d = await cutDatagrams(tcpSuper(4 * MSS));
  assert.equal(d.length, 4);
  d.forEach(fixTcp);
  const { frames, core } = await gro(d);
  assert.equal(frames.length, 1);
  assert.equal(core.counters(42).gro_merged, 3);
});

for (
  const [name, flag] of [["SYN", 0x02], ["FIN", 0x01], ["RST", 0x04], ["URG", 0x20]] as const
) {
  Deno.test(`GRO never merges a ${name} segment: it goes out alone, flags intact`, async () => {
    const d = await cutDatagrams(tcpSuper(4 * MSS));
    const l4 = l4Of(d[1]);
    d[1][l4 + 13] |= flag;
    fixTcp(d[1]);
    const { frames, core } = await gro(d);
    // [0] alone (what follows cannot join it), [1] alone with its flag, [2]+[3] merged.
    assert.deepEqual(frames.map((f) => f.length), [d[0].length - VX, d[1].length - VX, 2 * MSS + 66]);
    assert.equal(frames[1][l4 - VX + 13] & flag, flag, `${name} kept`);
    assert.equal(core.counters(42).gro_merged, 1);
  });
}

Deno.test("GRO never merges another flow's segment, nor one whose TCP options differ", async () => {
  for (
    const [what, change] of [
      ["another source port", (d: Uint8Array, l4: number) => d[l4 + 1] ^= 1],
      ["another timestamp value", (d: Uint8Array, l4: number) => d[l4 + 20 + 7] ^= 1],
    ] as const
  ) {
    const d = await cutDatagrams(tcpSuper(4 * MSS));
    change(d[2], l4Of(d[2]));
    fixTcp(d[2]);
    const { frames, core } = await gro(d);
    // [0]+[1] merged, [2] alone (it cannot join, and [3] cannot join it: other flow / options).
    assert.equal(frames.length, 3, `${what}: ${frames.length} frames`);
    assert.equal(frames[0].length, 2 * MSS + 66, what);
    assert.equal(core.counters(42).gro_merged, 1, what);
  }
});

Deno.test("GRO stops a merge at 64 KiB of IP packet and starts the next one", async () => {
  // Two super-frames of one flow, back to back in sequence: 80,000 bytes in one GRO buffer.
  // ACK only on the first: a PSH would end its merge there, before the cap.
  const a = tcpSuper(45 * MSS, { flags: 0x10 }), b = tcpSuper(80000 - 45 * MSS);
  new DataView(b.frame.buffer).setUint32(a.l4 + 4, (0xfffff000 + 45 * MSS) >>> 0);
  const d = [...await cutDatagrams(a), ...await cutDatagrams(b)];
  const { frames, vnets } = await gro(d);
  const ipLens = frames.map((f) => new DataView(f.buffer).getUint16(16));
  assert.ok(ipLens.every((n) => n <= 65535), `IP lengths ${ipLens}`);
  assert.equal(frames.length, 2, `two super-frames: ${ipLens}`);
  assert.equal(frames.reduce((n, f) => n + f.length - 66, 0), 80000, "every payload byte delivered");
  assert.ok(ipLens[0] + MSS > 65535, `the first took all that fit: ${ipLens[0]}`);
  assert.equal(vnets[0][1], TCPV4);
});

Deno.test("GRO merges an IPv6 run back into its super-frame (TCPV6, MSS, payload identical)", async () => {
  const s = tcpSuper(20000, { v6: true, mss: 1378 });
  const d = await cutDatagrams(s);
  const { frames, vnets, core } = await gro(d);
  assert.equal(frames.length, 1, `${d.length} datagrams into one frame`);
  assert.equal(frames[0].length, s.frame.length);
  assert.deepEqual(frames[0].subarray(s.hdr), s.frame.subarray(s.hdr), "payload identical");
  assert.equal(new DataView(frames[0].buffer).getUint16(18), 20000 + 32, "IPv6 payload length");
  assert.deepEqual([vnets[0][1], vnets[0][4] | (vnets[0][5] << 8)], [TCPV6, 1378]);
  assert.equal(core.counters(42).gro_merged, d.length - 1);
});
