// One entry for every capture file weft reads: classic libpcap (either byte order, µs or ns) and
// pcapng (either byte order, several interfaces and link types). Each packet carries its own link
// type and timestamp resolution, so a pcapng file whose interfaces differ reads as one list.
// Pure functions over a Uint8Array, no runtime APIs: the CLI and the browser page share them.

import { type CapturePacket, PcapError, readPcap } from "./pcap.ts";
import { isPcapng, readPcapng } from "./pcapng.ts";

export interface Capture {
  format: "pcap" | "pcapng";
  /** True when some timestamp is finer than a microsecond: write the output in nanoseconds. */
  nanos: boolean;
  /** Link type of every interface (classic pcap: one), packets or not. */
  linkTypes: number[];
  packets: CapturePacket[];
}

/**
 * Reads a classic pcap or a pcapng file, told apart by their first four bytes.
 * @throws PcapError naming what is wrong and where (neither format, a cut or inconsistent block).
 */
export function readCapture(file: Uint8Array): Capture {
  if (isPcapng(file)) {
    const ng = readPcapng(file);
    return {
      format: "pcapng",
      nanos: ng.interfaces.some((i) => i.ticksPerSecond > 1_000_000n),
      linkTypes: ng.interfaces.map((i) => i.linkType),
      packets: ng.packets,
    };
  }
  const pcap = readPcap(file);
  return { format: "pcap", nanos: pcap.nanos, linkTypes: [pcap.linkType], packets: pcap.packets };
}

export { PcapError };
