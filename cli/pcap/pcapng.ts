// pcapng, what Wireshark, tshark and dumpcap write by default (draft-ietf-opsawg-pcapng; the
// format's own spec, pcapng.com). A file is a run of blocks, each `type u32, length u32, body,
// length u32`, in the byte order of the section header before it:
//
//   Section Header (0x0a0d0d0a)  byte-order magic 0x1a2b3c4d, version, section length, options
//   Interface Description (1)    link type u16, reserved, snaplen u32, options (if_tsresol 9,
//                                if_tsoffset 14)
//   Enhanced Packet (6)          interface id, timestamp high/low u32, captured len, orig len, data
//   Simple Packet (3)            orig len, data (interface 0, no timestamp)
//   Packet (2, obsolete)         interface id u16, drops u16, then as Enhanced Packet
//
// Every other block (name resolution, statistics, custom, decryption secrets…) is skipped by its
// length, as the spec asks of a reader. A new section header starts a new list of interfaces
// and may switch the byte order. Plain TypeScript over a Uint8Array: runs in Deno, Node and
// browsers.

import { PcapError, type PcapPacket } from "./pcap.ts";

export const PCAPNG_SHB = 0x0a0d0d0a;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const BLOCK_IDB = 1;
const BLOCK_PB = 2;
const BLOCK_SPB = 3;
const BLOCK_EPB = 6;
const OPT_END = 0;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;
/** Block header (type, length) plus the trailing length. */
const BLOCK_OVERHEAD = 12;
const SHB_MIN_BODY = 16;
const IDB_BODY = 8;
const EPB_BODY = 20;
const PB_BODY = 20;
const SPB_BODY = 4;
/** if_tsresol's default: microseconds. */
const DEFAULT_TICKS_PER_SECOND = 1_000_000n;

/** One interface of a section, as its Interface Description Block says. */
export interface PcapngInterface {
  linkType: number;
  snapLen: number;
  /** Timestamp units per second (if_tsresol: 10^n or 2^n; default 10^6). */
  ticksPerSecond: bigint;
  /** if_tsoffset: seconds added to every timestamp. */
  offsetSeconds: bigint;
}

export interface PcapngPacket extends PcapPacket {
  linkType: number;
  /** Index of the interface inside its section. */
  interfaceId: number;
  /** Timestamp units per second of its interface (1e6: µs, 1e9: ns). */
  resolution: number;
}

export interface Pcapng {
  /** Every interface of every section, in file order. */
  interfaces: PcapngInterface[];
  packets: PcapngPacket[];
}

/** True when the file starts with a pcapng section header. */
export function isPcapng(file: Uint8Array): boolean {
  return file.length >= 4 &&
    new DataView(file.buffer, file.byteOffset, 4).getUint32(0, true) === PCAPNG_SHB;
}

/**
 * Parses a whole pcapng file. Timestamps are kept to the nanosecond (finer units are rounded
 * down); a packet of a Simple Packet Block has time 0, as it carries none.
 * @throws PcapError naming the block (by number and byte offset) that is cut or inconsistent.
 */
export function readPcapng(file: Uint8Array): Pcapng {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const all: PcapngInterface[] = [];
  const packets: PcapngPacket[] = [];
  let section: PcapngInterface[] = [];
  let le = true;
  let off = 0;
  let index = 0;
  while (off < file.length) {
    index++;
    const where = `block ${index} at byte ${off}`;
    if (off + 8 > file.length) throw new PcapError(`Truncated pcapng file: ${where} header is cut`);
    const type = view.getUint32(off, le);
    if (type === PCAPNG_SHB) {
      if (off + 12 > file.length) throw new PcapError(`Truncated pcapng file: ${where} header is cut`);
      const bom = view.getUint32(off + 8, true);
      if (bom === BYTE_ORDER_MAGIC) le = true;
      else if (view.getUint32(off + 8, false) === BYTE_ORDER_MAGIC) le = false;
      else {
        throw new PcapError(`Not a pcapng section header: ${where} has byte-order magic 0x${hex(bom)}`);
      }
      section = [];
    } else if (index === 1) {
      throw new PcapError(`Not a pcapng file: it starts with block type 0x${hex(type)}`);
    }
    const length = view.getUint32(off + 4, le);
    if (length < BLOCK_OVERHEAD || length % 4 !== 0) {
      throw new PcapError(`Bad pcapng file: ${where} has length ${length} (a multiple of 4, at least 12)`);
    }
    if (off + length > file.length) {
      throw new PcapError(
        `Truncated pcapng file: ${where} needs ${length} bytes, ${file.length - off} left`,
      );
    }
    if (view.getUint32(off + length - 4, le) !== length) {
      throw new PcapError(`Bad pcapng file: ${where}: its trailing length differs from ${length}`);
    }
    const body = off + 8;
    const bodyLen = length - BLOCK_OVERHEAD;
    const need = (n: number) => {
      if (bodyLen < n) throw new PcapError(`Bad pcapng file: ${where} (type ${type}) is too short`);
    };
    if (type === PCAPNG_SHB) {
      need(SHB_MIN_BODY);
      const major = view.getUint16(body + 4, le);
      if (major !== 1) throw new PcapError(`Unsupported pcapng version ${major} in ${where}`);
    } else if (type === BLOCK_IDB) {
      need(IDB_BODY);
      const iface: PcapngInterface = {
        linkType: view.getUint16(body, le),
        snapLen: view.getUint32(body + 4, le),
        ticksPerSecond: DEFAULT_TICKS_PER_SECOND,
        offsetSeconds: 0n,
      };
      options(view, body + IDB_BODY, body + bodyLen, le, (code, at, len) => {
        if (code === OPT_IF_TSRESOL && len >= 1) iface.ticksPerSecond = tsresol(view.getUint8(at));
        if (code === OPT_IF_TSOFFSET && len >= 8) iface.offsetSeconds = view.getBigInt64(at, le);
      });
      section.push(iface);
      all.push(iface);
    } else if (type === BLOCK_EPB || type === BLOCK_PB) {
      need(type === BLOCK_EPB ? EPB_BODY : PB_BODY);
      const id = type === BLOCK_EPB ? view.getUint32(body, le) : view.getUint16(body, le);
      const iface = section[id];
      if (!iface) throw new PcapError(`Bad pcapng file: ${where} names interface ${id}, not described`);
      const ticks = (BigInt(view.getUint32(body + 4, le)) << 32n) | BigInt(view.getUint32(body + 8, le));
      const captured = view.getUint32(body + 12, le);
      const origLen = view.getUint32(body + 16, le);
      if (captured > bodyLen - EPB_BODY) {
        throw new PcapError(`Bad pcapng file: ${where} claims ${captured} captured bytes in a smaller block`);
      }
      const data = file.subarray(body + EPB_BODY, body + EPB_BODY + captured);
      packets.push(packet(iface, id, ticks, data, origLen));
    } else if (type === BLOCK_SPB) {
      need(SPB_BODY);
      const iface = section[0];
      if (!iface) throw new PcapError(`Bad pcapng file: ${where} (simple packet) before any interface`);
      const origLen = view.getUint32(body, le);
      // The captured length is what the block holds, cut to the snap length (spec §4.4).
      let captured = Math.min(origLen, bodyLen - SPB_BODY);
      if (iface.snapLen > 0) captured = Math.min(captured, iface.snapLen);
      const data = file.subarray(body + SPB_BODY, body + SPB_BODY + captured);
      const p = packet(iface, 0, 0n, data, origLen);
      packets.push({ ...p, seconds: 0, nanos: 0, time: 0 });
    }
    off += length;
  }
  return { interfaces: all, packets };
}

function packet(
  iface: PcapngInterface,
  interfaceId: number,
  ticks: bigint,
  data: Uint8Array,
  origLen: number,
): PcapngPacket {
  const whole = ticks / iface.ticksPerSecond;
  const nanos = Number(((ticks % iface.ticksPerSecond) * 1_000_000_000n) / iface.ticksPerSecond);
  const seconds = Number(whole + iface.offsetSeconds);
  return {
    linkType: iface.linkType,
    interfaceId,
    resolution: Number(iface.ticksPerSecond),
    seconds,
    nanos,
    time: seconds + nanos / 1e9,
    data,
    origLen,
  };
}

/** if_tsresol: high bit clear, 10^-n seconds; set, 2^-n. */
function tsresol(v: number): bigint {
  const n = BigInt(v & 0x7f);
  return (v & 0x80) === 0 ? 10n ** n : 2n ** n;
}

/** Calls `each(code, valueOffset, valueLength)` for every option up to opt_endofopt or `end`. */
function options(
  view: DataView,
  start: number,
  end: number,
  le: boolean,
  each: (code: number, at: number, len: number) => void,
): void {
  let off = start;
  while (off + 4 <= end) {
    const code = view.getUint16(off, le);
    const len = view.getUint16(off + 2, le);
    if (code === OPT_END || off + 4 + len > end) return;
    each(code, off + 4, len);
    off += 4 + ((len + 3) & ~3);
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(8, "0");
}
