// struct sockaddr_in / sockaddr_in6 (<netinet/in.h>) to and from the core's 16-byte addresses
// (IPv4 as ::ffff:a.b.c.d). Ports and addresses are in network byte order inside.

import { isMappedIpv4 } from "../core/addr.ts";
import { AF_INET, AF_INET6, SOCKADDR_IN6_LEN, SOCKADDR_IN_LEN } from "../sys/libc.ts";

const SIN_FAMILY = 0;
const SIN_PORT = 2;
const SIN_ADDR = 4;
const SIN6_ADDR = 8;

/** AF_INET for an IPv4-mapped 16-byte address (::ffff:a.b.c.d), else AF_INET6. */
export function familyOf(address: Uint8Array): number {
  return isMappedIpv4(address) ? AF_INET : AF_INET6;
}

/** Bytes of a sockaddr of `family`: SOCKADDR_IN_LEN (16) or SOCKADDR_IN6_LEN (28). */
export function sockaddrLen(family: number): number {
  return family === AF_INET ? SOCKADDR_IN_LEN : SOCKADDR_IN6_LEN;
}

/** Writes a sockaddr for (address, port) at byte `off` of `view`, zeroing it first: family
 *  (host order), port and address (network order). `address` is 16-byte form; `family` must
 *  be familyOf(address). Returns its length in bytes (sockaddrLen). */
export function writeSockaddr(
  view: DataView,
  off: number,
  address: Uint8Array,
  port: number,
  family: number,
): number {
  const len = sockaddrLen(family);
  for (let i = 0; i < len; i++) view.setUint8(off + i, 0);
  view.setUint16(off + SIN_FAMILY, family, true);
  view.setUint16(off + SIN_PORT, port, false);
  if (family === AF_INET) {
    for (let i = 0; i < 4; i++) view.setUint8(off + SIN_ADDR + i, address[12 + i]);
  } else {
    for (let i = 0; i < 16; i++) view.setUint8(off + SIN6_ADDR + i, address[i]);
  }
  return len;
}

/** A new sockaddr_in / sockaddr_in6 for (address, port), for bind() and sendto(). */
export function sockaddr(address: Uint8Array, port: number): Uint8Array {
  const family = familyOf(address);
  const out = new Uint8Array(sockaddrLen(family));
  writeSockaddr(new DataView(out.buffer), 0, address, port, family);
  return out;
}

/**
 * Copies the received sockaddr at byte `off` of `src` into a 16-byte core address at byte
 * `dstOff` of `dst` (IPv4 mapped) and returns the port (host order). No allocation: this runs once per received datagram.
 */
export function readSockaddrInto(src: DataView, off: number, dst: DataView, dstOff: number): number {
  if (src.getUint16(off + SIN_FAMILY, true) === AF_INET) {
    dst.setUint32(dstOff, 0);
    dst.setUint32(dstOff + 4, 0);
    dst.setUint32(dstOff + 8, 0x0000ffff);
    dst.setUint32(dstOff + 12, src.getUint32(off + SIN_ADDR));
  } else {
    for (let i = 0; i < 16; i += 4) dst.setUint32(dstOff + i, src.getUint32(off + SIN6_ADDR + i));
  }
  return src.getUint16(off + SIN_PORT, false);
}
