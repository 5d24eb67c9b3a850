// A capture through the core, offline: the decapsulation `weft pcap decap` runs and the browser
// page (cli/ui/) shows. Plain TypeScript, no runtime APIs: the caller brings the core (the CLI
// compiles build/weft.wasm through cli/core/load.ts; a page passes the bundle's createCore), so
// the CLI and the page run the very same code and print the very same counts.

import { type CoreConfig, PORT_UNDERLAY_ETH, TARGET_REMOTE, type WeftCore } from "../core/core.ts";
import { DROP_REASONS } from "../core/counters.ts";
import type { PcapPacket } from "./pcap.ts";

/** Makes a core instance with the given limits: `loadCore` (Deno) or `createCore` (the bundle). */
export type CoreFactory = (config: Partial<CoreConfig>) => Promise<WeftCore>;

export interface DecapOptions {
  /** UDP destination port that means VXLAN (4789; Linux's old default 8472). */
  port: number;
  /** Network MTU in bytes of L3 payload: larger inner frames are dropped as over_mtu. */
  mtu: number;
}

export interface DecapSummary {
  /** Per VNI, in order of first appearance. */
  vnis: Map<number, { decapsulated: number; dropped: Map<string, number> }>;
  /** Packets that carried no VNI: reason → count. */
  other: Map<string, number>;
  written: number;
}

/** One decapsulated frame: `index` is the packet's position in the capture (0-based). */
export type DecapEmit = (time: number, frame: Uint8Array, vni: number, index: number) => void;

/** A slot holds headroom + frame + tailroom; vniAdd also wants room for the VXLAN overhead. */
const SLOT_OVERHEAD = 128 + 64 + 26;
const MAX_SLOT_LOG2 = 17;
/** VNIs and VTEPs one capture may bring; past them the core counts unknown_vni / vtep_learn_full. */
const CAPTURE_LIMITS: Partial<CoreConfig> = { maxVnis: 1024, maxPorts: 1024 };

/**
 * Decapsulates every VXLAN packet of a capture (whole Ethernet/IP/UDP/VXLAN packets, fed to the
 * core as PORT_UNDERLAY_ETH in bursts); `emit` gets each inner frame in input order. Each VNI is a
 * switch without learning whose one local port receives every frame (a flood), so no frame is
 * lost to split horizon as it would be on a learning VTEP; what the switch would have learnt is
 * `learnFdb()`.
 */
export async function decapsulate(
  packets: PcapPacket[],
  o: DecapOptions,
  emit: DecapEmit,
  create: CoreFactory,
): Promise<DecapSummary> {
  const core = await create(coreConfig(packets, o.mtu, { ...CAPTURE_LIMITS, maxVteps: 1 }));
  core.setVxlanPort(o.port);
  const summary: DecapSummary = { vnis: new Map(), other: new Map(), written: 0 };
  const tooBig = core.slotCapacity;
  const burst = core.config.burst;
  const vniOf: number[] = new Array(burst);
  for (let start = 0; start < packets.length; start += burst) {
    const chunk = packets.slice(start, start + burst);
    let n = 0;
    const index: number[] = []; // descriptor → packet of this chunk
    for (let k = 0; k < chunk.length; k++) {
      const p = chunk[k];
      if (p.data.length > tooBig) {
        bump(summary.other, "too_large_for_slot");
        continue;
      }
      core.load(n, p.data, PORT_UNDERLAY_ETH);
      const vni = core.exports.underlayVni(core.slotData(n), p.data.length);
      if (vni >= 0 && !summary.vnis.has(vni)) {
        summary.vnis.set(vni, { decapsulated: 0, dropped: new Map() });
        addSinkVni(core, vni, summary.vnis.size - 1, o.mtu);
      }
      vniOf[n] = vni;
      index.push(start + k);
      n++;
    }
    const tx = core.process(n, 0);
    const out: (Uint8Array | undefined)[] = new Array(n);
    for (let t = 0; t < tx; t++) {
      const e = core.tx(t);
      if ((e.target & TARGET_REMOTE) !== 0 || out[e.rxIndex]) continue;
      out[e.rxIndex] = core.txBytes(t);
    }
    for (let i = 0; i < n; i++) {
      const verdict = core.verdict(i);
      const vni = vniOf[i];
      const s = vni >= 0 ? summary.vnis.get(vni)! : undefined;
      if (verdict !== 0 || !out[i]) {
        const reason = verdict === 0
          ? "no_recipient"
          : DROP_REASONS[verdict - 1]?.[0] ?? `reason_${verdict - 1}`;
        bump(s ? s.dropped : summary.other, reason);
        continue;
      }
      if (s) s.decapsulated++;
      emit(packets[index[i]].time, out[i]!, vni, index[i]);
      summary.written++;
    }
  }
  return summary;
}

/** A VNI whose only member is one local port: every decapsulated frame floods to it. */
function addSinkVni(core: WeftCore, vni: number, port: number, mtu: number): void {
  try {
    core.addVni(vni, { learning: false, suppress: false, mtu });
    core.attachPort(port, vni);
  } catch {
    // Table full: the core drops this VNI's packets as unknown_vni, and the summary says so.
  }
}

/** A learnt FDB entry: the inner source MAC behind the outer source address of its datagrams. */
export interface LearntEntry {
  vni: number;
  mac: string;
  /** The VTEP's underlay address (the outer IP source), as formatIp() writes it. */
  vtep: string;
  /** Seconds between the entry's last frame and the capture's last packet. */
  age: number;
}

/**
 * The FDB a learning VTEP would hold after receiving the capture: a second core whose VNIs learn
 * (Linux's `vxlan_snoop` rule: inner source MAC → the sending VTEP, a move re-stamps it), fed the
 * packets in bursts that each hold one second of the capture's own clock (seconds since its first
 * packet), so ages are to the second and entries idle past the ageing time (300 s) are gone, as they
 * would be on a host. Every VTEP in the capture counts as
 * remote: a capture does not say which address was the capturing host's own.
 */
export async function learnFdb(
  packets: PcapPacket[],
  o: DecapOptions,
  create: CoreFactory,
): Promise<LearntEntry[]> {
  const core = await create(coreConfig(packets, o.mtu, { ...CAPTURE_LIMITS, maxVteps: 1024 }));
  core.setVxlanPort(o.port);
  const t0 = packets.length > 0 ? packets[0].time : 0;
  const clock = (p: PcapPacket) => Math.max(0, Math.floor(p.time - t0));
  // A burst ends when it is full or the clock ticks, so each entry is stamped with its frame's second.
  let now = 0;
  let n = 0;
  for (const p of packets) {
    const t = clock(p);
    if (n === core.config.burst || (n > 0 && t > now)) {
      core.process(n, now);
      n = 0;
    }
    now = Math.max(now, t);
    if (p.data.length > core.slotCapacity) continue;
    core.load(n, p.data, PORT_UNDERLAY_ETH);
    const vni = core.exports.underlayVni(core.slotData(n), p.data.length);
    if (vni >= 0 && !core.hasVni(vni)) {
      try {
        core.addVni(vni, { learning: true, suppress: false, mtu: o.mtu });
      } catch {
        // Table full: counted as unknown_vni by the core, nothing to learn.
      }
    }
    n++;
  }
  if (n > 0) core.process(n, now);
  return core.fdb(now).filter((e) => e.vtep !== undefined).map((e) => ({
    vni: e.vni,
    mac: e.mac,
    vtep: core.vtep(e.vtep!).address,
    age: e.age,
  }));
}

/** What `weft pcap decap` prints: one line per VNI, then one for packets with no VNI if any. */
export function summaryLines(summary: DecapSummary): string[] {
  const lines: string[] = [];
  for (const [vni, s] of summary.vnis) {
    const drops = sum(s.dropped);
    lines.push(`vni ${vni}: ${s.decapsulated} decapsulated, ${drops} dropped${reasons(s.dropped)}`);
  }
  const other = sum(summary.other);
  if (other > 0) lines.push(`not VXLAN or malformed: ${other}${reasons(summary.other)}`);
  return lines;
}

/** Slots big enough for the largest packet of the capture (GSO super-frames too) and the MTU. */
export function coreConfig(
  packets: PcapPacket[],
  mtu: number,
  limits: Partial<CoreConfig>,
): Partial<CoreConfig> {
  let largest = mtu + SLOT_OVERHEAD;
  for (const p of packets) largest = Math.max(largest, p.data.length + SLOT_OVERHEAD);
  let log2 = 11;
  while (log2 < MAX_SLOT_LOG2 && 1 << log2 < largest) log2++;
  return { burst: 64, slots: 64, txEntries: 4096, slotSizeLog2: log2, ...limits };
}

export function bump(m: Map<string, number>, key: string): void {
  m.set(key, (m.get(key) ?? 0) + 1);
}

export function sum(m: Map<string, number>): number {
  let n = 0;
  for (const v of m.values()) n += v;
  return n;
}

/** " (reason n, reason n)" or "" when nothing was counted. */
export function reasons(m: Map<string, number>): string {
  if (m.size === 0) return "";
  return ` (${[...m].map(([k, v]) => `${k} ${v}`).join(", ")})`;
}
