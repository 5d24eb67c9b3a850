// npm run bench:core — in-memory bursts through the Wasm core, no I/O, beside the same switch
// written as plain TypeScript (ts_switch.ts), in the same process.
//
// Each case writes its frames into 1024 slots once; each burst copies one of 16 prebuilt
// descriptor images (64 descriptors of RX_DESC_LEN bytes) over the RX region, as a receive loop would, and calls
// process(64). So 1024 distinct frames cycle: the FDB sees 1024 (encap) or 512 + 512 (decap)
// distinct keys, not one cached entry. Timed rounds alternate Wasm and TS so that load from other
// processes hits both; the table shows the median round.
//
//   --json FILE    also write the figures, with the run's context and load average, as JSON
//                  (tests/bench/results/ keeps the ones the README quotes)
//   BENCH_SECONDS  seconds per case and implementation (default 1)
//   BENCH_ONLY     run only cases whose "case/frame/FDB" label contains this text
//   WEFT_WASM      benchmark another build of the core (a profiling variant)

import { coreModule } from "../../cli/core/load.ts";
import {
  type CoreConfig,
  DEFAULT_CONFIG,
  PORT_UNDERLAY,
  RX_DESC_LEN,
  TARGET_REMOTE,
  type TxEntry,
  WeftCore,
} from "../../cli/core/mod.ts";
import { parseIp } from "../../cli/core/addr.ts";
import { TsSwitch } from "./ts_switch.ts";
import { udpFrame, vxlan } from "../core/frames.ts";
import process from "node:process";
import { parseArgs } from "node:util";
import { loadavg, runContext, writeReport } from "./report.ts";

/** What the benchmark needs of either implementation; WeftCore and TsSwitch both have it. */
export interface Switch {
  readonly bytes: Uint8Array;
  readonly rxPtr: number;
  readonly slotBase: number;
  slotData(i: number): number;
  describe(i: number, ptr: number, len: number, port: number, peer?: Uint8Array, peerPort?: number): void;
  process(count: number, now: number): number;
  verdict(i: number): number;
  tx(i: number): TxEntry;
  addVni(vni: number, o?: { mtu?: number }): number;
  attachPort(port: number, vni: number): void;
  addVtep(address: string | Uint8Array, port?: number): number;
  addFlood(vni: number, vtep: number): void;
  addStatic(vni: number, mac: string | Uint8Array, to: { port: number } | { vtep: number }): void;
  readonly fdbSize: number;
}

export const VNI = 42;
export const NOW = 1000;
const BURST = 64;
const SLOTS = 1024;
const GROUPS = SLOTS / BURST;
const VTEPS = 8;
export const PEER = parseIp("198.18.0.2");

/** A small seeded PRNG (xorshift32), so both implementations get the same tables. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0);
  };
}

/** Unicast, locally administered MAC number k of a working set `role` (distinct by construction). */
export function workMac(role: number, k: number): Uint8Array {
  const r = Math.imul(k + 1, 0x9e3779b1) >>> 0; // scatter the low bytes; (role, k) stays unique
  return Uint8Array.of(0x02, role, k >>> 8, k & 0xff, r >>> 24, r >>> 16 & 0xff);
}

const BROADCAST = new Uint8Array(6).fill(0xff);
const LOCAL_SRC = Uint8Array.of(0x02, 0x42, 0x0a, 0x00, 0x00, 0x01);

// ── setup ──────────────────────────────────────────────────────────────────────────────────

type Kind = "encap" | "decap" | "flood";
const KIND_LABEL: Record<Kind, string> = {
  encap: "known-unicast encap",
  decap: "decap + learn",
  flood: "flood to 8 VTEPs",
};
/** Entries each case's first pass learns (the rest of the table is filled with static ones). */
const LEARNED: Record<Kind, number> = { encap: 1, decap: 512, flood: 1 };
/** TX entries per input frame: flood copies go to port 1 and 8 VTEPs. */
const FANOUT: Record<Kind, number> = { encap: 1, decap: 1, flood: 1 + VTEPS };

function fdbBitsFor(entries: number): number {
  // Default table for small FDBs; otherwise at most ~1/2 full (1M: 2^21 buckets, as in the brief).
  return entries <= 4096 ? DEFAULT_CONFIG.fdbBits : Math.ceil(Math.log2(entries * 2));
}

export function benchConfig(fdbEntries: number): CoreConfig {
  return { ...DEFAULT_CONFIG, burst: BURST, slots: SLOTS, fdbBits: fdbBitsFor(fdbEntries) };
}

/** A static entry without the binding's per-call formatting (1M of them take a while otherwise). */
function staticFast(sw: Switch, mac: Uint8Array, target: number): void {
  if (sw instanceof TsSwitch) {
    const rc = sw.addStaticRaw(
      VNI,
      mac[0] | mac[1] << 8 | mac[2] << 16 | mac[3] << 24,
      mac[4] | mac[5] << 8,
      target,
    );
    if (rc !== 0) throw new Error(`TS static entry: ${rc}`);
  } else {
    const core = sw as WeftCore;
    core.bytes.set(mac, core.exports.args());
    const rc = core.exports.fdbAdd(VNI, target);
    if (rc !== 0) throw new Error(`Wasm static entry: ${rc}`);
  }
}

/** VNI 42 (MTU 1500, learning), ports 0 and 1, VTEPs 198.18.0.2–.9 all in the flood list. */
export function configure(sw: Switch): void {
  sw.addVni(VNI, { mtu: 1500 });
  sw.attachPort(0, VNI);
  sw.attachPort(1, VNI);
  for (let v = 0; v < VTEPS; v++) sw.addFlood(VNI, sw.addVtep(`198.18.0.${2 + v}`));
}

function prefill(sw: Switch, kind: Kind, entries: number): void {
  if (kind === "encap") {
    for (let k = 0; k < 1024; k++) staticFast(sw, workMac(1, k), (TARGET_REMOTE | (k % VTEPS)) >>> 0);
  } else if (kind === "decap") {
    for (let k = 0; k < 512; k++) staticFast(sw, workMac(2, k), 1);
  }
  fillTo(sw, entries - LEARNED[kind]);
}

/** Random static entries (remote or on port 1) until the FDB holds `goal` entries. */
function fillTo(sw: Switch, goal: number): void {
  const next = rng(0x5eed);
  const mac = new Uint8Array(6);
  while (sw.fdbSize < goal) {
    const a = next(), b = next();
    mac[0] = 0x06; // locally administered unicast, never in a working set
    mac[1] = a, mac[2] = a >>> 8, mac[3] = a >>> 16, mac[4] = a >>> 24, mac[5] = b;
    staticFast(sw, mac, b & 0x100 ? (TARGET_REMOTE | (b >>> 9) % VTEPS) >>> 0 : 1);
  }
}

/** Frame `i` of a case and how to describe it: [bytes, port]. */
function frameFor(kind: Kind, i: number, size: number): [Uint8Array, number] {
  const dstIp = 0x0a010000 | i;
  if (kind === "encap") {
    return [udpFrame(workMac(1, i), LOCAL_SRC, 0x0a000001, dstIp, 1024 + i, 4000, size), 0];
  }
  if (kind === "decap") {
    const inner = udpFrame(
      workMac(2, i & 511),
      workMac(3, (i * 5) & 511),
      0x0a020001,
      dstIp,
      1024 + i,
      4000,
      size,
    );
    return [vxlan(VNI, inner), PORT_UNDERLAY];
  }
  return [udpFrame(BROADCAST, LOCAL_SRC, 0x0a000001, 0x0a00ffff, 1024 + i, 67, size), 0];
}

/** Writes the frames into the slots and returns the 16 descriptor images (64 descriptors each). */
function loadFrames(sw: Switch, kind: Kind, size: number): Uint8Array[] {
  const images: Uint8Array[] = [];
  for (let i = 0; i < SLOTS; i++) {
    const [f, port] = frameFor(kind, i, size);
    sw.bytes.set(f, sw.slotData(i));
    sw.describe(i % BURST, sw.slotData(i), f.length, port, port === PORT_UNDERLAY ? PEER : undefined, 50000);
    if (i % BURST === BURST - 1) {
      images.push(sw.bytes.slice(sw.rxPtr, sw.rxPtr + BURST * RX_DESC_LEN));
    }
  }
  return images;
}

function burst(sw: Switch, images: Uint8Array[], g: number): number {
  sw.bytes.set(images[g % GROUPS], sw.rxPtr);
  return sw.process(BURST, NOW);
}

/** One pass over all slots; every frame must be forwarded with the case's fan-out. */
function checkPass(sw: Switch, images: Uint8Array[], kind: Kind, name: string): void {
  for (let g = 0; g < GROUPS; g++) {
    const n = burst(sw, images, g);
    for (let i = 0; i < BURST; i++) {
      if (sw.verdict(i) !== 0) {
        throw new Error(`${name} ${kind}: frame ${i} dropped, verdict ${sw.verdict(i)}`);
      }
    }
    if (n !== BURST * FANOUT[kind]) {
      throw new Error(`${name} ${kind}: ${n} TX entries, expected ${BURST * FANOUT[kind]}`);
    }
  }
}

// Wall and CPU seconds of all timed rounds: their ratio says how much other processes took.
const spent = { wall: 0, cpu: 0 };

/**
 * Bursts for about `ms` of wall time; returns frames per second of this process's CPU time, so
 * that other processes on the machine (2 cores, shared) slow the run down but not the result.
 */
function timed(sw: Switch, images: Uint8Array[], ms: number): number {
  const bytes = sw.bytes, rx = sw.rxPtr;
  let bursts = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let t = t0;
  do {
    for (let k = 0; k < 16; k++) {
      bytes.set(images[(bursts + k) & (GROUPS - 1)], rx);
      sw.process(BURST, NOW);
    }
    bursts += 16;
    t = performance.now();
  } while (t - t0 < ms);
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  spent.wall += (t - t0) / 1000;
  spent.cpu += cpu;
  return (bursts * BURST) / cpu;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

interface Row {
  label: string;
  kind: Kind;
  size: number;
  fdb: number;
  wasm: number;
  ts: number;
  fdbActual: number;
}

function runCase(
  module: WebAssembly.Module,
  kind: Kind,
  fdb: number,
  sizes: number[],
  seconds: number,
  only: string,
): Row[] {
  const wanted = sizes.filter((s) => `${kind}/${s}/${fdbLabel(fdb)}`.includes(only));
  if (wanted.length === 0) return [];
  const config = benchConfig(fdb);
  const core = WeftCore.createSync(module, config);
  const ts = new TsSwitch(config);
  const both: [string, Switch][] = [["Wasm", core], ["TS", ts]];
  for (const [, sw] of both) {
    configure(sw);
    prefill(sw, kind, fdb);
  }
  const rows: Row[] = [];
  for (const size of wanted) {
    const images = both.map(([name, sw]) => {
      const im = loadFrames(sw, kind, size);
      checkPass(sw, im, kind, name);
      return im;
    });
    // 1k encap holds its 1024 destinations and the learned source: 1025.
    if (core.fdbSize !== ts.fdbSize || Math.abs(core.fdbSize - fdb) > 1) {
      throw new Error(`FDB sizes ${core.fdbSize} (Wasm), ${ts.fdbSize} (TS), expected ${fdb}`);
    }
    timed(core, images[0], 100);
    timed(ts, images[1], 100);
    const rounds = 5, ms = (seconds * 1000) / rounds;
    const w: number[] = [], t: number[] = [];
    for (let r = 0; r < rounds; r++) {
      w.push(timed(core, images[0], ms));
      t.push(timed(ts, images[1], ms));
    }
    checkPass(core, images[0], kind, "Wasm");
    checkPass(ts, images[1], kind, "TS");
    rows.push({
      label: KIND_LABEL[kind],
      kind,
      size,
      fdb,
      wasm: median(w),
      ts: median(t),
      fdbActual: core.fdbSize,
    });
  }
  return rows;
}

function fdbLabel(n: number): string {
  return n >= 1 << 20 ? `${n / (1 << 20)}M` : n >= 1024 ? `${Math.round(n / 1024)}k` : `${n}`;
}

/** ns per call of process(0): the JS→Wasm (or JS→JS) call alone. */
function emptyCall(sw: Switch): number {
  const n = 2_000_000;
  for (let i = 0; i < 100_000; i++) sw.process(0, NOW);
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) sw.process(0, NOW);
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) * 1e3) / n;
}

function pad(s: string | number, n: number, right = false): string {
  const t = String(s);
  return right ? t.padEnd(n) : t.padStart(n);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ args: Deno.args, options: { json: { type: "string" } } });
  const context = runContext();
  const seconds = Number(Deno.env.get("BENCH_SECONDS") ?? 1);
  const only = Deno.env.get("BENCH_ONLY") ?? "";
  const alt = Deno.env.get("WEFT_WASM");
  const module = alt ? await WebAssembly.compile(await Deno.readFile(alt)) : await coreModule();
  const started = performance.now();
  console.log(
    `weft core benchmark: bursts of ${BURST}, ${SLOTS} frames cycling, ~${seconds} s per case and ` +
      `implementation, median of 5 alternating rounds, rates per CPU second of this process` +
      `${alt ? `, core ${alt}` : ""}`,
  );
  console.log(`Deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ${navigator.hardwareConcurrency} CPUs`);
  console.log(`load average at start: ${context.loadavgStart}\n`);

  const plan: [Kind, number, number[]][] = [
    ["encap", 1024, [64, 1500]],
    ["encap", 100 * 1024, [64]],
    ["encap", 1 << 20, [64, 1500]],
    ["decap", 1024, [64, 1500]],
    ["decap", 1 << 20, [64, 1500]],
    ["flood", 1024, [64, 1500]],
    ["flood", 1 << 20, [64, 1500]],
  ];
  const head =
    `${pad("case", 20, true)} | ${pad("frame", 6)} | ${pad("FDB", 5)} | ${pad("Wasm Mpps", 9)} | ` +
    `${pad("ns/frame", 8)} | ${pad("TS Mpps", 7)} | ${pad("Wasm/TS", 7)}`;
  console.log(head);
  console.log("-".repeat(head.length));
  const rows: Row[] = [];
  for (const [kind, fdb, sizes] of plan) {
    for (const r of runCase(module, kind, fdb, sizes, seconds, only)) {
      rows.push(r);
      console.log(
        `${pad(r.label, 20, true)} | ${pad(`${r.size} B`, 6)} | ${pad(fdbLabel(r.fdb), 5)} | ` +
          `${pad((r.wasm / 1e6).toFixed(2), 9)} | ${pad((1e9 / r.wasm).toFixed(1), 8)} | ` +
          `${pad((r.ts / 1e6).toFixed(2), 7)} | ${pad((r.wasm / r.ts).toFixed(2), 7)}`,
      );
    }
  }
  console.log(
    "Mpps counts input frames; a flood frame makes 9 TX entries (port 1 + 8 VTEPs). " +
      `Times include copying the ${BURST * RX_DESC_LEN}-byte descriptor image per burst.`,
  );
  console.log(
    `FDB tables: 1k in 2^${fdbBitsFor(1024)} buckets (the default), 100k in 2^${fdbBitsFor(102400)}, ` +
      `1M in 2^${fdbBitsFor(1 << 20)}; all static entries but the sources the first pass learns ` +
      `(encap/flood: 1 on port 0; decap: 512 behind 198.18.0.2).`,
  );
  console.log(
    `The bench had ${(100 * spent.cpu / spent.wall).toFixed(0)}% of a CPU while timing ` +
      `(less than ~100%: other processes were running; rates are per CPU second).`,
  );

  // Call overhead and memory.
  const small = WeftCore.createSync(module, benchConfig(1024));
  const tsSmall = new TsSwitch(benchConfig(1024));
  configure(small);
  configure(tsSmall);
  const ew: number[] = [], et: number[] = [];
  for (let r = 0; r < 3; r++) ew.push(emptyCall(small)), et.push(emptyCall(tsSmall));
  console.log(
    `\nprocess(0), the call alone: Wasm ${median(ew).toFixed(1)} ns, TS ${median(et).toFixed(1)} ns ` +
      `(Wasm: ${(median(ew) / BURST).toFixed(2)} ns per frame of a 64-frame burst)`,
  );

  const big = WeftCore.createSync(module, benchConfig(1 << 20));
  configure(big);
  fillTo(big, 1 << 20);
  const lean = WeftCore.createSync(module, { ...DEFAULT_CONFIG, fdbBits: 21 });
  const mib = (n: number) => `${(n / (1 << 20)).toFixed(1)} MiB`;
  console.log(
    `memory, FDB of ${big.fdbSize} entries in 2^21 buckets: memoryUsed ${mib(big.memoryUsed)} ` +
      `(target ≤ 64 MiB), linear memory ${mib(big.exports.memory.buffer.byteLength)}; ` +
      `with the default 64 slots: ${mib(lean.memoryUsed)}`,
  );

  const target = rows.find((r) => r.kind === "encap" && r.size === 64 && r.fdb === 100 * 1024);
  if (target) {
    const mpps = target.wasm / 1e6, ratio = target.wasm / target.ts;
    const verdict = (ok: boolean, by: string) => ok ? "met" : `missed by ${by}`;
    console.log(
      `\ntarget, encap 64 B / 100k FDB: ${mpps.toFixed(2)} Mpps vs ≥ 20 ` +
        `(${verdict(mpps >= 20, `${(100 * (1 - mpps / 20)).toFixed(0)}%`)}); ` +
        `Wasm/TS ${ratio.toFixed(2)} vs ≥ 2 (${
          verdict(ratio >= 2, `${(100 * (1 - ratio / 2)).toFixed(0)}%`)
        })`,
    );
  }
  console.log(`load average at end: ${loadavg()}`);
  console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (values.json) {
    writeReport(values.json, context, {
      bench: "core",
      seconds,
      cpuShare: spent.cpu / spent.wall,
      rows: rows.map((r) => ({
        case: r.label,
        frame: r.size,
        fdb: r.fdb,
        wasmMpps: r.wasm / 1e6,
        nsPerFrame: 1e9 / r.wasm,
        tsMpps: r.ts / 1e6,
        wasmOverTs: r.wasm / r.ts,
      })),
      emptyCallNs: { wasm: median(ew), ts: median(et) },
      memory: { fdbEntries: big.fdbSize, memoryUsedBytes: big.memoryUsed, defaultSlotsBytes: lean.memoryUsed },
    });
  }
}

if (import.meta.main) await main();
