// What the page shows of one capture, computed with the CLI's own code: the capture reader of
// cli/pcap/, decapsulate() and learnFdb() of cli/pcap/decap.ts, and the core. No runtime APIs and
// no DOM: the page (page.ts) only renders this, and tests can call it anywhere.

import {
  type CoreFactory,
  type DecapOptions,
  decapsulate,
  type DecapSummary,
  learnFdb,
  type LearntEntry,
  linkTypeProblem,
  summaryLines,
} from "../pcap/decap.ts";
import { LINKTYPE_ETHERNET, PcapError, PcapWriter, readCapture } from "../pcap/mod.ts";
import { describeFrame, type FrameRow } from "./frames.ts";
import { UNDERLAY_MTU, VXLAN_PORT } from "../defaults.ts";

/** `weft pcap decap`'s defaults: VXLAN's IANA port and a 1500-byte capture link. */
export const DEFAULT_OPTIONS: DecapOptions = { ports: [VXLAN_PORT], mtu: UNDERLAY_MTU };

export interface DecapRow extends FrameRow {
  /** 1-based number of the record in the capture (the last fragment's, for a reassembled
   *  datagram), as Wireshark numbers frames. */
  number: number;
  /** Seconds since the capture's first record (Wireshark's default Time column). */
  time: number;
  vni: number;
  /** Length on the wire: more than `length` when the snap length cut the record. */
  origLength: number;
}

export interface Analysis {
  summary: DecapSummary;
  /** The lines `weft pcap decap` prints for this capture. */
  lines: string[];
  /** "pcap" or "pcapng". */
  format: string;
  /** Records read from the capture. */
  packets: number;
  /** The first `maxRows` decapsulated frames, described (`summary.written` counts them all). */
  frames: DecapRow[];
  fdb: LearntEntry[];
  /** The decapsulated capture, a classic pcap file: what `weft pcap decap IN OUT` writes. */
  pcap: Uint8Array;
}

/**
 * Reads a capture (pcap or pcapng, any link type `weft pcap decap` reads), decapsulates it and
 * learns its FDB, as `weft pcap decap` does with the same options. Only the first `maxRows`
 * frames (default: all) are described: a table shows no more, and describing costs more per
 * frame than decapsulating.
 * @throws PcapError when the bytes are not a capture weft reads (the message says why).
 */
export async function analyseCapture(
  bytes: Uint8Array,
  o: DecapOptions & { maxRows?: number },
  create: CoreFactory,
): Promise<Analysis> {
  const maxRows = o.maxRows ?? Infinity;
  const capture = readCapture(bytes);
  const problem = linkTypeProblem(capture.linkTypes);
  if (problem) throw new PcapError(problem);
  const packets = capture.packets;
  const number = new Map(packets.map((p, i) => [p, i + 1]));
  const t0 = packets.length > 0 ? packets[0].time : 0;
  // Nanosecond timestamps in, nanosecond timestamps out, as the CLI writes them.
  const writer = new PcapWriter(LINKTYPE_ETHERNET, 262144, { nanos: capture.nanos });
  const frames: DecapRow[] = [];
  const summary = await decapsulate(packets, o, (p, frame, origLen, vni) => {
    writer.writeAt(p.seconds, p.nanos, frame, origLen);
    if (frames.length >= maxRows) return;
    frames.push({
      number: number.get(p)!,
      time: p.time - t0,
      vni,
      origLength: origLen,
      ...describeFrame(frame),
    });
  }, create);
  const fdb = await learnFdb(packets, o, create);
  fdb.sort((a, b) => a.vni - b.vni || a.mac.localeCompare(b.mac));
  return {
    summary,
    lines: summaryLines(summary),
    format: capture.format,
    packets: packets.length,
    frames,
    fdb,
    pcap: writer.bytes(),
  };
}
