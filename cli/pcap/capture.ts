// One entry for every capture file weft reads: classic libpcap (either byte order, µs or ns) and
// pcapng (either byte order, several interfaces and link types). Each packet carries its own link
// type and timestamp resolution, so a pcapng file whose interfaces differ reads as one list.
// Pure functions over a Uint8Array, no runtime APIs: the CLI and the browser page share them.

import { PcapError, type PcapPacket, readPcap } from "./pcap.ts";
import { isPcapng, readPcapng } from "./pcapng.ts";

export interface CapturePacket extends PcapPacket {
  /** LINKTYPE_* of the interface it was captured on (tcpdump.org/linktypes.html). */
  linkType: number;
  /** pcapng interface index inside its section; 0 for classic pcap. */
  interfaceId: number;
  /** Timestamp units per second of its source: 1e6 (µs), 1e9 (ns), or a pcapng if_tsresol. */
  resolution: number;
}

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
  const resolution = pcap.nanos ? 1e9 : 1e6;
  return {
    format: "pcap",
    nanos: pcap.nanos,
    linkTypes: [pcap.linkType],
    packets: pcap.packets.map((p) => ({ ...p, linkType: pcap.linkType, interfaceId: 0, resolution })),
  };
}

export { PcapError };
