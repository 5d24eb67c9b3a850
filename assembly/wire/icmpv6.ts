// ICMPv6 neighbour discovery (RFC 4861 §4.3, §4.4): solicitations and advertisements.
//
//  0      1      2        4                 8                      24
//  +------+------+--------+-----------------+----------------------+---------
//  | type | code | cksum  | reserved/flags  | target address (16)  | options
//  +------+------+--------+-----------------+----------------------+---------
//  Option: type (1), length in units of 8 bytes (1), value; link-layer address = 6 bytes.

import { finish, sumBytes } from "./checksum";
import { IPPROTO_ICMPV6 } from "./ipv4";
import { IPV6_DST, IPV6_HEADER_LEN, IPV6_SRC, nextHeader, hopLimit, payloadLen, pseudoHeaderSum, setPayloadLen } from "./ipv6";

@inline export const ICMPV6_PACKET_TOO_BIG: u8 = 2;
@inline export const ICMPV6_HEADER_LEN: u32 = 8;
@inline export const ICMPV6_NS: u8 = 135;
@inline export const ICMPV6_NA: u8 = 136;
@inline export const ND_LEN: u32 = 24;
@inline export const ND_TARGET: u32 = 8;
@inline const TYPE: u32 = 0;
@inline const CODE: u32 = 1;
@inline const CHECKSUM: u32 = 2;
@inline const FLAGS: u32 = 4;
@inline const OPT_TLLA: u8 = 2;
// An option (RFC 4861 §4.6): type, length, then for a link-layer address option the MAC.
@inline const OPT_TYPE: u32 = 0;
@inline const OPT_LEN: u32 = 1;
@inline const OPT_MAC: u32 = 2;
@inline const NA_FLAG_SOLICITED: u32 = 0x40000000;
/** NA with one target link-layer address option. */
@inline export const NA_WITH_TLLA_LEN: u32 = ND_LEN + 8;

/**
 * The one shape check for a neighbour solicitation we may answer, on an IPv6 header `ip` that
 * passed `ipv6.check`: ICMPv6 directly after the fixed header, hop limit 255 (§7.1.1), code 0,
 * room for the target, a specified source (a DAD probe from :: is left to flood so duplicate
 * detection still works), and a target that is not multicast.
 */
export function isAnswerableSolicitation(ip: usize): bool {
  if (nextHeader(ip) != IPPROTO_ICMPV6 || hopLimit(ip) != 255) return false;
  if (payloadLen(ip) < ND_LEN) return false;
  let icmp = ip + IPV6_HEADER_LEN;
  if (load<u8>(icmp, TYPE) != ICMPV6_NS || load<u8>(icmp, CODE) != 0) return false;
  if (load<u64>(ip, IPV6_SRC) == 0 && load<u64>(ip, IPV6_SRC + 8) == 0) return false;
  return load<u8>(icmp, ND_TARGET) != 0xff;
}

/**
 * Rewrites a solicitation at `ip` into the solicited advertisement `mac` would send, in place, as
 * the Linux bridge's neighbour suppression does: source = the target, destination = the
 * solicitor, flags S, one target link-layer option. Returns the new IPv6 packet length.
 */
export function rewriteAsAdvertisement(ip: usize, mac: usize): u32 {
  let icmp = ip + IPV6_HEADER_LEN;
  memory.copy(ip + IPV6_DST, ip + IPV6_SRC, 16);
  memory.copy(ip + IPV6_SRC, icmp + ND_TARGET, 16);
  setPayloadLen(ip, NA_WITH_TLLA_LEN);
  store<u8>(icmp, ICMPV6_NA, TYPE);
  store<u8>(icmp, 0, CODE);
  store<u32>(icmp, bswap<u32>(NA_FLAG_SOLICITED), FLAGS);
  store<u8>(icmp, OPT_TLLA, ND_LEN + OPT_TYPE);
  store<u8>(icmp, 1, ND_LEN + OPT_LEN); // in units of 8 bytes
  memory.copy(icmp + ND_LEN + OPT_MAC, mac, 6);
  store<u16>(icmp, 0, CHECKSUM);
  let sum = sumBytes(icmp, NA_WITH_TLLA_LEN, pseudoHeaderSum(ip, NA_WITH_TLLA_LEN, IPPROTO_ICMPV6));
  store<u16>(icmp, bswap<u16>(finish(sum)), CHECKSUM);
  return IPV6_HEADER_LEN + NA_WITH_TLLA_LEN;
}

/** Type of the ICMPv6 message at `icmp`; below 128 an error (RFC 4443 §2.1), never answered. */
@inline export function icmpv6Type(icmp: usize): u8 {
  return load<u8>(icmp, TYPE);
}

/**
 * Writes a Packet Too Big header (RFC 4443 §3.2: type 2, code 0, the MTU) at `icmp`, before the
 * `quoted` bytes already at icmp + 8, with the checksum over the pseudo-header of `ip`, whose
 * addresses and payload length must already be written.
 */
export function emitPacketTooBig(ip: usize, icmp: usize, mtu: u32, quoted: u32): void {
  store<u8>(icmp, ICMPV6_PACKET_TOO_BIG, TYPE);
  store<u8>(icmp, 0, CODE);
  store<u16>(icmp, 0, CHECKSUM);
  store<u32>(icmp, bswap<u32>(mtu), FLAGS); // the 32-bit word after the checksum: the MTU
  let len = ICMPV6_HEADER_LEN + quoted;
  let sum = sumBytes(icmp, len, pseudoHeaderSum(ip, len, IPPROTO_ICMPV6));
  store<u16>(icmp, bswap<u16>(finish(sum)), CHECKSUM);
}
