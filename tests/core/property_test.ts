// Properties of the core under arbitrary input (fast-check): no input makes the module trap,
// nothing is written outside a frame's own slot (headroom for the VXLAN header, the frame, its
// tailroom, or the segmentation arena), and every frame is accounted for: forwarded (≥ 1 TX entry)
// or dropped with a reason. With offloads, that includes arbitrary virtio-net headers and UDP GRO
// buffers with arbitrary strides.
import assert from "node:assert/strict";
import fc from "fast-check";
import { loadCore } from "../../cli/core/load.ts";
import { PORT_UNDERLAY, PORT_UNDERLAY_ETH, verdictOf, type WeftCore } from "../../cli/core/mod.ts";
import { eth, fixture, tcpSuper, vxlan } from "./frames.ts";

const BURST = 64;
const outer = fixture("kernel-vxlan-vni42/outer.pcap").map((p) => p.data);
const inner = fixture("kernel-vxlan-vni42/inner.pcap").map((p) => p.data);

async function lab(): Promise<WeftCore> {
  const core = await loadCore({ burst: BURST, slots: BURST, txEntries: 256, fdbBits: 6, maxPorts: 4 });
  core.addVni(42, { mtu: 1450, learnMax: 20 });
  core.addVni(100, { mtu: 1500 });
  core.attachPort(0, 42);
  core.attachPort(1, 42);
  core.attachPort(2, 100);
  for (const a of ["198.18.0.2", "198.18.0.3", "fd00::1:2"]) core.addFlood(42, core.addVtep(a));
  core.addNeighbour(42, "10.0.0.2", "02:42:0a:00:00:02");
  core.addNeighbour(42, "fd00::2", "02:42:0a:00:00:02");
  core.addLocalAddress("198.18.0.77"); // one of `peers`: its datagrams are self_vtep drops
  return core;
}

interface Input {
  data: Uint8Array;
  port: number;
  peer: number;
  /** Offset from the normal frame start; non-zero puts the descriptor off the slot's rules. */
  skew: number;
  /** The outer TOS byte the host reports for an underlay datagram (RFC 6040 decapsulation). */
  tos: number;
}

const peers = [
  new Uint8Array(16),
  ...["198.18.0.2", "198.18.0.3", "198.18.0.77"].map((a) => {
    const p = new Uint8Array(16);
    p[10] = p[11] = 0xff;
    p.set(a.split(".").map(Number), 12);
    return p;
  }),
];

/** Frames: random bytes, real frames and datagrams, and real ones mutated or cut. */
function frameArb(maxLen: number): fc.Arbitrary<Uint8Array> {
  const real = fc.constantFrom(...outer, ...inner, ...outer.map((o) => o.subarray(42)));
  const made = fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 14, max: 1600 })).map(
    ([kind, len]) => {
      const f = eth(
        kind === 0 ? "ff:ff:ff:ff:ff:ff" : "02:42:0a:00:00:0" + (kind + 1),
        "02:42:0a:00:00:09",
        0x0800,
        len,
      );
      return kind === 2 ? vxlan(42, f) : f;
    },
  );
  const mutated = fc.tuple(
    real,
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    fc.option(fc.nat()),
  ).map(([f, flips, cut]) => {
    const g = f.slice();
    for (const [at, v] of flips) g[at % g.length] = v;
    return cut === null ? g : g.subarray(0, cut % (g.length + 1));
  });
  const random = fc.uint8Array({ minLength: 0, maxLength: maxLen });
  return fc.oneof(real, made, mutated, random).map((f) => f.subarray(0, maxLen));
}

function inputArb(maxLen: number): fc.Arbitrary<Input> {
  return fc.record({
    data: frameArb(maxLen),
    port: fc.constantFrom(0, 1, 2, 3, 7, PORT_UNDERLAY, PORT_UNDERLAY, PORT_UNDERLAY_ETH, PORT_UNDERLAY_ETH),
    peer: fc.integer({ min: 0, max: peers.length - 1 }),
    skew: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, {
      weight: 1,
      arbitrary: fc.integer({ min: -200, max: 200 }),
    }),
    tos: fc.integer({ min: 0, max: 255 }),
  });
}

function totalDrops(core: WeftCore): number {
  let n = core.counters().drops;
  for (const vni of [42, 100]) n += core.counters(vni).drops;
  return n;
}

Deno.test("no burst of arbitrary frames traps the core, writes outside its slot, or goes unaccounted", async () => {
  const core = await lab();
  const slotSize = core.slotSize;
  let now = 1;
  const stats = { runs: 0, forwarded: 0, dropped: 0 };
  fc.assert(
    fc.property(
      fc.array(inputArb(core.slotCapacity), { minLength: 1, maxLength: BURST, size: "max" }),
      (inputs) => {
        // Fill every slot with a marker, then place the frames.
        const slots = core.bytes.subarray(core.slotBase, core.slotBase + BURST * slotSize);
        slots.fill(0xa5);
        inputs.forEach((inp, i) => {
          const start = core.slotData(i);
          core.bytes.set(inp.data, start);
          core.describe(i, start + inp.skew, inp.data.length, inp.port, peers[inp.peer], 0, { tos: inp.tos });
        });
        const before = slots.slice();
        const dropsBefore = totalDrops(core);
        const n = core.process(inputs.length, now++);
        assert.ok(n <= core.config.txEntries);

        // Writes: only inside each used slot, from 8 bytes before the frame (VXLAN header) to the
        // end of its tailroom; unused slots untouched.
        for (let s = 0; s < BURST; s++) {
          const base = s * slotSize;
          const inp = inputs[s];
          let lo = slotSize, hi = 0;
          if (inp && core.verdict(s) !== 1 /* bad_descriptor */) {
            const start = core.headroom + inp.skew;
            lo = start - 8 - (inp.port === PORT_UNDERLAY_ETH ? 0 : 0);
            hi = start + inp.data.length + 64;
          }
          for (let b = 0; b < slotSize; b++) {
            if (b >= lo && b < hi) continue;
            if (slots[base + b] !== before[base + b]) {
              assert.fail(
                `slot ${s} byte ${b} changed outside [${lo}, ${hi}) (port ${inp?.port}, len ${inp?.data.length})`,
              );
            }
          }
        }
        // TX entries point inside the slot of the frame they came from.
        const fwd = new Set<number>();
        for (let t = 0; t < n; t++) {
          const e = core.tx(t);
          fwd.add(e.rxIndex);
          const slotStart = core.slotBase + e.rxIndex * slotSize;
          assert.ok(e.rxIndex < inputs.length);
          assert.ok(e.ptr >= slotStart && e.ptr + e.len <= slotStart + slotSize, `tx ${t} outside its slot`);
        }
        // Accounting: forwarded ⇔ verdict 0 and at least one TX entry; every other frame counted once.
        let dropped = 0;
        for (let i = 0; i < inputs.length; i++) {
          const v = core.verdict(i);
          if (v === 0) assert.ok(fwd.has(i), `frame ${i} forwarded without a TX entry`);
          else {
            assert.ok(!fwd.has(i), `frame ${i} dropped (${v}) but sent`);
            dropped++;
          }
        }
        assert.equal(totalDrops(core) - dropsBefore, dropped);
        stats.runs++;
        stats.forwarded += inputs.length - dropped;
        stats.dropped += dropped;
      },
    ),
    { numRuns: 300, seed: Number(Deno.env.get("WEFT_FC_SEED") ?? Date.now() % 2 ** 31) },
  );
  assert.equal(stats.runs, 300);
  assert.ok(
    stats.forwarded > 1000 && stats.dropped > 1000,
    `both outcomes exercised: ${JSON.stringify(stats)}`,
  );
  console.log(stats, core.counters(42).dropped, core.counters().dropped);
});

Deno.test("counters add up: per-VNI rx equals forwarded plus dropped for local ingress", async () => {
  const core = await lab();
  fc.assert(
    fc.property(
      fc.array(fc.tuple(frameArb(1500), fc.constantFrom(0, 1)), { minLength: 1, maxLength: BURST }),
      (fr) => {
        const c0 = core.counters(42);
        fr.forEach(([f, port], i) => core.load(i, f, port));
        core.process(fr.length, 5);
        const c1 = core.counters(42);
        let ok = 0;
        for (let i = 0; i < fr.length; i++) if (core.verdict(i) === 0) ok++;
        assert.equal(c1.rx_frames - c0.rx_frames, fr.length);
        assert.equal(c1.drops - c0.drops, fr.length - ok);
      },
    ),
    { numRuns: 100 },
  );
});

Deno.test("offloads: arbitrary virtio-net headers and GRO strides never trap, stray, or go unaccounted", async () => {
  const SLOT_LOG2 = 13, N = 16;
  const core = await loadCore({
    burst: N,
    slots: N,
    txEntries: 512,
    slotSizeLog2: SLOT_LOG2,
    arenaBytes: 1 << 16,
    fdbBits: 6,
    maxPorts: 4,
  });
  core.addVni(42, { mtu: 1450 });
  core.attachPort(0, 42);
  core.attachPort(1, 42);
  core.addFlood(42, core.addVtep("198.18.0.2"));
  core.addStatic(42, "02:42:0a:00:00:02", { vtep: 0 });
  core.setCoalescing(true);
  const slotSize = core.slotSize, cap = core.slotCapacity;
  const [arenaLo, arenaHi] = core.arenaRange;
  const [pmtuLo, pmtuHi] = core.pmtuRange;
  const supers = [tcpSuper(3000), tcpSuper(6000, { v6: true, mss: 1378 }), tcpSuper(500)];
  const frame = fc.oneof(
    frameArb(cap),
    fc.constantFrom(...supers.map((s) => s.frame)),
    fc.tuple(fc.constantFrom(...supers.map((s) => s.frame)), fc.nat()).map(([f, cut]) =>
      f.subarray(0, cut % f.length)
    ),
  );
  const vnet = fc.oneof(
    fc.constantFrom(...supers.map((s) => s.vnet)),
    fc.uint8Array({ minLength: 10, maxLength: 10 }),
    fc.tuple(
      fc.constantFrom(0, 1, 2),
      fc.constantFrom(0, 1, 3, 4, 5, 0x81, 0x84, 0x7f),
      fc.nat(200),
      fc.nat(3000),
      fc.nat(200),
      fc.nat(40),
    )
      .map(([f, t, h, g, s, o]) => {
        const b = new Uint8Array(10);
        const v = new DataView(b.buffer);
        b[0] = f;
        b[1] = t;
        v.setUint16(2, h, true);
        v.setUint16(4, g, true);
        v.setUint16(6, s, true);
        v.setUint16(8, o, true);
        return b;
      }),
  );
  const input = fc.record({
    data: frame.map((f) => f.subarray(0, cap)),
    vnet: fc.option(vnet, { freq: 3 }),
    port: fc.constantFrom(0, 1, PORT_UNDERLAY),
    stride: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3000 })),
  });
  let runs = 0, segmented = 0;
  fc.assert(
    fc.property(fc.array(input, { minLength: 1, maxLength: N, size: "max" }), (inputs) => {
      const slots = core.bytes.subarray(core.slotBase, core.slotBase + N * slotSize);
      slots.fill(0xa5);
      inputs.forEach((inp, i) => {
        const start = core.slotData(i);
        if (inp.vnet) core.bytes.set(inp.vnet, start - 10);
        core.bytes.set(inp.data, start);
        core.describe(i, start, inp.data.length, inp.port, peers[1], 4789, {
          vnet: inp.vnet !== null && inp.port !== PORT_UNDERLAY,
          groStride: inp.port === PORT_UNDERLAY ? inp.stride : 0,
        });
      });
      const before = slots.slice();
      const gsoBefore = core.counters(42).gso_frames;
      const n = core.process(inputs.length, 7);
      for (let s = 0; s < N; s++) {
        const lo = s < inputs.length ? core.headroom - 8 : slotSize;
        const hi = s < inputs.length ? core.headroom + inputs[s].data.length + 64 : 0;
        for (let b = 0; b < slotSize; b++) {
          if ((b < lo || b >= hi) && slots[s * slotSize + b] !== before[s * slotSize + b]) {
            assert.fail(`slot ${s} byte ${b} changed outside [${lo}, ${hi})`);
          }
        }
      }
      const fwd = new Set<number>();
      for (let t = 0; t < n; t++) {
        const e = core.tx(t);
        const slotStart = core.slotBase + e.rxIndex * slotSize;
        const inSlot = e.ptr >= slotStart && e.ptr + e.len <= slotStart + slotSize;
        const inArena = e.ptr >= arenaLo && e.ptr + e.len <= arenaHi;
        const isReply = e.ptr >= pmtuLo && e.ptr + e.len <= pmtuHi;
        assert.ok(
          inSlot || inArena || isReply,
          `tx ${t} (${e.ptr}+${e.len}) outside its slot, the arena and the PMTU replies`,
        );
        // An ICMP reply goes back to the port of a frame that was dropped as over_mtu.
        if (isReply) {
          assert.equal(core.verdict(e.rxIndex), verdictOf("over_mtu"), `tx ${t}: a reply to a dropped frame`);
        } else fwd.add(e.rxIndex);
      }
      for (let i = 0; i < inputs.length; i++) {
        assert.equal(
          core.verdict(i) === 0,
          fwd.has(i),
          `frame ${i}: verdict ${core.verdict(i)} vs TX entries`,
        );
      }
      segmented += core.counters(42).gso_frames - gsoBefore;
      runs++;
    }),
    { numRuns: 200 },
  );
  assert.equal(runs, 200);
  assert.ok(segmented > 20, `real super-frames were cut: ${segmented}`);
});
