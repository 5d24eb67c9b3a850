// Hand-built frames for switch tests, where a capture has no frame with the property needed.
import { parseIp, parseMac } from "../../cli/core/addr.ts";
import { readPcap } from "../../cli/pcap/pcap.ts";

export const FIXTURES = new URL("../../../shared/fixtures/", import.meta.url);

export function fixture(path: string) {
  return readPcap(Deno.readFileSync(new URL(path, FIXTURES))).packets;
}

/** An Ethernet frame of `len` bytes (≥ 14): dst, src, EtherType, then a counting payload. */
export function eth(dst: string, src: string, type = 0x0800, len = 64): Uint8Array {
  const f = new Uint8Array(len);
  f.set(parseMac(dst), 0);
  f.set(parseMac(src), 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  for (let i = 14; i < len; i++) f[i] = i & 0xff;
  return f;
}

/** A VXLAN datagram (UDP payload): flags, VNI, the inner frame. */
export function vxlan(vni: number, inner: Uint8Array, flags = 0x08): Uint8Array {
  const d = new Uint8Array(8 + inner.length);
  d[0] = flags;
  d[4] = vni >>> 16;
  d[5] = (vni >>> 8) & 0xff;
  d[6] = vni & 0xff;
  d.set(inner, 8);
  return d;
}

export const ip = (s: string) => parseIp(s);

export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** RFC 1071 sum over a byte array, for checking checksums the core wrote. */
export function onesSum(b: Uint8Array, start = 0): number {
  let s = start;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i] << 8) | b[i + 1];
  if (b.length & 1) s += b[b.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
