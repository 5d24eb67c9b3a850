// ECN through the tunnel, RFC 6040, as the Linux kernel's VXLAN does it.
// Encapsulation (ip_tunnel_ecn_encap with the default `tos 0`): the outer ECN field is the
// inner one, except that CE goes out as ECT(0) (RFC 6040 §4.1, normal mode); DSCP stays 0.
// Decapsulation (vxlan_ecn_decapsulate → INET_ECN_decapsulate): an outer CE marks an ECT inner
// packet CE (the congestion the underlay saw must reach the receiver, §4.2); a CE outer over a
// Not-ECT inner packet cannot be passed on, so it is dropped; every other combination leaves the
// inner packet alone (the kernel does not copy an outer ECT(1) in, nor do we).

import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, check as ethCheck, payloadType } from "../wire/ethernet";
import { ECN_CE, ECN_ECT_0, ECN_MASK, check as ipv4Check, dontFragment, setCe as setCe4, tos } from "../wire/ipv4";
import { check as ipv6Check, setCe as setCe6, trafficClass } from "../wire/ipv6";

/** Bit 8 of `encapInfo`: the outer header may carry DF under `df inherit` (inner IPv4 with DF,
 *  or inner IPv6, which routers never fragment: the kernel's vxlan_xmit_one). */
@inline export const INNER_DF: u32 = 0x100;

/**
 * What the outer header of `frame` takes from it: the outer TOS byte (ECN per RFC 6040, CE as
 * ECT(0)) in bits 0–7, INNER_DF. 0 for a frame that is not IP (ARP, …): Not-ECT, no DF.
 */
export function encapInfo(frame: usize, len: u32): u32 {
  let l3 = ethCheck(frame, len);
  if (l3 == 0) return 0;
  let type = payloadType(frame, l3);
  let ip = frame + l3;
  let ecn: u8;
  let df: u32;
  if (type == ETHERTYPE_IPV4 && ipv4Check(ip, len - l3)) {
    ecn = tos(ip) & ECN_MASK;
    df = dontFragment(ip) ? INNER_DF : 0;
  } else if (type == ETHERTYPE_IPV6 && ipv6Check(ip, len - l3)) {
    ecn = trafficClass(ip) & ECN_MASK;
    df = INNER_DF;
  } else {
    return 0;
  }
  return <u32>(ecn == ECN_CE ? ECN_ECT_0 : ecn) | df;
}

@inline export const DECAP_OK: u32 = 0;
/** Outer CE over a Not-ECT inner packet: drop it (RFC 6040 §4.2, the kernel's return 2). */
@inline export const DECAP_DROP: u32 = 1;
/** Outer CE copied onto an ECT inner packet. */
@inline export const DECAP_MARKED: u32 = 2;

/** Applies the outer TOS byte `outer` to the inner frame, in place (checksum patched). */
export function decapsulate(frame: usize, len: u32, outer: u8): u32 {
  if ((outer & ECN_MASK) != ECN_CE) return DECAP_OK;
  let l3 = ethCheck(frame, len);
  if (l3 == 0) return DECAP_OK;
  let type = payloadType(frame, l3);
  let ip = frame + l3;
  if (type == ETHERTYPE_IPV4 && ipv4Check(ip, len - l3)) {
    if ((tos(ip) & ECN_MASK) == 0) return DECAP_DROP;
    setCe4(ip);
    return DECAP_MARKED;
  }
  if (type == ETHERTYPE_IPV6 && ipv6Check(ip, len - l3)) {
    if ((trafficClass(ip) & ECN_MASK) == 0) return DECAP_DROP;
    setCe6(ip);
    return DECAP_MARKED;
  }
  return DECAP_OK; // not IP: nothing to mark, nothing to drop (the kernel passes it too)
}
