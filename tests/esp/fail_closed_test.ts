// Fail closed per datagram on the VXLAN port (cli/dataplane/esp_path.ts dropCleartext): a UDP GRO
// buffer mixing datagrams of a plain VNI and of an encrypted one loses exactly the encrypted
// VNI's (each counted in cleartext_dropped); the plain ones are delivered, still one stride
// apart with only the last shorter, as the kernel's GRO buffers are (udp(7) UDP_GRO).
import assert from "node:assert/strict";
import { dropCleartext } from "../../cli/dataplane/esp_path.ts";
import { espCounters } from "../../cli/esp/esp.ts";

const PLAIN = 100, SECRET = 200, STRIDE = 64;

/** A VXLAN datagram (RFC 7348 §5: flags 0x08, VNI in bytes 4–6) of `len` bytes, payload `tag`. */
function vxlan(vni: number, len: number, tag: number): Uint8Array {
  const d = new Uint8Array(len).fill(tag);
  const v = new DataView(d.buffer);
  v.setUint32(0, 0x08000000);
  v.setUint32(4, vni << 8);
  return d;
}

/** A GRO buffer of `ds` at `at` in a larger buffer; its DataView and length. */
function groBuffer(ds: Uint8Array[], at = 32) {
  const buf = new Uint8Array(4096).fill(0xee);
  let off = at;
  for (const d of ds) {
    buf.set(d, off);
    off += d.length;
  }
  return { buf, mem: new DataView(buf.buffer), len: off - at, at };
}

function split(b: Uint8Array, at: number, len: number, stride: number): Uint8Array[] {
  const out = [];
  for (let off = 0; off < len; off += stride) out.push(b.slice(at + off, at + Math.min(off + stride, len)));
  return out;
}

Deno.test("fail closed per datagram: a GRO buffer mixing a plain and an encrypted VNI keeps the plain datagrams only", () => {
  const counters = espCounters();
  const nets = new Map([[SECRET, { counters }]]);
  // plain, secret, plain, secret, plain (short, last): the kernel's GRO layout.
  const ds = [
    vxlan(PLAIN, STRIDE, 1),
    vxlan(SECRET, STRIDE, 2),
    vxlan(PLAIN, STRIDE, 3),
    vxlan(SECRET, STRIDE, 4),
    vxlan(PLAIN, 40, 5),
  ];
  const { buf, mem, len, at } = groBuffer(ds);
  const kept = dropCleartext(mem, at, len, STRIDE, nets);
  assert.equal(kept, STRIDE * 2 + 40);
  assert.deepEqual(split(buf, at, kept, STRIDE), [ds[0], ds[2], ds[4]]);
  assert.equal(counters.cleartext_dropped, 2);
});

Deno.test("fail closed per datagram: all encrypted → nothing; none encrypted → untouched; one datagram without GRO", () => {
  const counters = espCounters();
  const nets = new Map([[SECRET, { counters }]]);
  const all = groBuffer([vxlan(SECRET, STRIDE, 1), vxlan(SECRET, 10, 2)]);
  assert.equal(dropCleartext(all.mem, all.at, all.len, STRIDE, nets), 0);
  assert.equal(counters.cleartext_dropped, 2);

  const plain = [vxlan(PLAIN, STRIDE, 1), vxlan(PLAIN, STRIDE, 2)];
  const p = groBuffer(plain);
  const before = p.buf.slice();
  assert.equal(dropCleartext(p.mem, p.at, p.len, STRIDE, nets), p.len);
  assert.deepEqual(p.buf, before);

  const one = groBuffer([vxlan(SECRET, 90, 7)]);
  assert.equal(dropCleartext(one.mem, one.at, one.len, 0, nets), 0);
  const onePlain = groBuffer([vxlan(PLAIN, 90, 7)]);
  assert.equal(dropCleartext(onePlain.mem, onePlain.at, onePlain.len, 0, nets), 90);
  assert.equal(counters.cleartext_dropped, 3);
});

Deno.test("fail closed per datagram: the encrypted datagram first and the short last one kept stay a valid GRO buffer", () => {
  const counters = espCounters();
  const nets = new Map([[SECRET, { counters }]]);
  const ds = [vxlan(SECRET, STRIDE, 1), vxlan(PLAIN, STRIDE, 2), vxlan(PLAIN, 20, 3)];
  const { buf, mem, len, at } = groBuffer(ds);
  const kept = dropCleartext(mem, at, len, STRIDE, nets);
  assert.equal(kept, STRIDE + 20);
  assert.deepEqual(split(buf, at, kept, STRIDE), [ds[1], ds[2]]);
  // Runts (shorter than a VXLAN header) are left to the core, which counts them.
  const runt = groBuffer([new Uint8Array(5)]);
  assert.equal(dropCleartext(runt.mem, runt.at, runt.len, 0, nets), 5);
  assert.equal(counters.cleartext_dropped, 1);
});
