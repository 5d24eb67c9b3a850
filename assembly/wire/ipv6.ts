// IPv6 (RFC 8200) fixed header.
//
//  0       1       2       3
//  +-------+-------+-------+-------+
//  |ver| class |   flow label      |
//  | payload length|  next | hops  |
//  |   source address (16 bytes)   |
//  | destination address (16 bytes)|
//  +-------------------------------+

import { sumBytes } from "./checksum";

@inline export const IPV6_HEADER_LEN: u32 = 40;
@inline const VER_CLASS_FLOW: u32 = 0;
@inline const PAYLOAD_LEN: u32 = 4;
@inline const NEXT_HEADER: u32 = 6;
@inline const HOP_LIMIT: u32 = 7;
@inline export const IPV6_SRC: u32 = 8;
@inline export const IPV6_DST: u32 = 24;

@inline export function payloadLen(p: usize): u32 {
  return bswap<u16>(load<u16>(p, PAYLOAD_LEN));
}

@inline export function nextHeader(p: usize): u8 {
  return load<u8>(p, NEXT_HEADER);
}

/** The traffic class (DSCP and ECN, RFC 8200 §7), the bits after the version. */
@inline export function trafficClass(p: usize): u8 {
  return <u8>(bswap<u16>(load<u16>(p, VER_CLASS_FLOW)) >>> 4);
}

/** Sets the traffic class's ECN bits to CE (no checksum covers the IPv6 header). */
@inline export function setCe(p: usize): void {
  // ECN is the low two bits of the class: bits 4–5 of byte 1.
  store<u8>(p, load<u8>(p, VER_CLASS_FLOW + 1) | 0x30, VER_CLASS_FLOW + 1);
}

@inline export function hopLimit(p: usize): u8 {
  return load<u8>(p, HOP_LIMIT);
}

/** The one shape check: version 6 and a payload that fits `len`. */
export function check(p: usize, len: u32): bool {
  return len >= IPV6_HEADER_LEN && (load<u8>(p, VER_CLASS_FLOW) >> 4) == 6 &&
    IPV6_HEADER_LEN + payloadLen(p) <= len;
}

/** Sum of the RFC 8200 §8.1 pseudo-header, for upper-layer checksums. */
export function pseudoHeaderSum(p: usize, upperLen: u32, next: u8): u64 {
  let sum = sumBytes(p + IPV6_SRC, 32, 0);
  return sum + <u64>upperLen + <u64>next;
}

/** Writes the fixed header; `trafficClass` is DSCP and ECN, the flow label is 0. */
export function emitIpv6(
  p: usize, payloadLength: u32, next: u8, hops: u8, src: usize, dst: usize, trafficClass: u8 = 0,
): void {
  store<u32>(p, bswap<u32>(0x60000000 | (<u32>trafficClass << 20)), VER_CLASS_FLOW);
  store<u16>(p, bswap<u16>(<u16>payloadLength), PAYLOAD_LEN);
  store<u8>(p, next, NEXT_HEADER);
  store<u8>(p, hops, HOP_LIMIT);
  memory.copy(p + IPV6_SRC, src, 16);
  memory.copy(p + IPV6_DST, dst, 16);
}

@inline export function setPayloadLen(p: usize, v: u32): void {
  store<u16>(p, bswap<u16>(<u16>v), PAYLOAD_LEN);
}

/**
 * Whether two fixed headers agree on all but the payload length (ipv6_gro_receive()):
 * version/class/flow label, next header, hop limit, addresses.
 */
@inline export function sameButPayloadLen(a: usize, b: usize): bool {
  if (load<u32>(a, VER_CLASS_FLOW) != load<u32>(b, VER_CLASS_FLOW) || load<u16>(a, NEXT_HEADER) != load<u16>(b, NEXT_HEADER)) return false;
  return memory.compare(a + IPV6_SRC, b + IPV6_SRC, 32) == 0;
}

/** Offset of the IPv4 address in an IPv4-mapped address (::ffff:a.b.c.d, RFC 4291 §2.5.5.2). */
@inline export const V4_MAPPED_ADDR: u32 = 12;

/** Writes the IPv4-mapped form of `v4` (4 bytes as they sit in a header) to the 16 bytes at `p`. */
@inline export function storeV4Mapped(p: usize, v4: u32): void {
  store<u64>(p, 0);
  store<u32>(p, 0xffff0000, 8);
  store<u32>(p, v4, V4_MAPPED_ADDR);
}

/** Whether the 16-byte address at `p` is IPv4-mapped (::ffff:0:0/96). */
@inline export function isV4Mapped(p: usize): bool {
  return load<u64>(p) == 0 && load<u32>(p, 8) == 0xffff0000;
}
