// IPv4 (RFC 791).
//
//  0       1       2       3
//  +-------+-------+-------+-------+
//  |ver|ihl|  tos  | total length  |
//  | identification|flags| fragoff |
//  |  ttl  | proto | hdr checksum  |
//  |        source address         |
//  |      destination address      |
//  +-------------------------------+

import { checksum, sumBytes } from "./checksum";

@inline export const IPV4_HEADER_LEN: u32 = 20;
@inline export const IPPROTO_TCP: u8 = 6;
@inline export const IPPROTO_UDP: u8 = 17;
@inline export const IPPROTO_ICMPV6: u8 = 58;
@inline const VER_IHL: u32 = 0;
@inline const TOS: u32 = 1;
@inline const TOTAL_LEN: u32 = 2;
@inline const IDENT: u32 = 4;
@inline const FLAGS_FRAG: u32 = 6;
@inline const TTL: u32 = 8;
@inline const PROTO: u32 = 9;
@inline const CHECKSUM: u32 = 10;
@inline export const IPV4_SRC: u32 = 12;
@inline export const IPV4_DST: u32 = 16;
@inline const FLAG_DF: u16 = 0x4000;
@inline const FRAG_MASK: u16 = 0x3fff; // MF + offset: any fragment

@inline export function headerLen(p: usize): u32 {
  return (<u32>load<u8>(p, VER_IHL) & 0xf) << 2;
}

@inline export function proto(p: usize): u8 {
  return load<u8>(p, PROTO);
}

@inline export function totalLen(p: usize): u32 {
  return bswap<u16>(load<u16>(p, TOTAL_LEN));
}

@inline export function isFragment(p: usize): bool {
  return (bswap<u16>(load<u16>(p, FLAGS_FRAG)) & FRAG_MASK) != 0;
}

/** The one shape check: version 4, a header that fits, a total length that fits `len`. */
export function check(p: usize, len: u32): bool {
  if (len < IPV4_HEADER_LEN) return false;
  if ((load<u8>(p, VER_IHL) >> 4) != 4) return false;
  let ihl = headerLen(p);
  let total = totalLen(p);
  return ihl >= IPV4_HEADER_LEN && total >= ihl && total <= len;
}

/**
 * Writes a 20-byte header with DF set and the checksum filled, as the kernel's VXLAN does for
 * its outer header (the tunnel never fragments).
 */
export function emitIpv4(
  p: usize, payloadLen: u32, protocol: u8, ttl: u8, ident: u16, src: u32, dst: u32,
): void {
  store<u8>(p, 0x45, VER_IHL);
  store<u8>(p, 0, TOS);
  store<u16>(p, bswap<u16>(<u16>(IPV4_HEADER_LEN + payloadLen)), TOTAL_LEN);
  store<u16>(p, bswap<u16>(ident), IDENT);
  store<u16>(p, bswap<u16>(FLAG_DF), FLAGS_FRAG);
  store<u8>(p, ttl, TTL);
  store<u8>(p, protocol, PROTO);
  store<u16>(p, 0, CHECKSUM);
  store<u32>(p, src, IPV4_SRC); // addresses are passed in network order
  store<u32>(p, dst, IPV4_DST);
  store<u16>(p, bswap<u16>(checksum(p, IPV4_HEADER_LEN)), CHECKSUM);
}

/** Sum of the RFC 9293 §3.1 pseudo-header (source, destination, protocol, length). */
export function pseudoHeaderSum(p: usize, upperLen: u32, protocol: u8): u64 {
  return sumBytes(p + IPV4_SRC, 8, 0) + <u64>upperLen + <u64>protocol;
}

@inline export function setTotalLen(p: usize, v: u32): void {
  store<u16>(p, bswap<u16>(<u16>v), TOTAL_LEN);
}

@inline export function ident(p: usize): u16 {
  return bswap<u16>(load<u16>(p, IDENT));
}

@inline export function setIdent(p: usize, v: u16): void {
  store<u16>(p, bswap<u16>(v), IDENT);
}

/** Recomputes the header checksum after a header field changed. */
export function refreshChecksum(p: usize): void {
  store<u16>(p, 0, CHECKSUM);
  store<u16>(p, bswap<u16>(checksum(p, headerLen(p))), CHECKSUM);
}
