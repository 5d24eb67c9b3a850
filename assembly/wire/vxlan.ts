// VXLAN, RFC 7348 §5.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |R|R|R|R|I|R|R|R|            Reserved                           |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                VXLAN Network Identifier (VNI) |   Reserved    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The I flag MUST be 1 for a valid VNI; other flags and reserved fields are zero on send and
// ignored on receive.

import { ETH_HEADER_LEN } from "./ethernet";

@inline export const VXLAN_HEADER_LEN: u32 = 8;
@inline export const VXLAN_PORT: u16 = 4789;
@inline export const VXLAN_FLAG_I: u8 = 0x08;
@inline export const VNI_MAX: u32 = 0xffffff;
@inline const FLAGS: u32 = 0;
@inline const VNI: u32 = 4;

@inline export function flags(p: usize): u8 {
  return load<u8>(p, FLAGS);
}

/**
 * The one shape check: the header and the inner Ethernet header it carries (RFC 7348 §5: "Inner
 * Ethernet Header"). Whether the VNI is valid is hasVni()'s: a counter of its own.
 */
@inline export function check(p: usize, len: u32): bool {
  return len >= VXLAN_HEADER_LEN + ETH_HEADER_LEN;
}

/** The I flag: the VNI field is valid. */
@inline export function hasVni(p: usize): bool {
  return (flags(p) & VXLAN_FLAG_I) != 0;
}

@inline export function vni(p: usize): u32 {
  return bswap<u32>(load<u32>(p, VNI)) >>> 8;
}

/** Writes the whole header: I flag, zero reserved bits, the VNI. */
@inline export function emitVxlan(p: usize, id: u32): void {
  store<u32>(p, <u32>VXLAN_FLAG_I, FLAGS); // flags byte first in memory, reserved bytes zero
  store<u32>(p, bswap<u32>(id << 8), VNI);
}
