// Which bytes of the core's linear memory a burst may write, for the property tests: a whole-memory
// diff, every changed byte attributed to a region of assembly/layout.ts and checked against what the
// data path may do there.

import type { WeftCore } from "../../cli/core/mod.ts";

/** The regions init lays out, in order (assembly/layout.ts, assembly/index.ts init()). */
export const REGION_NAMES = [
  "args",
  "rx descriptors",
  "tx list",
  "slots",
  "counters",
  "port counters",
  "vtep counters",
  "vni records",
  "vni ports",
  "vni flood lists",
  "port table",
  "vtep records",
  "vtep index",
  "vtep local addresses",
  "neighbour table",
  "fdb",
  "arena",
  "pmtu replies",
  "fdb dump",
  "pipeline records",
] as const;
export type RegionName = typeof REGION_NAMES[number];

export interface Region {
  name: RegionName | "outside";
  start: number;
  end: number;
}

/**
 * The core's regions by name, checked against the pointers it exports: a layout that gained,
 * lost or reordered a region fails here instead of being diffed under the wrong name.
 */
export function regionsOf(core: WeftCore): Region[] {
  const r = core.layoutRegions;
  // No arena without offloads (arenaBytes 0).
  const names = REGION_NAMES.filter((n) => n !== "arena" || core.config.arenaBytes > 0);
  if (r.length !== names.length) {
    throw new Error(`the core lays out ${r.length} regions; tests/core/memory.ts names ${names.length}`);
  }
  const out = r.map(([start, end], i) => ({ name: names[i], start, end }));
  const at = (name: RegionName) => out.find((x) => x.name === name)?.start;
  const anchors: [RegionName, number][] = [
    ["rx descriptors", core.rxPtr],
    ["tx list", core.txPtr],
    ["slots", core.slotBase],
    ["counters", core.exports.counters()],
    ["port counters", core.exports.portCounters()],
    ["vtep counters", core.exports.vtepCounters()],
    ["arena", core.arenaRange[0]],
  ];
  for (const [name, ptr] of anchors.filter(([n]) => names.includes(n))) {
    if (at(name) !== ptr) throw new Error(`region "${name}" at ${at(name)}, the core says ${ptr}`);
  }
  return out;
}

/** Changed byte runs [start, end) between two copies of memory, each with the region it lies in. */
export function changedRuns(before: Uint8Array, after: Uint8Array, regions: Region[]) {
  const runs: { region: Region; start: number; end: number }[] = [];
  const w0 = new Uint32Array(before.buffer, before.byteOffset, before.length >> 2);
  const w1 = new Uint32Array(after.buffer, after.byteOffset, after.length >> 2);
  for (let w = 0; w < w0.length; w++) {
    if (w0[w] === w1[w]) continue;
    for (let b = w * 4; b < w * 4 + 4; b++) {
      if (before[b] === after[b]) continue;
      const last = runs[runs.length - 1];
      if (last && last.end === b && b < last.region.end) {
        last.end++;
        continue;
      }
      const region = regions.find((r) => b >= r.start && b < r.end) ??
        { name: "outside" as const, start: b, end: after.length };
      runs.push({ region, start: b, end: b + 1 });
    }
  }
  return runs;
}

/** Every u64 counter of the three counter regions is at least what it was: counters only count up. */
export function countersOnlyRise(
  before: Uint8Array,
  after: Uint8Array,
  regions: Region[],
): string | undefined {
  for (const r of regions.filter((r) => r.name.endsWith("counters"))) {
    const a = new BigUint64Array(before.buffer, before.byteOffset + r.start, (r.end - r.start) >> 3);
    const b = new BigUint64Array(after.buffer, after.byteOffset + r.start, (r.end - r.start) >> 3);
    for (let i = 0; i < a.length; i++) {
      if (b[i] < a[i]) return `${r.name} word ${i}: ${a[i]} → ${b[i]}`;
    }
  }
  return undefined;
}

/** Bytes of the args region the data path uses as scratch (suppress.ts: 128..,
 *  pipeline/context.ts vnet: 192..202). */
const ARGS_SCRATCH = 128;
const RX_DESCRIPTOR = 48, TX_ENTRY = 32;
/** Regions the data path updates in place: learning (FDB, a learned VTEP, a VNI's learn count),
 *  cut super-frames (arena), ICMP replies to over-MTU frames (pmtu replies, pipeline/pmtu.ts) and
 *  the parse results and GRO state of the frame being switched (pipeline/records.ts). */
const TABLES_WRITTEN: string[] = [
  "vni records", "vtep records", "vtep index", "fdb", "arena", "pmtu replies", "pipeline records",
];

/**
 * Checks every byte one `process(count)` call changed between `before` and the core's memory now,
 * returning the first violation (or undefined):
 *  - args: only its scratch bytes; RX descriptors: only the first `count`; TX list: only the first
 *    `txWritten` entries (the `n` the call returned, plus one per GRO merge, which withdraws the
 *    entry it had written);
 *  - slots: only inside `window(slot)` = [lo, hi) relative to the slot's start;
 *  - counters: anywhere, but no u64 falls;
 *  - the learning tables and the arena: anywhere;
 *  - everything else (VNI ports, flood lists, port table, local addresses, neighbour table, FDB dump, the
 *    static data below the first region, the gaps, the memory past the last one): never.
 */
export function writeViolation(
  core: WeftCore,
  regions: Region[],
  before: Uint8Array,
  count: number,
  txWritten: number,
  window: (slot: number) => [number, number],
): string | undefined {
  for (const run of changedRuns(before, core.bytes, regions)) {
    const { region } = run;
    const off = run.start - region.start, end = run.end - region.start;
    const where = `${region.name} bytes [${off}, ${end})`;
    switch (region.name) {
      case "args":
        if (off < ARGS_SCRATCH) return `${where}: below the scratch bytes`;
        break;
      case "rx descriptors":
        if (end > count * RX_DESCRIPTOR) return `${where}: past the ${count} descriptors of the burst`;
        break;
      case "tx list":
        if (end > txWritten * TX_ENTRY) return `${where}: past the ${txWritten} TX entries written`;
        break;
      case "slots": {
        const slot = Math.floor(off / core.slotSize), base = slot * core.slotSize;
        const [lo, hi] = window(slot);
        if (off < base + lo || end > base + hi) {
          return `slot ${slot} bytes [${off - base}, ${end - base}) changed outside [${lo}, ${hi})`;
        }
        break;
      }
      case "counters":
      case "port counters":
      case "vtep counters":
        break;
      default:
        if (!TABLES_WRITTEN.includes(region.name)) return `${where}: not written by the data path`;
    }
  }
  return countersOnlyRise(before, core.bytes, regions);
}
