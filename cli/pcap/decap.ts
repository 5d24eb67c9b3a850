// `weft pcap decap` without the files: every VXLAN packet of a capture through the Wasm core, as
// a host would receive it. Outer headers are read as the receiving kernel reads them
// (underlay.ts); each datagram then enters the core as from a UDP socket (PORT_UNDERLAY), in
// bursts, and the inner frames come out. No runtime APIs: the CLI and the browser page share it,
// each passing its own way to instantiate the core.

import { type CoreConfig, PORT_UNDERLAY, TARGET_REMOTE, type WeftCore } from "../core/core.ts";
import { DROP_REASONS } from "../core/counters.ts";
import type { CapturePacket, PcapPacket } from "./pcap.ts";
import { REASSEMBLY_MAX_PAYLOAD } from "./reassembly.ts";
import { type Datagram, type Received, UnderlayReader } from "./underlay.ts";
import { gpeDropReason, VXLAN_GPE_PORT, vxlanVni } from "./vxlan.ts";

/** A slot holds headroom + frame + tailroom; vniAdd also wants room for the VXLAN overhead. */
const SLOT_OVERHEAD = 128 + 64 + 26;
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
  mtu: number;
}

/**
 * Decapsulates every VXLAN packet of a capture; `emit` gets each inner frame in input order (a
 * reassembled datagram at its last fragment), with its length on the wire. `frame` is a view
 * into the core's memory, valid during the call only: copy what you keep (PcapWriter does). Outer headers are
 * read as the receiving host would (cli/pcap/underlay.ts: link types, VLAN tags, IPv6 extension
 * headers, fragment reassembly); the datagram then enters the core as from a UDP socket.
 */
export async function decapsulate<P extends CapturePacket>(
  packets: P[],
  o: DecapOptions,
  emit: (packet: P, frame: Uint8Array, origLen: number) => void,
  load: (config: Partial<CoreConfig>) => Promise<WeftCore>,
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
      emit(packet, frame, frame.length + missing);
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

function bump(m: Map<string, number>, key: string, by = 1): void {
  m.set(key, (m.get(key) ?? 0) + by);
}
