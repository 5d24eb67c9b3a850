// Path MTU for bridged traffic, as the kernel's skb_tunnel_check_pmtu() does for a VXLAN port
// of a bridge: an inner packet from a local port that does not fit the network's MTU, and that
// its sender does not allow to be fragmented, is answered with ICMP "fragmentation needed"
// (IPv4, RFC 1191) or "packet too big" (IPv6, RFC 8201) carrying the MTU, as if from its
// destination (iptunnel_pmtud_build_icmp[v6]: addresses and MACs swapped, the sender's TTL), so
// the sender's stack lowers its path MTU and TCP recovers instead of stalling on a container
// whose MTU is larger than the overlay's (moby/libnetwork#2661).
//
// Not answered (iptunnel_pmtud_check_icmp[v6]): IPv4 without DF, broadcast/multicast/loopback/
// zero addresses, ICMP errors, group destination MACs, VLAN-tagged frames (the reply would need
// the tag). Replies are built in a region of their own, so the dropped frame stays as it came
// (the host may still record it), and are rate-limited to PMTU_ICMP_PER_SECOND.

import { ETH_DST, ETH_HEADER_LEN, ETH_SRC, ETHERTYPE_IPV4, ETHERTYPE_IPV6, emitEthernet, etherType, macIsGroup, macKey } from "../wire/ethernet";
import { IPPROTO_ICMPV6, IPV4_DST, IPV4_HEADER_LEN, IPV4_SRC, check as ipv4Check, dontFragment, emitIpv4, headerLen, proto, totalLen, ttl } from "../wire/ipv4";
import { IPV6_DST, IPV6_HEADER_LEN, IPV6_SRC, check as ipv6Check, emitIpv6, hopLimit, nextHeader, payloadLen } from "../wire/ipv6";
import { ICMP_HEADER_LEN, emitFragNeeded, icmpType, isError } from "../wire/icmp";
import { ICMPV6_HEADER_LEN, emitPacketTooBig, icmpv6Type } from "../wire/icmpv6";
import { allocate } from "../layout";

/** Replies per second, for the whole core (the kernel's icmp_msgs_per_sec is 1000 host-wide). */
@inline export const PMTU_ICMP_PER_SECOND: u32 = 100;
/** Replies per burst: one region each. */
@inline const REPLIES_PER_BURST: u32 = 4;
/** Most of the original packet an ICMP error quotes: the reply stays within 576 bytes (IPv4,
 *  RFC 1812 §4.3.2.3) or 1280 (IPv6, RFC 4443 §2.4 (c)). */
@inline const QUOTE_V4: u32 = 576 - IPV4_HEADER_LEN - ICMP_HEADER_LEN;
@inline const QUOTE_V6: u32 = 1280 - IPV6_HEADER_LEN - ICMPV6_HEADER_LEN;
@inline const REPLY_BYTES: u32 = 1344; // ≥ 14 + 1280, cache-line multiple
@inline const IPPROTO_ICMP: u8 = 1;
@inline const IPV6_MIN_MTU: u32 = 1280;

@inline export const NO_REPLY: u32 = 0;
@inline export const REPLY: u32 = 1;
@inline export const LIMITED: u32 = 2;

let regionPtr: usize = 0;
let used: u32 = 0;
let second: u32 = 0xffffffff;
let sentThisSecond: u32 = 0;
/** The reply `reply` built: where it starts and its length. */
export let replyPtr: usize = 0;
export let replyLen: u32 = 0;

export function layoutPmtu(): bool {
  regionPtr = allocate(<usize>REPLIES_PER_BURST * REPLY_BYTES);
  return regionPtr != 0;
}

/** Where replies are built: TX entries of PMTU replies point into [base, base + size). */
export function replyRegion(): usize { return regionPtr; }
export function replyRegionBytes(): u32 { return REPLIES_PER_BURST * REPLY_BYTES; }

export function resetPmtu(): void {
  used = 0;
}

/** IPv4 addresses (network order, as loaded) that never get an ICMP error. */
@inline function badSource4(a: u32): bool {
  let first = a & 0xff;
  return first == 0 || first == 127 || (first >= 224) ; // zero net, loopback, multicast, class E/broadcast
}

@inline function badDestination4(a: u32): bool {
  return a == 0xffffffff || (a & 0xf0) == 0xe0; // limited broadcast, multicast
}

/**
 * Builds the ICMP reply to an untagged `frame` of `len` bytes that does not fit `mtu`: REPLY
 * (replyPtr/replyLen set), LIMITED (one was due, the rate or the burst's regions said no), or
 * NO_REPLY (the packet is not one the kernel would answer).
 */
export function reply(frame: usize, len: u32, mtu: u32, now: u32): u32 {
  if (len <= ETH_HEADER_LEN || macIsGroup(macKey(frame + ETH_DST))) return NO_REPLY;
  let type = etherType(frame);
  let ip = frame + ETH_HEADER_LEN;
  let room = len - ETH_HEADER_LEN;
  let v4 = type == ETHERTYPE_IPV4;
  if (v4) {
    if (!ipv4Check(ip, room) || !dontFragment(ip)) return NO_REPLY;
    if (badSource4(load<u32>(ip, IPV4_SRC)) || badDestination4(load<u32>(ip, IPV4_DST))) return NO_REPLY;
    let ihl = headerLen(ip);
    if (proto(ip) == IPPROTO_ICMP && (room < ihl + 1 || isError(icmpType(ip + ihl)))) return NO_REPLY;
  } else if (type == ETHERTYPE_IPV6) {
    if (!ipv6Check(ip, room)) return NO_REPLY;
    // Unspecified or multicast source, multicast destination.
    if ((load<u64>(ip, IPV6_SRC) == 0 && load<u64>(ip, IPV6_SRC + 8) == 0) ||
        load<u8>(ip + IPV6_SRC) == 0xff || load<u8>(ip + IPV6_DST) == 0xff) return NO_REPLY;
    if (nextHeader(ip) == IPPROTO_ICMPV6 &&
        (room < IPV6_HEADER_LEN + 1 || icmpv6Type(ip + IPV6_HEADER_LEN) < 128)) return NO_REPLY;
  } else {
    return NO_REPLY;
  }
  if (now != second) {
    second = now;
    sentThisSecond = 0;
  }
  if (sentThisSecond >= PMTU_ICMP_PER_SECOND || used >= REPLIES_PER_BURST) return LIMITED;
  sentThisSecond++;
  let r = regionPtr + <usize>(used++) * REPLY_BYTES;
  // The reply comes from the destination's MAC and address, back to the sender's.
  emitEthernet(r, frame + ETH_SRC, frame + ETH_DST, type);
  let nip = r + ETH_HEADER_LEN;
  if (v4) {
    let quoted = min(min(totalLen(ip), room), QUOTE_V4);
    let icmp = nip + IPV4_HEADER_LEN;
    memory.copy(icmp + ICMP_HEADER_LEN, ip, quoted);
    emitFragNeeded(icmp, <u16>mtu, quoted);
    emitIpv4(nip, ICMP_HEADER_LEN + quoted, IPPROTO_ICMP, ttl(ip), 0,
      load<u32>(ip, IPV4_DST), load<u32>(ip, IPV4_SRC), 0, true);
    replyLen = ETH_HEADER_LEN + IPV4_HEADER_LEN + ICMP_HEADER_LEN + quoted;
  } else {
    let quoted = min(min(IPV6_HEADER_LEN + payloadLen(ip), room), QUOTE_V6);
    let icmp = nip + IPV6_HEADER_LEN;
    memory.copy(icmp + ICMPV6_HEADER_LEN, ip, quoted);
    emitIpv6(nip, ICMPV6_HEADER_LEN + quoted, IPPROTO_ICMPV6, hopLimit(ip), ip + IPV6_DST, ip + IPV6_SRC);
    emitPacketTooBig(nip, icmp, max(mtu, IPV6_MIN_MTU), quoted);
    replyLen = ETH_HEADER_LEN + IPV6_HEADER_LEN + ICMPV6_HEADER_LEN + quoted;
  }
  replyPtr = r;
  return REPLY;
}
