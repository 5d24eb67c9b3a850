// Properties of the core under arbitrary input (fast-check): no input makes the module trap; no
// byte of linear memory changes that the data path may not write (tests/core/memory.ts: a whole-
// memory diff, each change attributed to a region — a frame's own slot window, the TX entries
// returned, the RX descriptors of the burst, counters that only rise, the learning tables, the
// arena); and every frame is accounted for: forwarded (≥ 1 TX entry) or dropped with a counter.
// With offloads, that includes arbitrary virtio-net headers, UDP GRO buffers with arbitrary
// strides, and real TCP-over-VXLAN runs (cut by the core from super-frames, then mutated), with a
// guard that GRO did merge them.
import assert from "node:assert/strict";
import fc from "fast-check";
import { loadCore } from "../../cli/core/load.ts";
import { PORT_UNDERLAY, PORT_UNDERLAY_ETH, verdictOf, type WeftCore } from "../../cli/core/mod.ts";
import { cutSuper, eth, fixture, MSS, type Super, tcpSuper, vxlan } from "./frames.ts";
import { regionsOf, writeViolation } from "./memory.ts";
import { OFFLOAD_CONFIG } from "../../cli/core/mod.ts";

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
  const slotSize = core.slotSize, regions = regionsOf(core);
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
        const before = core.bytes.slice();
        const dropsBefore = totalDrops(core);
        const n = core.process(inputs.length, now++);
        assert.ok(n <= core.config.txEntries);

        // Writes: in a used slot from 8 bytes before the frame (VXLAN header) to the end of its
        // tailroom, unused slots untouched; nothing anywhere else but what the data path keeps.
        const bad = writeViolation(core, regions, before, inputs.length, n, (s) => {
          const inp = inputs[s];
          if (!inp || core.verdict(s) === 1 /* bad_descriptor */) return [slotSize, 0];
          const start = core.headroom + inp.skew;
          return [start - 8, start + inp.data.length + 64];
        });
        if (bad) assert.fail(`${bad} (inputs ${inputs.map((i) => `${i.port}/${i.data.length}`).join(" ")})`);
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

/** The MAC a receiving test core has on local port 1: GRO runs are addressed to it. */
const GRO_DST = [0x02, 0x42, 0x0a, 0x00, 0x00, 0x05];

/**
 * Real TCP-over-VXLAN runs: super-frames (IPv4 and IPv6, with and without PSH/FIN) addressed to
 * GRO_DST and cut by a core as it cuts them for a VTEP; each run is the datagrams of one, as a
 * UDP_GRO socket would return them back to back.
 */
async function groRuns(): Promise<Uint8Array[][]> {
  const tx = await loadCore(OFFLOAD_CONFIG);
  tx.addVni(42, { mtu: 1450 });
  tx.attachPort(0, 42);
  tx.addStatic(42, "02:42:0a:00:00:05", { vtep: tx.addVtep("198.18.0.2") });
  const supers: Super[] = [
    tcpSuper(5 * MSS),
    tcpSuper(4000),
    tcpSuper(3 * 1378 + 100, { v6: true, mss: 1378 }),
    tcpSuper(4500, { flags: 0x10 }), // ACK only
    tcpSuper(4500, { flags: 0x19 }), // FIN on the last segment only
  ];
  return supers.map((s) => {
    s.frame.set(GRO_DST, 0);
    const out = cutSuper(tx, s);
    assert.ok(out.length >= 3, `a run of ${out.length} datagrams`);
    return out;
  });
}

/** A run as one GRO buffer, maybe mutated: a byte flipped, two datagrams swapped, one dropped. */
function groBufferArb(runs: Uint8Array[][]): fc.Arbitrary<{ data: Uint8Array; stride: number }> {
  return fc.tuple(
    fc.constantFrom(...runs),
    fc.oneof(
      { weight: 4, arbitrary: fc.constant(null) },
      fc.tuple(fc.constant("flip"), fc.nat(), fc.nat()),
      fc.tuple(fc.constant("swap"), fc.nat(), fc.nat()),
      fc.tuple(fc.constant("drop"), fc.nat(), fc.nat()),
    ),
  ).map(([run, m]) => {
    let d = run.map((x) => x.slice());
    if (m) {
      const [kind, a, b] = m, i = a % d.length;
      if (kind === "flip") d[i][b % d[i].length] ^= 0x40;
      if (kind === "swap") [d[i], d[b % d.length]] = [d[b % d.length], d[i]];
      // Dropping any but the last leaves a hole in the sequence, and a short datagram mid-buffer.
      if (kind === "drop") d = d.filter((_, k) => k !== i);
    }
    const data = new Uint8Array(d.reduce((n, x) => n + x.length, 0));
    let off = 0;
    for (const x of d) {
      data.set(x, off);
      off += x.length;
    }
    return { data, stride: d[0].length };
  });
}

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
  core.addStatic(42, "02:42:0a:00:00:05", { port: 1 });
  core.setCoalescing(true);
  const slotSize = core.slotSize, cap = core.slotCapacity, regions = regionsOf(core);
  const [arenaLo, arenaHi] = core.arenaRange;
  const runs = await groRuns();
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
  const arbitrary = fc.record({
    data: frame.map((f) => f.subarray(0, cap)),
    vnet: fc.option(vnet, { freq: 3 }),
    port: fc.constantFrom(0, 1, PORT_UNDERLAY),
    stride: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3000 })),
  });
  const groInput = groBufferArb(runs).map(({ data, stride }) => ({
    data,
    vnet: null,
    port: PORT_UNDERLAY,
    stride,
  }));
  // Real super-frames with their own virtio-net header, from a TAP: the segmentation path proper.
  const superInput = fc.constantFrom(...supers).map((s) => ({
    data: s.frame,
    vnet: s.vnet,
    port: 0,
    stride: 0,
  }));
  const input = fc.oneof(
    { weight: 3, arbitrary },
    { weight: 1, arbitrary: groInput },
    { weight: 1, arbitrary: superInput },
  );
  let bursts = 0, segmented = 0, merged = 0;
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
      const before = core.bytes.slice();
      const c0 = core.counters(42), g0 = core.counters();
      const n = core.process(inputs.length, 7);
      const c1 = core.counters(42), g1 = core.counters();
      const merges = c1.gro_merged - c0.gro_merged;
      const bad = writeViolation(core, regions, before, inputs.length, n + merges, (s) => {
        if (s >= inputs.length) return [slotSize, 0];
        return [core.headroom - 8, core.headroom + inputs[s].data.length + 64];
      });
      if (bad) assert.fail(bad);
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
      // Accounting. A frame from a port (a super-frame too) is one unit: forwarded, or dropped and
      // counted once. A GRO buffer's datagrams are switched one by one: it is forwarded if any
      // was, and each dropped datagram is counted (so 1..datagrams − forwarded ones).
      let localDropped = 0, groDroppedMin = 0, groDroppedMax = 0;
      for (let i = 0; i < inputs.length; i++) {
        const v = core.verdict(i), inp = inputs[i];
        assert.equal(v === 0, fwd.has(i), `frame ${i}: verdict ${v} vs TX entries`);
        const grams = inp.port === PORT_UNDERLAY && inp.stride > 0
          ? Math.max(1, Math.ceil(inp.data.length / inp.stride))
          : 1;
        if (grams === 1) localDropped += v === 0 ? 0 : 1;
        else {
          groDroppedMin += v === 0 ? 0 : 1;
          groDroppedMax += v === 0 ? grams - 1 : grams;
        }
      }
      const drops = c1.drops - c0.drops + g1.drops - g0.drops;
      assert.ok(
        drops >= localDropped + groDroppedMin && drops <= localDropped + groDroppedMax,
        `drops counted ${drops}, expected ${localDropped} + [${groDroppedMin}, ${groDroppedMax}]`,
      );
      segmented += c1.gso_frames - c0.gso_frames;
      merged += c1.gro_merged - c0.gro_merged;
      bursts++;
    }),
    { numRuns: 200 },
  );
  assert.equal(bursts, 200);
  assert.ok(segmented > 100, `real super-frames were cut: ${segmented}`);
  // The guard: the generated TCP-over-VXLAN runs did reach GRO and were merged.
  assert.ok(merged > 100, `GRO merged real runs: ${merged} merges`);
  console.log({ segmented, merged });
});

Deno.test("linear memory never grows after init: full tables, every control call, bursts of anything", async () => {
  const core = await lab();
  const buffer = core.exports.memory.buffer, size = buffer.byteLength;
  // Fill what can be filled until the core says no: VTEPs, static FDB entries, neighbours.
  let vteps = 0, statics = 0, neighbours = 0;
  for (let i = 0; i < 5000; i++) {
    try {
      core.addVtep(`198.19.${i >> 8}.${i & 255}`);
      vteps++;
    } catch { /* full */ }
    try {
      core.addStatic(
        42,
        `02:00:00:00:${((i >> 8) & 255).toString(16).padStart(2, "0")}:${
          (i & 255).toString(16).padStart(2, "0")
        }`,
        { port: i & 1 },
      );
      statics++;
    } catch { /* full */ }
    try {
      core.addNeighbour(42, `10.1.${i >> 8}.${i & 255}`, "02:42:0a:00:00:07");
      neighbours++;
    } catch { /* full */ }
  }
  assert.ok(vteps > 0 && statics > 0 && neighbours > 0, JSON.stringify({ vteps, statics, neighbours }));
  fc.assert(
    fc.property(fc.array(inputArb(core.slotCapacity), { minLength: 1, maxLength: BURST, size: "max" }), (inputs) => {
      inputs.forEach((inp, i) => {
        const start = core.slotData(i);
        core.bytes.set(inp.data, start);
        core.describe(i, start, inp.data.length, inp.port, peers[inp.peer]);
      });
      core.process(inputs.length, 3);
    }),
    { numRuns: 50 },
  );
  core.age(1 << 20);
  core.flushFdb(42, false);
  core.detachPort(2);
  core.removeVni(100);
  assert.equal(core.exports.memory.buffer, buffer, "the same ArrayBuffer: never grown, views stay valid");
  assert.equal(core.exports.memory.buffer.byteLength, size);
});
