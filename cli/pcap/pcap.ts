// Classic libpcap files (the format tcpdump -w writes): a 24-byte global header, then records
// of a 16-byte header and the captured bytes. Both byte orders and both microsecond and
// nanosecond magics are read; files are written little-endian, as tcpdump does on x86, with
// microseconds unless asked for nanoseconds (the 0xa1b23c4d magic, `tcpdump --nano`).
// Plain TypeScript, no runtime APIs: bundled for Node and browsers too. Other formats (pcapng)
// and link types: cli/pcap/capture.ts.

export const LINKTYPE_ETHERNET = 1;
const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;
const GLOBAL_HEADER_LEN = 24;
const RECORD_HEADER_LEN = 16;

export class PcapError extends Error {
  override name = "PcapError";
}

export interface PcapPacket {
  /** Seconds since the epoch, with the fraction (a double: finer than ~0.2 µs is lost). */
  time: number;
  /** Whole seconds since the epoch. */
  seconds: number;
  /** The fraction in nanoseconds, 0..999999999, exact. */
  nanos: number;
  /** Captured bytes (a view into the file's buffer). */
  data: Uint8Array;
  /** Length on the wire (≥ data.length when the capture was cut by the snap length). */
  origLen: number;
}

/** A packet as every reader returns it (cli/pcap/capture.ts): with its link type and resolution. */
export interface CapturePacket extends PcapPacket {
  /** LINKTYPE_* of the interface it was captured on (tcpdump.org/linktypes.html). */
  linkType: number;
  /** pcapng interface index inside its section; 0 for classic pcap. */
  interfaceId: number;
  /** Timestamp units per second of its source: 1e6 (µs), 1e9 (ns), or a pcapng if_tsresol. */
  resolution: number;
}

export interface Pcap {
  linkType: number;
  snapLen: number;
  /** True for the nanosecond magic. */
  nanos: boolean;
  packets: CapturePacket[];
}

/** Parses a whole capture; throws PcapError naming what is wrong and where. */
export function readPcap(file: Uint8Array): Pcap {
  if (file.length < GLOBAL_HEADER_LEN) {
    throw new PcapError(`Not a pcap file: ${file.length} bytes is shorter than the 24-byte header`);
  }
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magicLE = view.getUint32(0, true);
  let le: boolean, nanos: boolean;
  if (magicLE === MAGIC_US || magicLE === MAGIC_NS) {
    le = true;
    nanos = magicLE === MAGIC_NS;
  } else {
    const magicBE = view.getUint32(0, false);
    if (magicBE !== MAGIC_US && magicBE !== MAGIC_NS) {
      const hint = magicLE === 0x0a0d0d0a
        ? " (this is pcapng: convert it with `editcap -F pcap IN OUT`, or read it with readCapture())"
        : "";
      throw new PcapError(`not a classic pcap file: magic 0x${magicBE.toString(16).padStart(8, "0")}${hint}`);
    }
    le = false;
    nanos = magicBE === MAGIC_NS;
  }
  const snapLen = view.getUint32(16, le);
  const linkType = view.getUint32(20, le) & 0x0fffffff;
  const resolution = nanos ? 1e9 : 1e6;
  const packets: CapturePacket[] = [];
  let off = GLOBAL_HEADER_LEN;
  while (off < file.length) {
    if (off + RECORD_HEADER_LEN > file.length) {
      throw new PcapError(`Truncated pcap file: record ${packets.length + 1} header cut at byte ${off}`);
    }
    const sec = view.getUint32(off, le);
    const frac = view.getUint32(off + 4, le) % (nanos ? 1e9 : 1e6);
    const inclLen = view.getUint32(off + 8, le);
    const origLen = view.getUint32(off + 12, le);
    off += RECORD_HEADER_LEN;
    if (off + inclLen > file.length) {
      throw new PcapError(
        `Truncated pcap file: record ${packets.length + 1} needs ${inclLen} bytes, ${file.length - off} left`,
      );
    }
    packets.push({
      time: sec + frac / (nanos ? 1e9 : 1e6),
      seconds: sec,
      nanos: nanos ? frac : frac * 1000,
      data: file.subarray(off, off + inclLen),
      origLen,
      linkType,
      interfaceId: 0,
      resolution,
    });
    off += inclLen;
  }
  return { linkType, snapLen, nanos, packets };
}

/** Streams records into one file image; `bytes()` returns it. */
export class PcapWriter {
  private chunks: Uint8Array[] = [];
  private size = 0;
  /** True when timestamps are written in nanoseconds (magic 0xa1b23c4d). */
  readonly nanos: boolean;

  constructor(linkType = LINKTYPE_ETHERNET, snapLen = 262144, options: { nanos?: boolean } = {}) {
    this.nanos = options.nanos ?? false;
    const h = new Uint8Array(GLOBAL_HEADER_LEN);
    const v = new DataView(h.buffer);
    v.setUint32(0, this.nanos ? MAGIC_NS : MAGIC_US, true);
    v.setUint16(4, 2, true);
    v.setUint16(6, 4, true);
    v.setUint32(16, snapLen, true);
    v.setUint32(20, linkType, true);
    this.push(h);
  }

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.size += b.length;
  }

  /** Appends one packet; `data` is copied. `time`: seconds since the epoch, with the fraction. */
  write(time: number, data: Uint8Array, origLen = data.length): void {
    const seconds = Math.floor(time);
    const nanos = this.nanos
      ? Math.min(999999999, Math.round((time - seconds) * 1e9))
      : Math.min(999999, Math.round((time - seconds) * 1e6)) * 1000;
    this.writeAt(seconds, nanos, data, origLen);
  }

  /**
   * Appends one packet stamped `seconds` + `nanos` (0..999999999), exact to the nanosecond in a
   * nanosecond file, rounded down to the microsecond otherwise; `data` is copied.
   */
  writeAt(seconds: number, nanos: number, data: Uint8Array, origLen = data.length): void {
    const h = new Uint8Array(RECORD_HEADER_LEN);
    const v = new DataView(h.buffer);
    v.setUint32(0, seconds, true);
    v.setUint32(4, this.nanos ? nanos : Math.floor(nanos / 1000), true);
    v.setUint32(8, data.length, true);
    v.setUint32(12, origLen, true);
    this.push(h);
    this.push(data.slice());
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

/** The 16-byte record header (little-endian, microseconds). */
export function recordHeader(time: number, inclLen: number, origLen = inclLen): Uint8Array {
  const h = new Uint8Array(RECORD_HEADER_LEN);
  const v = new DataView(h.buffer);
  const sec = Math.floor(time);
  v.setUint32(0, sec, true);
  v.setUint32(4, Math.min(999999, Math.round((time - sec) * 1e6)), true);
  v.setUint32(8, inclLen, true);
  v.setUint32(12, origLen, true);
  return h;
}
