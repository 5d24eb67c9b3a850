// `weft pcap decap` without the files: every VXLAN packet of a capture through the Wasm core, as
// a host would receive it. Outer headers are read as the receiving kernel reads them
// (underlay.ts); each datagram then enters the core as from a UDP socket (PORT_UNDERLAY), in
// bursts, and the inner frames come out. No runtime APIs: the CLI and the browser page share it,
// each passing its own way to instantiate the core. learnFdb() is what a learning VTEP would
// have made of the same datagrams (the page shows it).

import type { CoreConfig } from "../core/config.ts";
import type { WeftCore } from "../core/core.ts";
import { DROP_REASONS } from "../core/counters.ts";
import { HEADROOM, PORT_UNDERLAY, TAILROOM, TARGET_REMOTE } from "../core/abi.ts";
import { LINK_TYPE_NAMES } from "./link.ts";
import type { CapturePacket, PcapPacket } from "./pcap.ts";
import { REASSEMBLY_MAX_PAYLOAD } from "./reassembly.ts";
import { type Datagram, type Received, UnderlayReader } from "./underlay.ts";
import { gpeDropReason, VXLAN_GPE_PORT, vxlanVni } from "./vxlan.ts";

/** A slot holds headroom + frame + tailroom; vniAdd also wants room for the inner Ethernet
 *  header, a VLAN tag and the VXLAN header (14 + 4 + 8). */
const SLOT_OVERHEAD = HEADROOM + TAILROOM + 26;
const MAX_SLOT_LOG2 = 17;
const VXLAN_HEADER_LEN = 8;
const ETH_HEADER_LEN = 14;
const ETH_TYPE = 12;
const VLAN_TAG_LEN = 4;

export interface DecapSummary {
  /** Per VNI, in order of first appearance. */
  vnis: Map<number, { decapsulated: number; dropped: Map<string, number> }>;
  /** Records that carried no VNI: reason → count. */
  other: Map<string, number>;
  written: number;
  /** Written frames the capture's snap length had cut (written with their original length). */
  cut: number;
  /** Outer datagrams reassembled from IP fragments, and the fragments they took. */
  reassembled: { datagrams: number; fragments: number };
}

export interface DecapOptions {
  /** UDP destination ports that mean VXLAN (4790: VXLAN-GPE). */
  ports: number[];
  /** Network MTU in bytes of L3 payload: larger inner frames are dropped as over_mtu. */
  mtu: number;
}

/** Makes a core instance with the given limits: `loadCore` (Deno) or `createCore` (the bundle). */
export type CoreFactory = (config: Partial<CoreConfig>) => Promise<WeftCore>;

/**
 * One inner frame, of the record that completed its datagram, with its length on the wire and its
 * VNI. `frame` is a view into the core's memory, valid during the call only.
 */
export type DecapEmit<P> = (packet: P, frame: Uint8Array, origLen: number, vni: number) => void;

/**
 * Why weft refuses a capture with these link types, or undefined when it reads it. A pcapng file
 * may mix interfaces: those weft cannot read are counted (unsupported_link_type); a file with none
 * it can read is refused.
 */
export function linkTypeProblem(linkTypes: number[]): string | undefined {
  if (linkTypes.some((t) => LINK_TYPE_NAMES.has(t))) return undefined;
  return `link type ${linkTypes.join(", ")} is not one weft reads (Ethernet, ` +
    "Linux cooked SLL/SLL2, raw IPv4/IPv6); capture on one interface (tcpdump -i IFACE) or as Ethernet (-y EN10MB)";
}

/**
 * Decapsulates every VXLAN packet of a capture; `emit` gets each inner frame in input order (a
 * reassembled datagram at its last fragment), with its length on the wire. `frame` is a view
 * into the core's memory, valid during the call only: copy what you keep (PcapWriter does). Outer headers are
 * read as the receiving host would (cli/pcap/underlay.ts: link types, VLAN tags, IPv6 extension
 * headers, fragment reassembly); the datagram then enters the core as from a UDP socket. Each
 * VNI is a switch without learning whose one local port receives every frame (a flood), so no
 * frame is lost to split horizon as on a learning VTEP; what that VTEP would have learnt is
 * learnFdb().
 */
export async function decapsulate<P extends CapturePacket>(
  packets: P[],
  o: DecapOptions,
  emit: DecapEmit<P>,
  load: CoreFactory,
): Promise<DecapSummary> {
  const summary: DecapSummary = {
    vnis: new Map(),
    other: new Map(),
    written: 0,
    cut: 0,
    reassembled: { datagrams: 0, fragments: 0 },
  };
  // Slots for the largest record, or a whole reassembled datagram (at most 64 KiB).
  let largest = REASSEMBLY_MAX_PAYLOAD;
  for (const p of packets) largest = Math.max(largest, p.data.length);
  const core = await load(coreConfig(largest, o.mtu, { maxVnis: 1024, maxPorts: 1024, maxVteps: 1 }));
  const gpePorts = new Set<number>(o.ports.filter((p) => p === VXLAN_GPE_PORT));
  const tooBig = core.slotCapacity;
  const burst = core.config.burst;
  // The host's IP/UDP layers first: a record may give nothing now (a fragment held) and a
  // datagram later. Datagrams go through the core a burst at a time, in the order they complete.
  const reader = new UnderlayReader(new Set(o.ports));
  const batch: { packet: P; d: Datagram }[] = [];
  const index: number[] = []; // descriptor → datagram of the batch
  const vniOf: number[] = [];
  const out: (Uint8Array | undefined)[] = new Array(burst);

  const run = () => {
    let n = 0;
    index.length = 0;
    for (let k = 0; k < batch.length; k++) {
      const { d } = batch[k];
      const vni = vxlanVni(d.payload);
      if (vni >= 0 && !summary.vnis.has(vni)) {
        summary.vnis.set(vni, { decapsulated: 0, dropped: new Map() });
        addSinkVni(core, vni, summary.vnis.size - 1, o.mtu);
      }
      const s = vni >= 0 ? summary.vnis.get(vni)!.dropped : summary.other;
      if (d.fragments > 1) {
        summary.reassembled.datagrams++;
        summary.reassembled.fragments += d.fragments;
      }
      const gpe = gpePorts.has(d.dstPort) ? gpeDropReason(d.payload) : undefined;
      if (gpe) {
        bump(s, gpe);
        continue;
      }
      if (d.payload.length > tooBig) {
        bump(s, "too_large_for_slot");
        continue;
      }
      if (vni >= 0 && d.payload.length < d.wireLen && !fitsMtu(d, o.mtu)) {
        // A cut record: the core sees only the captured bytes, so its MTU rule is applied here
        // to the frame's length on the wire.
        bump(s, "over_mtu");
        continue;
      }
      core.load(n, d.payload, PORT_UNDERLAY, d.peer, d.peerPort);
      vniOf[n] = vni;
      index.push(k);
      n++;
    }
    const tx = core.process(n, 0);
    out.fill(undefined);
    for (let t = 0; t < tx; t++) {
      const e = core.tx(t);
      if ((e.target & TARGET_REMOTE) !== 0 || out[e.rxIndex]) continue;
      out[e.rxIndex] = core.bytes.subarray(e.ptr, e.ptr + e.len); // a view: emit copies what it keeps
    }
    for (let i = 0; i < n; i++) {
      const verdict = core.verdict(i);
      const vni = vniOf[i];
      const s = vni >= 0 ? summary.vnis.get(vni)! : undefined;
      const frame = out[i];
      if (verdict !== 0 || !frame) {
        const reason = verdict === 0
          ? "no_recipient"
          : DROP_REASONS[verdict - 1]?.[0] ?? `reason_${verdict - 1}`;
        bump(s ? s.dropped : summary.other, reason);
        continue;
      }
      if (s) s.decapsulated++;
      const { packet, d } = batch[index[i]];
      // A cut record: the frame lacks what the snap length took; say how long it was.
      const missing = d.wireLen - d.payload.length;
      if (missing > 0) summary.cut++;
      emit(packet, frame, frame.length + missing, vni);
      summary.written++;
    }
    batch.length = 0;
  };
  const take = (packet: P | undefined, results: Received[]) => {
    for (const r of results) {
      if (r.kind === "dropped") bump(summary.other, r.reason, r.count);
      else if (r.kind === "datagram") {
        batch.push({ packet: packet!, d: r.datagram });
        if (batch.length === burst) run();
      }
    }
  };
  for (const p of packets) take(p, reader.read(p));
  take(undefined, reader.finish());
  run();
  return summary;
}

/**
 * The core's MTU rule (fitsMtu in assembly/pipeline/burst.ts) on an inner frame's length on the
 * wire: MTU + 14 bytes, 4 more when the frame is VLAN-tagged.
 */
function fitsMtu(d: Datagram, mtu: number): boolean {
  const frameLen = d.wireLen - VXLAN_HEADER_LEN;
  const type = (d.payload[VXLAN_HEADER_LEN + ETH_TYPE] << 8) | d.payload[VXLAN_HEADER_LEN + ETH_TYPE + 1];
  return frameLen <= mtu + ETH_HEADER_LEN + (type === 0x8100 || type === 0x88a8 ? VLAN_TAG_LEN : 0);
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
 * packet), so ages are to the second and entries idle past the ageing time (300 s) are gone, as
 * they would be on a host. Every VTEP in the capture counts as remote: a capture does not say which
 * address was the capturing host's own. VXLAN-GPE datagrams that decapsulate() refuses teach nothing.
 */
export async function learnFdb<P extends CapturePacket>(
  packets: P[],
  o: DecapOptions,
  create: CoreFactory,
): Promise<LearntEntry[]> {
  let largest = REASSEMBLY_MAX_PAYLOAD;
  for (const p of packets) largest = Math.max(largest, p.data.length);
  const core = await create(coreConfig(largest, o.mtu, { maxVnis: 1024, maxPorts: 1024, maxVteps: 1024 }));
  const t0 = packets.length > 0 ? packets[0].time : 0;
  const clock = (p: PcapPacket) => Math.max(0, Math.floor(p.time - t0));
  // A burst ends when it is full or the clock ticks, so each entry is stamped with its frame's second.
  let now = 0;
  let n = 0;
  const reader = new UnderlayReader(new Set(o.ports));
  for (const p of packets) {
    for (const r of reader.read(p)) {
      if (r.kind !== "datagram") continue;
      const d = r.datagram;
      if (d.dstPort === VXLAN_GPE_PORT && gpeDropReason(d.payload)) continue;
      if (d.payload.length > core.slotCapacity) continue;
      const t = clock(p);
      if (n === core.config.burst || (n > 0 && t > now)) {
        core.process(n, now);
        n = 0;
      }
      now = Math.max(now, t);
      const vni = vxlanVni(d.payload);
      if (vni >= 0 && !core.hasVni(vni)) {
        try {
          core.addVni(vni, { learning: true, suppress: false, mtu: o.mtu });
        } catch {
          // Table full: counted as unknown_vni by the core, nothing to learn.
        }
      }
      core.load(n++, d.payload, PORT_UNDERLAY, d.peer, d.peerPort);
    }
  }
  if (n > 0) core.process(n, now);
  if (packets.length > 0) now = Math.max(now, clock(packets[packets.length - 1]));
  return core.fdb(now).filter((e) => e.vtep !== undefined).map((e) => ({
    vni: e.vni,
    mac: e.mac,
    vtep: core.vtep(e.vtep!).address,
    age: e.age,
  }));
}

/**
 * What `weft pcap decap` prints: one line per VNI, one for records with no VNI, one for outer
 * fragments reassembled and one for frames cut by the snap length (each of the last three only
 * when it counted something).
 */
export function summaryLines(summary: DecapSummary): string[] {
  const lines: string[] = [];
  for (const [vni, s] of summary.vnis) {
    const drops = sum(s.dropped);
    lines.push(`vni ${vni}: ${s.decapsulated} decapsulated, ${drops} dropped${reasons(s.dropped)}`);
  }
  const other = sum(summary.other);
  if (other > 0) lines.push(`not VXLAN or malformed: ${other}${reasons(summary.other)}`);
  const r = summary.reassembled;
  if (r.datagrams > 0) {
    lines.push(`outer fragments: ${r.fragments} reassembled into ${r.datagrams} datagrams`);
  }
  if (summary.cut > 0) {
    lines.push(`cut by the snap length: ${summary.cut} frames, written with their original length`);
  }
  return lines;
}

/** Slots big enough for the largest packet of the capture (GSO super-frames too) and the MTU. */
export function coreConfig(
  packets: PcapPacket[] | number,
  mtu: number,
  limits: Partial<CoreConfig>,
): Partial<CoreConfig> {
  let largest = mtu + SLOT_OVERHEAD;
  if (typeof packets === "number") largest = Math.max(largest, packets + SLOT_OVERHEAD);
  else for (const p of packets) largest = Math.max(largest, p.data.length + SLOT_OVERHEAD);
  let log2 = 11;
  while (log2 < MAX_SLOT_LOG2 && 1 << log2 < largest) log2++;
  return { burst: 64, slots: 64, txEntries: 4096, slotSizeLog2: log2, ...limits };
}

export function bump(m: Map<string, number>, key: string, by = 1): void {
  m.set(key, (m.get(key) ?? 0) + by);
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
