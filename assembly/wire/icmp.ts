// ICMP for IPv4 (RFC 792), the one message weft sends: Destination Unreachable, code 4
// "fragmentation needed and DF set", with the next-hop MTU of RFC 1191 §4.
//
//  0      1      2        4          6          8
//  +------+------+--------+----------+----------+----------------------------------
//  | type | code | cksum  | unused   | next-hop | original IP header + leading bytes
//  |  3   |  4   |        |   0      |   MTU    |
//  +------+------+--------+----------+----------+----------------------------------

import { checksum } from "./checksum";

@inline export const ICMP_HEADER_LEN: u32 = 8;
@inline export const ICMP_DEST_UNREACH: u8 = 3;
@inline export const ICMP_FRAG_NEEDED: u8 = 4;
@inline const TYPE: u32 = 0;
@inline const CODE: u32 = 1;
@inline const CHECKSUM: u32 = 2;
@inline const UNUSED: u32 = 4;
@inline const MTU: u32 = 6;

@inline export function icmpType(p: usize): u8 {
  return load<u8>(p, TYPE);
}

/**
 * An error message, which must never be answered with another (RFC 1122 §3.2.2); the kernel's
 * icmp_is_err(): unreachable, source quench, redirect, time exceeded, parameter problem.
 */
@inline export function isError(type: u8): bool {
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

/** Writes the header before `quoted` bytes already at p + 8, and their checksum. */
export function emitFragNeeded(p: usize, mtu: u16, quoted: u32): void {
  store<u8>(p, ICMP_DEST_UNREACH, TYPE);
  store<u8>(p, ICMP_FRAG_NEEDED, CODE);
  store<u16>(p, 0, CHECKSUM);
  store<u16>(p, 0, UNUSED);
  store<u16>(p, bswap<u16>(mtu), MTU);
  store<u16>(p, bswap<u16>(checksum(p, ICMP_HEADER_LEN + quoted)), CHECKSUM);
}
