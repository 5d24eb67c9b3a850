// The underlay seen whole, for captures: `weft pcap encap` wants Ethernet/IP/UDP/VXLAN packets
// back (emit), and PORT_UNDERLAY_ETH takes them in (parse: one VLAN tag, no IPv6 extension
// headers, no fragments). On a host the kernel's UDP socket does this part, and the core sees
// only the VXLAN datagram and its source address; `weft pcap decap` does the same, reading the
// outer headers as the kernel does in cli/pcap/underlay.ts and handing the core datagrams.

import { ETH_HEADER_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, check as ethCheck, emitEthernet, payloadType } from "../wire/ethernet";
import { IPPROTO_UDP, IPV4_HEADER_LEN, IPV4_SRC, check as ipv4Check, emitIpv4, headerLen, isFragment, proto, pseudoHeaderSum as ipv4PseudoHeaderSum, totalLen } from "../wire/ipv4";
import { IPV6_HEADER_LEN, IPV6_SRC, V4_MAPPED_ADDR, check as ipv6Check, emitIpv6, isV4Mapped, nextHeader, payloadLen, pseudoHeaderSum, storeV4Mapped } from "../wire/ipv6";
import { UDP_HEADER_LEN, check as udpCheck, dstPort, emitUdp, length as udpLength, setChecksum, srcPort } from "../wire/udp";
import { finish, sumBytes } from "../wire/checksum";
import { record, vtepPort } from "../switch/vtep";
import { VXLAN_PORT } from "../wire/vxlan";
import * as abi from "../abi";

/** UDP destination port that marks VXLAN (RFC 7348: 4789; configurable, as on Linux). */
export let vxlanPort: u16 = VXLAN_PORT;
export function setVxlanPort(port: u16): void { vxlanPort = port; }

/** What parse() found: where the VXLAN datagram starts in the packet, its length, its sender. */
@unmanaged export class Datagram {
  /** Bytes from the packet's start to the VXLAN header. */
  offset: u32;
  /** Bytes of the UDP payload (the VXLAN datagram). */
  len: u32;
  /** The UDP source port, host order. */
  peerPort: u16;
}

@inline export const UNDERLAY_OK: u32 = 0;
@inline export const UNDERLAY_MALFORMED: u32 = 1;
@inline export const UNDERLAY_NOT_VXLAN: u32 = 2;

/**
 * Validates an outer Ethernet/IPv4|IPv6/UDP packet to the VXLAN port and writes the 16-byte
 * source address to `peer`, the datagram's place to `out` (UNDERLAY_OK only). Fragments and IPv6
 * extension headers are not VXLAN here: a VTEP never fragments, and the kernel's VXLAN socket
 * sees reassembled datagrams only.
 */
export function parse(frame: usize, len: u32, peer: usize, out: Datagram): u32 {
  let l3 = ethCheck(frame, len);
  if (l3 == 0) return UNDERLAY_MALFORMED;
  let type = payloadType(frame, l3);
  let ip = frame + l3;
  let room = len - l3;
  let udp: usize;
  let udpRoom: u32;
  if (type == ETHERTYPE_IPV4) {
    if (!ipv4Check(ip, room)) return UNDERLAY_MALFORMED;
    if (proto(ip) != IPPROTO_UDP || isFragment(ip)) return UNDERLAY_NOT_VXLAN;
    udp = ip + headerLen(ip);
    udpRoom = totalLen(ip) - headerLen(ip);
    storeV4Mapped(peer, load<u32>(ip, IPV4_SRC));
  } else if (type == ETHERTYPE_IPV6) {
    if (!ipv6Check(ip, room)) return UNDERLAY_MALFORMED;
    if (nextHeader(ip) != IPPROTO_UDP) return UNDERLAY_NOT_VXLAN;
    udp = ip + IPV6_HEADER_LEN;
    udpRoom = payloadLen(ip);
    memory.copy(peer, ip + IPV6_SRC, 16);
  } else {
    return UNDERLAY_NOT_VXLAN;
  }
  if (!udpCheck(udp, udpRoom)) return UNDERLAY_MALFORMED;
  if (dstPort(udp) != vxlanPort) return UNDERLAY_NOT_VXLAN;
  out.offset = <u32>(udp - frame) + UDP_HEADER_LEN;
  out.len = udpLength(udp) - UDP_HEADER_LEN;
  out.peerPort = srcPort(udp);
  return UNDERLAY_OK;
}

let ipIdent: u16 = 0;

/** `emit` flags (abi.ts, where each is described): outer IPv4 DF; a UDP checksum over IPv4. */
@inline export const EMIT_DF: u32 = abi.EMIT_DF;
@inline export const EMIT_UDP_CSUM: u32 = abi.EMIT_UDP_CSUM;

/**
 * Prepends Ethernet/IP/UDP in front of the VXLAN datagram at `p` (into its headroom) for the
 * remote VTEP `vtep`, from local address `local` (16 bytes) and port `sport`. MACs are in `macs`
 * (destination then source); `tos` is the outer TOS / traffic class (a TX entry's, RFC 6040);
 * `flags` EMIT_DF | EMIT_UDP_CSUM. TTL / hop limit 64 and the IPv4 ID counting up, as the
 * kernel's VXLAN sends. Returns the new start; the length grows by the returned overhead.
 */
export function emit(p: usize, len: u32, vtep: u32, local: usize, sport: u16, macs: usize, tos: u8, flags: u32): usize {
  let remote = record(vtep);
  let dport = vtepPort(vtep);
  let udp = p - UDP_HEADER_LEN;
  let v4 = isV4Mapped(remote) && isV4Mapped(local);
  let ip = udp - (v4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN);
  let eth = ip - ETH_HEADER_LEN;
  emitUdp(udp, sport, dport, len);
  if (v4) {
    emitIpv4(ip, UDP_HEADER_LEN + len, IPPROTO_UDP, 64, ipIdent++, load<u32>(local, V4_MAPPED_ADDR), load<u32>(remote, V4_MAPPED_ADDR),
      tos, (flags & EMIT_DF) != 0);
    emitEthernet(eth, macs, macs + 6, ETHERTYPE_IPV4);
  } else {
    emitIpv6(ip, UDP_HEADER_LEN + len, IPPROTO_UDP, 64, local, remote, tos);
    emitEthernet(eth, macs, macs + 6, ETHERTYPE_IPV6);
  }
  // Over IPv6 the UDP checksum is mandatory (RFC 8200 §8.1; RFC 6935 zero-checksum is opt-in).
  if (!v4 || (flags & EMIT_UDP_CSUM)) {
    let pseudo = v4
      ? ipv4PseudoHeaderSum(ip, UDP_HEADER_LEN + len, IPPROTO_UDP)
      : pseudoHeaderSum(ip, UDP_HEADER_LEN + len, IPPROTO_UDP);
    let c = finish(sumBytes(udp, UDP_HEADER_LEN + len, pseudo));
    setChecksum(udp, c == 0 ? 0xffff : c); // RFC 768: a computed 0 goes out as all ones
  }
  return eth;
}
