// Properties of the ESP path's receive side (cli/dataplane/esp_path.ts EspPath.receive) under
// arbitrary datagrams on the ESP port (issue #13, Hostile: "random datagrams on the ESP port never
// crash a node"). EspPath reads with recvmmsg, so it is driven through a real UDP socket pair on
// 127.0.0.1 in this process, the receiving one with UDP_GRO and the sending one with UDP_SEGMENT,
// so that batches of one stride reach it as one GRO buffer as on the wire. Each case is a few
// messages of random bytes, a known SPI with random rest, valid sealed datagrams (some sent twice,
// some with a bit flipped, some cut short, some carrying another network's VNI, another inner port
// or a runt inner datagram); properties: receive() never throws, writes nothing outside the frame
// slots and the RX descriptors, counts every datagram in exactly one counter (decrypted,
// auth_failed, replayed, esp_malformed of its network, or the node's unknown_spi / misdirected)
// and hands the core every valid VXLAN datagram byte-exact, in order, and nothing else.
import assert from "node:assert/strict";
import fc from "fast-check";
import { loadCore } from "../../cli/core/load.ts";
import { PORT_UNDERLAY, RX, RX_DESC_LEN, type WeftCore } from "../../cli/core/mod.ts";
import { parseEndpoint } from "../../cli/core/addr.ts";
import { EspPath } from "../../cli/dataplane/esp_path.ts";
import { ESP_HEADROOM, type EspCounters, espCounters, EspOutbound } from "../../cli/esp/esp.ts";
import { closeUdp, openUdp, type UdpSocket } from "../../cli/phy/udp.ts";
import { sendCounters, UdpSender } from "../../cli/phy/udp_batch.ts";
import { sockaddr } from "../../cli/phy/sockaddr.ts";
import { addressOf, AF_INET } from "../../cli/sys/libc.ts";

const BURST = 64;
const VXLAN_PORT = 4789;
const ESP_PORT_BASE = 41000;
/** Two encrypted networks, one inbound SA each (the SPIs are what `weft esp sa` would list). */
const NETS = [
  { vni: 42, spi: 0x0000_1001, keymat: Uint8Array.from({ length: 20 }, (_, i) => 0x10 + i) },
  { vni: 100, spi: 0x0000_2002, keymat: Uint8Array.from({ length: 20 }, (_, i) => 0x80 + i) },
];
/** Sealed length of an inner VXLAN datagram of `vlen` bytes: ESP header, IV, inner UDP, the
 *  payload padded to 4 with its 2-byte trailer, ICV (RFC 4303 §2, RFC 4106 §3). */
const sealedLen = (vlen: number) => 32 + ((vlen + 8 + 2 + 3) & ~3);

/** What one datagram is made of; its bytes are sealed when the case runs, so that a shrunk
 *  case replayed by fast-check gets fresh sequence numbers. */
type Item =
  | { kind: "junk"; bytes: Uint8Array }
  | { kind: "spi"; net: number; rest: Uint8Array }
  | { kind: "valid"; net: number; vlen: number; seed: number; dup: boolean }
  | { kind: "flip"; net: number; vlen: number; seed: number; bit: number }
  | { kind: "cut"; net: number; vlen: number; seed: number; keep: number }
  | { kind: "misdirected"; net: number; vlen: number; seed: number; how: "vni" | "port" | "runt" };

/** A message: one datagram, or a GRO batch of datagrams `stride` apart (the last may be shorter). */
interface Message {
  stride: number;
  items: Item[];
  /** Bytes kept of a batch's last datagram (≤ stride). */
  cutLast?: number;
}

const net = fc.integer({ min: 0, max: NETS.length - 1 });
const seed = fc.integer({ min: 0, max: 255 });

/** One datagram of sealed length `len` exactly (len % 4 === 0, ≥ 52), or any length when `len`
 *  is undefined. */
function itemArb(len?: number): fc.Arbitrary<Item> {
  const bytesOf = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
  const vlen = len === undefined
    ? fc.integer({ min: 8, max: 1400 })
    : fc.integer({ min: len - 45, max: len - 42 }).filter((v) => v >= 8 && sealedLen(v) === len);
  const anyLen = len === undefined ? [0, 1500] : [len, len];
  return fc.oneof(
    bytesOf(anyLen[0], anyLen[1]).map((bytes): Item => ({ kind: "junk", bytes })),
    fc.record({ net, rest: bytesOf(Math.max(0, anyLen[0] - 4), Math.max(0, anyLen[1] - 4)) }).map(
      (r): Item => ({ kind: "spi", ...r }),
    ),
    fc.record({ net, vlen, seed, dup: len === undefined ? fc.boolean() : fc.constant(false) }).map(
      (r): Item => ({ kind: "valid", ...r }),
    ),
    fc.record({ net, vlen, seed, bit: fc.nat() }).map((r): Item => ({ kind: "flip", ...r })),
    // Truncated at every length: `keep` is taken modulo the sealed length.
    ...(len === undefined
      ? [fc.record({ net, vlen, seed, keep: fc.nat() }).map((r): Item => ({ kind: "cut", ...r }))]
      : []),
    fc.record({
      net,
      vlen: len === undefined ? fc.integer({ min: 0, max: 1400 }) : vlen,
      seed,
      // A runt inner datagram changes the sealed length: not in a batch of one stride.
      how: len === undefined
        ? fc.constantFrom("vni" as const, "port" as const, "runt" as const)
        : fc.constantFrom("vni" as const, "port" as const),
    }).map((r): Item => ({ kind: "misdirected", ...r })),
  );
}

/** A GRO batch: 2..12 datagrams of one stride, the last one possibly cut short or of any kind. */
const batchArb: fc.Arbitrary<Message> = fc.integer({ min: 13, max: 350 }).chain((q) => {
  const stride = q * 4;
  return fc.tuple(fc.array(itemArb(stride), { minLength: 1, maxLength: 11 }), itemArb(stride), fc.nat())
    // The last datagram of a GRO buffer may be shorter: cut it anywhere (kept ≥ 1 byte).
    .map(([items, last, cut]): Message => ({ stride, items: [...items, last], cutLast: 1 + (cut % stride) }));
});
const singleArb: fc.Arbitrary<Message> = itemArb().map((item) => ({ stride: 0, items: [item] }));
const caseArb = fc.array(fc.oneof(singleArb, batchArb), { minLength: 1, maxLength: 6 });

/** The test's world: a core, the path on a GRO socket, a GSO sender, and its own sealers. */
interface World {
  core: WeftCore;
  path: EspPath;
  rxSock: UdpSocket;
  txSock: UdpSocket;
  sender: UdpSender;
  peer: Uint8Array;
  out: EspOutbound[];
  slotPtr: number[];
  counters: () => EspCounters[];
}

/** `slotSizeLog2`: 17 is OFFLOAD_CONFIG's (GRO buffers fit), 11 DEFAULT_CONFIG's (no offloads:
 *  the ESP socket has no UDP_GRO then, and a datagram longer than a slot is cut by recvmmsg). */
async function world(slotSizeLog2 = 17): Promise<World> {
  const gro = slotSizeLog2 >= 17;
  const core = await loadCore({ burst: BURST, slots: BURST, txEntries: 256, slotSizeLog2, maxVteps: 8 });
  const lo = parseEndpoint("127.0.0.1:1", 1).address;
  let rxSock: UdpSocket | undefined, port = 0;
  for (let i = 0; !rxSock; i++) {
    port = ESP_PORT_BASE + ((Deno.pid * 7 + i * 13) % 20000);
    try {
      rxSock = openUdp(lo, port, { gro });
    } catch (e) {
      if (i > 50) throw e;
    }
  }
  assert.equal(rxSock.gro ?? false, gro, "UDP_GRO on the receiving socket");
  const txSock = openUdp(lo, 0, { gso: true });
  assert.ok(txSock.gso, "UDP_SEGMENT on the sending socket");
  const path = new EspPath(
    core,
    addressOf(core.bytes),
    rxSock.fd,
    port,
    VXLAN_PORT,
    AF_INET,
    BURST,
    sendCounters(),
    gro,
    false,
  );
  for (const n of NETS) {
    path.encrypt(n.vni);
    path.addInbound(n.vni, n.spi, n.keymat.slice());
  }
  const out = NETS.map((n) => new EspOutbound(n.spi, n.keymat.slice(), espCounters()));
  const slotPtr = Array.from({ length: BURST }, (_, i) => core.slotData(i));
  return {
    core,
    path,
    rxSock,
    txSock,
    sender: new UdpSender(txSock.fd, true),
    peer: sockaddr(lo, port),
    out,
    slotPtr,
    counters: () => NETS.map((n) => path.stats().find((s) => s.vni === n.vni)!.counters),
  };
}

function close(w: World): void {
  w.path.close();
  for (const o of w.out) o.free();
  closeUdp(w.rxSock);
  closeUdp(w.txSock);
}

/** A VXLAN datagram of `vlen` bytes (≥ 8: header with VNI, RFC 7348 §5) with seeded payload. */
function vxlanOf(vni: number, vlen: number, seed: number): Uint8Array {
  const d = new Uint8Array(vlen);
  for (let i = 8; i < vlen; i++) d[i] = (seed + i * 31) & 0xff;
  if (vlen >= 8) {
    d[0] = 0x08;
    new DataView(d.buffer).setUint32(4, vni << 8);
  }
  return d;
}

function seal(w: World, n: number, inner: Uint8Array, dstPort = VXLAN_PORT): Uint8Array {
  const buf = new Uint8Array(ESP_HEADROOM + inner.length + 64);
  buf.set(inner, ESP_HEADROOM);
  const len = w.out[n].seal(new DataView(buf.buffer), BigInt(addressOf(buf)), ESP_HEADROOM, inner.length, 49152, dstPort);
  assert.ok(len > 0, "seal");
  return buf.slice(0, len);
}

/** A datagram's bytes, and what must come out of it: a VXLAN datagram for the core, or nothing. */
function build(w: World, it: Item): { wire: Uint8Array[]; delivered: Uint8Array[]; misdirected: number } {
  switch (it.kind) {
    case "junk":
      return { wire: [it.bytes], delivered: [], misdirected: 0 };
    case "spi": {
      const b = new Uint8Array(4 + it.rest.length);
      new DataView(b.buffer).setUint32(0, NETS[it.net].spi);
      b.set(it.rest, 4);
      return { wire: [b], delivered: [], misdirected: 0 };
    }
    case "valid": {
      const inner = vxlanOf(NETS[it.net].vni, it.vlen, it.seed);
      const e = seal(w, it.net, inner);
      return { wire: it.dup ? [e, e] : [e], delivered: [inner], misdirected: 0 };
    }
    case "flip": {
      const e = seal(w, it.net, vxlanOf(NETS[it.net].vni, it.vlen, it.seed));
      const bit = it.bit % (e.length * 8);
      e[bit >> 3] ^= 1 << (bit & 7);
      return { wire: [e], delivered: [], misdirected: 0 };
    }
    case "cut": {
      const e = seal(w, it.net, vxlanOf(NETS[it.net].vni, it.vlen, it.seed));
      return { wire: [e.slice(0, it.keep % e.length)], delivered: [], misdirected: 0 };
    }
    case "misdirected": {
      const other = NETS[(it.net + 1) % NETS.length].vni;
      const vlen = it.how === "runt" ? it.vlen % 8 : Math.max(8, it.vlen);
      const inner = vxlanOf(it.how === "vni" ? other : NETS[it.net].vni, vlen, it.seed);
      const e = seal(w, it.net, inner, it.how === "port" ? VXLAN_PORT + 1 : VXLAN_PORT);
      return { wire: [e], delivered: [], misdirected: 1 };
    }
  }
}

/** Sum of the counters that account for a received datagram (each moves for exactly one). */
function accounted(w: World): { total: number; decrypted: number; misdirected: number } {
  const node = w.path.nodeCounters();
  let total = node.unknown_spi + node.misdirected, decrypted = 0;
  for (const c of w.counters()) {
    total += c.decrypted + c.auth_failed + c.replayed + c.esp_malformed;
    decrypted += c.decrypted;
  }
  return { total, decrypted, misdirected: node.misdirected };
}

/** The bytes the path may write: the frame slots (with their headroom) and the RX descriptors. */
function allowed(core: WeftCore): [number, number][] {
  const step = core.slotData(1) - core.slotData(0);
  return [
    [core.slotData(0) - core.headroom, core.slotData(BURST - 1) - core.headroom + step],
    [core.rxPtr, core.rxPtr + BURST * RX_DESC_LEN],
  ];
}

/** Sends the case, runs receive() until every datagram is accounted for, and checks it all. */
async function runCase(w: World, msgs: Message[]): Promise<void> {
  const bufs: Uint8Array[] = [];
  const expected: Uint8Array[] = [];
  let datagrams = 0, misdirected = 0;
  for (const m of msgs) {
    const built = m.items.map((it) => build(w, it));
    if (m.stride === 0) {
      // One datagram per message (a "valid" item sent twice is two messages: the second is replayed).
      for (const wire of built[0].wire) {
        const b = wire.slice();
        bufs.push(b);
        w.sender.add(addressOf(b), b.length, 0, addressOf(w.peer), w.peer.length);
        datagrams++;
      }
    } else {
      const wires = built.map((b) => b.wire[0]);
      const last = wires.length - 1;
      wires[last] = wires[last].slice(0, Math.min(wires[last].length, m.cutLast ?? m.stride));
      if (wires[last].length < m.stride) {
        // Cut short: it cannot verify any more, whatever it was.
        built[last] = { wire: [wires[last]], delivered: [], misdirected: 0 };
      }
      const b = new Uint8Array(m.stride * last + wires[last].length);
      wires.forEach((x, i) => {
        assert.equal(i === last || x.length === m.stride, true, `item ${i} of a batch has the stride`);
        b.set(x, i * m.stride);
      });
      bufs.push(b);
      w.sender.add(addressOf(b), b.length, m.stride, addressOf(w.peer), w.peer.length);
      datagrams += wires.length;
    }
    for (const b of built) {
      expected.push(...b.delivered);
      misdirected += b.misdirected;
    }
  }
  const before = accounted(w);
  const mem0 = w.core.bytes.slice();
  w.sender.flush();
  assert.equal(w.sender.counters.errors, 0, "every message sent");

  const got: Uint8Array[] = [];
  const regions = allowed(w.core);
  for (let tries = 0; accounted(w).total - before.total < datagrams && tries < 200; tries++) {
    const d = w.path.receive(0, BURST, w.slotPtr);
    for (let i = 0; i < d; i++) {
      const desc = w.core.rxPtr + i * RX_DESC_LEN, v = w.core.view;
      const ptr = v.getUint32(desc + RX.PTR, true), len = v.getUint32(desc + RX.LEN, true);
      const stride = v.getUint16(desc + RX.GSO_SIZE, true) || len;
      assert.equal(v.getUint16(desc + RX.PORT, true), PORT_UNDERLAY);
      assert.equal(v.getUint16(desc + RX.PEER_PORT, true), VXLAN_PORT);
      const slot = w.slotPtr.findIndex((s) => ptr >= s && ptr < s + w.core.slotCapacity);
      assert.ok(slot >= 0 && ptr + len <= w.slotPtr[slot] + w.core.slotCapacity, `descriptor ${i} inside its slot`);
      for (let off = 0; off < len; off += stride) {
        got.push(w.core.bytes.slice(ptr + off, ptr + Math.min(off + stride, len)));
      }
    }
    if (accounted(w).total - before.total < datagrams) await new Promise((r) => setTimeout(r, 1));
  }
  const after = accounted(w);
  // Nothing outside the slots and descriptors changed.
  const mem1 = w.core.bytes;
  let from = 0;
  for (const [a, b] of [...regions.sort((x, y) => x[0] - y[0]), [mem1.length, mem1.length]]) {
    for (let i = from; i < a; i++) {
      if (mem0[i] !== mem1[i]) assert.fail(`receive() wrote at ${i}, outside the slots and RX descriptors`);
    }
    from = Math.max(from, b);
  }
  assert.equal(after.total - before.total, datagrams, "each datagram in exactly one counter");
  assert.equal(after.misdirected - before.misdirected, misdirected, "misdirected");
  assert.equal(after.decrypted - before.decrypted, expected.length, "decrypted: the valid ones only");
  assert.deepEqual(got, expected, "the valid VXLAN datagrams, byte-exact, in order");
  // The next read finds nothing left over.
  assert.equal(w.path.receive(0, BURST, w.slotPtr), 0);
  assert.equal(accounted(w).total, after.total);
}

Deno.test("esp path: a GRO batch of valid datagrams reaches the core as one descriptor of their stride", async () => {
  const w = await world();
  try {
    const vlen = 100, stride = sealedLen(vlen);
    const items: Item[] = [0, 1, 2, 3].map((seed) => ({ kind: "valid", net: 0, vlen, seed, dup: false }));
    await runCase(w, [{ stride, items }]);
    const v = w.core.view;
    assert.equal(v.getUint32(w.core.rxPtr + RX.LEN, true), 4 * vlen, "one buffer of four, merged by GRO");
    assert.equal(v.getUint16(w.core.rxPtr + RX.GSO_SIZE, true), vlen);
  } finally {
    close(w);
  }
});

Deno.test("esp path: a datagram of every length, a runt, an empty one: each counted once", async () => {
  const w = await world();
  try {
    const e = seal(w, 0, vxlanOf(NETS[0].vni, 64, 7));
    const msgs: Message[] = [];
    for (let keep = 0; keep < e.length; keep++) {
      msgs.push({ stride: 0, items: [{ kind: "junk", bytes: e.slice(0, keep) }] });
      if (msgs.length === 16) await runCase(w, msgs.splice(0));
    }
    await runCase(w, msgs);
  } finally {
    close(w);
  }
});

Deno.test("esp path: a datagram longer than a slot (cut by recvmmsg) is counted once, where its SPI puts it", async () => {
  const w = await world(11);
  try {
    const big = w.core.slotCapacity + 1000;
    assert.ok(big < 65000);
    const msgs: Message[] = [
      { stride: 0, items: [{ kind: "junk", bytes: new Uint8Array(big).fill(0xee) }] },
      { stride: 0, items: [{ kind: "spi", net: 1, rest: new Uint8Array(big - 4).fill(0x11) }] },
      { stride: 0, items: [{ kind: "valid", net: 0, vlen: 200, seed: 3, dup: false }] },
    ];
    const n0 = w.path.nodeCounters().unknown_spi, m0 = w.counters()[1].esp_malformed;
    await runCase(w, msgs);
    assert.equal(w.path.nodeCounters().unknown_spi - n0, 1, "no SA: node-wide");
    assert.equal(w.counters()[1].esp_malformed - m0, 1, "its SA's network: malformed (no weft node sends one)");
  } finally {
    close(w);
  }
});

Deno.test("esp path: arbitrary datagrams never throw, write only slots, are each counted once; valid ones delivered byte-exact", async () => {
  const w = await world();
  try {
    await fc.assert(fc.asyncProperty(caseArb, (msgs) => runCase(w, msgs)), {
      numRuns: Number(Deno.env.get("ESP_FUZZ_RUNS") ?? 100),
    });
  } finally {
    close(w);
  }
});
