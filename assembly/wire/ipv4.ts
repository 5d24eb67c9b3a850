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
/** The ECN field, the low two bits of the TOS byte (RFC 3168 §5). */
@inline export const ECN_MASK: u8 = 0x03;
@inline export const ECN_NOT_ECT: u8 = 0;
@inline export const ECN_ECT_1: u8 = 1;
@inline export const ECN_ECT_0: u8 = 2;
@inline export const ECN_CE: u8 = 3;
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

@inline export function tos(p: usize): u8 {
  return load<u8>(p, TOS);
}

@inline export function ttl(p: usize): u8 {
  return load<u8>(p, TTL);
}

@inline export function dontFragment(p: usize): bool {
  return (bswap<u16>(load<u16>(p, FLAGS_FRAG)) & FLAG_DF) != 0;
}

/**
 * Marks the packet CE and patches the header checksum for the one changed byte (RFC 1624 eqn. 3,
 * what the kernel's IP_ECN_set_ce does), so a header we never checked stays as valid as it came.
 */
export function setCe(p: usize): void {
  let old = load<u8>(p, TOS);
  let neu = old | ECN_CE;
  if (neu == old) return;
  // The TOS byte is the low byte of the first 16-bit word (version/IHL, TOS).
  let oldWord = (<u32>load<u8>(p, VER_IHL) << 8) | old;
  let newWord = (<u32>load<u8>(p, VER_IHL) << 8) | neu;
  let sum = <u32>(~bswap<u16>(load<u16>(p, CHECKSUM)) & 0xffff) + (~oldWord & 0xffff) + newWord;
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  store<u8>(p, neu, TOS);
  store<u16>(p, bswap<u16>(<u16>~sum), CHECKSUM);
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
 * Writes a 20-byte header (no options) with the checksum filled. `df` sets Don't Fragment;
 * `tos` is the whole TOS byte (DSCP and ECN).
 */
export function emitIpv4(
  p: usize, payloadLen: u32, protocol: u8, ttl: u8, ident: u16, src: u32, dst: u32,
  tos: u8 = 0, df: bool = true,
): void {
  store<u8>(p, 0x45, VER_IHL);
  store<u8>(p, tos, TOS);
  store<u16>(p, bswap<u16>(<u16>(IPV4_HEADER_LEN + payloadLen)), TOTAL_LEN);
  store<u16>(p, bswap<u16>(ident), IDENT);
  store<u16>(p, df ? bswap<u16>(FLAG_DF) : 0, FLAGS_FRAG);
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

/**
 * Whether two headers of `hdrLen` bytes (options included) agree on all but total length,
 * identification and checksum (what inet_gro_receive() lets differ between merged segments):
 * version/IHL, TOS, flags/fragment offset, TTL, protocol, addresses, options.
 */
@inline export function sameButLengthIdChecksum(a: usize, b: usize, hdrLen: u32): bool {
  if (load<u16>(a, VER_IHL) != load<u16>(b, VER_IHL) || load<u16>(a, FLAGS_FRAG) != load<u16>(b, FLAGS_FRAG) ||
      load<u16>(a, TTL) != load<u16>(b, TTL)) return false;
  return memory.compare(a + IPV4_SRC, b + IPV4_SRC, hdrLen - IPV4_SRC) == 0;
}
