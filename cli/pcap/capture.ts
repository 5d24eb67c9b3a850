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
  if (!isClassicPcap(file)) {
    const magic = file.length >= 4 ? new DataView(file.buffer, file.byteOffset, 4).getUint32(0, false) : 0;
    throw new PcapError(
      `not a capture: neither pcap nor pcapng (first bytes 0x${magic.toString(16).padStart(8, "0")})`,
    );
  }
  const pcap = readPcap(file);
  return { format: "pcap", nanos: pcap.nanos, linkTypes: [pcap.linkType], packets: pcap.packets };
}

export { PcapError };

/** The classic pcap magic in either byte order, µs or ns (what readPcap takes). */
function isClassicPcap(file: Uint8Array): boolean {
  if (file.length < 4) return false;
  const m = new DataView(file.buffer, file.byteOffset, 4).getUint32(0, true);
  return [0xa1b2c3d4, 0xa1b23c4d, 0xd4c3b2a1, 0x4d3cb2a1].includes(m);
}
