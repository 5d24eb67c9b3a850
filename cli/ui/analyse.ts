// What the page shows of one capture, computed with the CLI's own code: the capture reader of
// cli/pcap/, decapsulate() and learnFdb() of cli/pcap/decap.ts, and the core. No runtime APIs and
// no DOM: the page (page.ts) only renders this, and tests can call it anywhere.

import {
  type CoreFactory,
  decapsulate,
  type DecapSummary,
  learnFdb,
  type LearntEntry,
  summaryLines,
} from "../pcap/decap.ts";
import { LINKTYPE_ETHERNET, PcapError, PcapWriter, readPcap } from "../pcap/pcap.ts";
import { describeFrame, type FrameRow } from "./frames.ts";

/** `weft pcap decap`'s defaults: VXLAN's IANA port and a 1500-byte capture link. */
export const DEFAULT_OPTIONS = { port: 4789, mtu: 1500 } as const;

export interface DecapRow extends FrameRow {
  /** 1-based number of the outer packet in the capture, as Wireshark numbers frames. */
  number: number;
  /** Seconds since the capture's first packet (Wireshark's default Time column). */
  time: number;
  vni: number;
}

export interface Analysis {
  summary: DecapSummary;
  /** The lines `weft pcap decap` prints for this capture. */
  lines: string[];
  /** Packets read from the capture. */
  packets: number;
  frames: DecapRow[];
  fdb: LearntEntry[];
  /** The decapsulated capture, a classic pcap file: what `weft pcap decap IN OUT` writes. */
  pcap: Uint8Array;
}

/**
 * Reads a capture (classic pcap, Ethernet), decapsulates it and learns its FDB.
 * @throws PcapError when the bytes are not a capture weft reads (the message says why).
 */
export async function analyseCapture(
  bytes: Uint8Array,
  o: { port: number; mtu: number },
  create: CoreFactory,
): Promise<Analysis> {
  const capture = readPcap(bytes);
  if (capture.linkType !== LINKTYPE_ETHERNET) {
    throw new PcapError(
      `link type ${capture.linkType} is not Ethernet (1); weft reads Ethernet captures only`,
    );
  }
  const packets = capture.packets;
  const t0 = packets.length > 0 ? packets[0].time : 0;
  const writer = new PcapWriter();
  const frames: DecapRow[] = [];
  const summary = await decapsulate(packets, o, (time, frame, vni, index) => {
    writer.write(time, frame);
    frames.push({ number: index + 1, time: time - t0, vni, ...describeFrame(frame) });
  }, create);
  const fdb = await learnFdb(packets, o, create);
  fdb.sort((a, b) => a.vni - b.vni || a.mac.localeCompare(b.mac));
  return {
    summary,
    lines: summaryLines(summary),
    packets: packets.length,
    frames,
    fdb,
    pcap: writer.bytes(),
  };
}
