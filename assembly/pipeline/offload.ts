// Offloads: the work a NIC would do, done in the core so the host crosses into the kernel once
// per super-frame instead of once per packet (what wireguard-go does with TUN offloads and UDP
// GSO/GRO).
//  - checksum completion: a frame the kernel handed us with NEEDS_CSUM has a partial checksum
//    (the pseudo-header sum) at csum_start + csum_offset; skb_checksum_help() semantics.
//  - segmentation (TSO/USO): a super-frame bound for a VTEP is cut into MTU-sized inner frames,
//    each behind its VXLAN header, back to back in the arena with one stride, so one sendmsg
//    with UDP_SEGMENT (or one sendmmsg) sends them all. The wire stays plain RFC 7348.
// The frame was validated by the pipeline up to the Ethernet header; `parseL4` is the one shape
// check for the layers above it. Its result and segment()'s are records the caller passes
// (pipeline/records.ts holds the frame path's), never module globals a later frame overwrites.

import { ETH_HEADER_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, check as ethCheck, payloadType } from "../wire/ethernet";
import {
  IPPROTO_TCP, IPPROTO_UDP, check as ipv4Check, headerLen as ipv4HeaderLen, ident, isFragment, proto,
  pseudoHeaderSum as ipv4Pseudo, refreshChecksum, setIdent, setTotalLen, totalLen,
} from "../wire/ipv4";
import { IPV6_HEADER_LEN, check as ipv6Check, nextHeader, payloadLen, pseudoHeaderSum as ipv6Pseudo, setPayloadLen } from "../wire/ipv6";
import { TCP_CHECKSUM, TCP_CWR, TCP_FIN, TCP_FLAGS, TCP_PSH, check as tcpCheck, flags as tcpFlags, headerLen as tcpHeaderLen, seq, setSeq } from "../wire/tcp";
import { UDP_HEADER_LEN, check as udpCheck, setChecksum as setUdpChecksum, setLength as setUdpLength } from "../wire/udp";
import { finish, sumBytes } from "../wire/checksum";
import { VXLAN_HEADER_LEN, emitVxlan } from "../wire/vxlan";
import { GSO_ECN, GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4, csumOffset, csumStart, gsoSize, gsoType } from "../wire/virtio_net";
import { allocate } from "../layout";

/** Where a frame's layers start, as parseL4() found them: offsets from the frame start. */
@unmanaged export class L4Info {
  /** The IP header (after Ethernet and at most one VLAN tag). */
  l3: u32;
  /** The TCP or UDP header. */
  l4: u32;
  /** The first byte after the TCP/UDP header. */
  payloadAt: u32;
  /** End of the IP packet (Ethernet padding, if any, lies beyond). */
  ipEnd: u32;
  /** IPPROTO_TCP or IPPROTO_UDP. */
  proto: u8;
  isV6: bool;
}

/**
 * Ethernet / IPv4 (unfragmented) or IPv6 (no extension headers) / TCP or UDP, into `r`; else
 * false (and `r` half written: read it only after true).
 */
export function parseL4(frame: usize, len: u32, r: L4Info): bool {
  let o = ethCheck(frame, len);
  if (o == 0) return false;
  let type = payloadType(frame, o);
  let ip = frame + o;
  let room = len - o;
  let l4: u32, p: u8, end: u32;
  if (type == ETHERTYPE_IPV4) {
    if (!ipv4Check(ip, room) || isFragment(ip)) return false;
    r.isV6 = false;
    l4 = o + ipv4HeaderLen(ip);
    p = proto(ip);
    end = o + totalLen(ip);
  } else if (type == ETHERTYPE_IPV6) {
    if (!ipv6Check(ip, room)) return false;
    r.isV6 = true;
    l4 = o + IPV6_HEADER_LEN;
    p = nextHeader(ip);
    end = l4 + payloadLen(ip);
  } else {
    return false;
  }
  r.l3 = o;
  r.l4 = l4;
  r.proto = p;
  r.ipEnd = end;
  if (p == IPPROTO_TCP) {
    if (!tcpCheck(frame + l4, end - l4)) return false;
    r.payloadAt = l4 + tcpHeaderLen(frame + l4);
    return true;
  }
  if (p == IPPROTO_UDP) {
    if (!udpCheck(frame + l4, end - l4)) return false;
    r.payloadAt = l4 + UDP_HEADER_LEN;
    return true;
  }
  return false;
}

/** Pseudo-header sum of a frame laid out as `r` says, for an upper-layer length. */
@inline export function pseudoSum(frame: usize, upperLen: u32, r: L4Info): u64 {
  return r.isV6 ? ipv6Pseudo(frame + r.l3, upperLen, r.proto) : ipv4Pseudo(frame + r.l3, upperLen, r.proto);
}

/** Whether the TCP/UDP checksum of the frame `r` describes verifies. */
export function l4ChecksumValid(frame: usize, r: L4Info): bool {
  let n = r.ipEnd - r.l4;
  return finish(sumBytes(frame + r.l4, n, pseudoSum(frame, n, r))) == 0;
}

/**
 * Fills the checksum a NEEDS_CSUM frame left partial: the one's-complement sum from csum_start to
 * the end, stored at csum_start + csum_offset. False when those offsets do not fit the frame.
 */
export function completeChecksum(frame: usize, len: u32, vnet: usize): bool {
  let start = csumStart(vnet);
  let field = start + csumOffset(vnet);
  if (start < ETH_HEADER_LEN || field + 2 > len) return false;
  let c = finish(sumBytes(frame + start, len - start, 0));
  // RFC 768: a computed UDP checksum of zero is sent as all ones.
  if (c == 0 && csumOffset(vnet) == 6) c = 0xffff;
  store<u16>(frame + field, bswap<u16>(c));
  return true;
}

// ── segmentation ───────────────────────────────────────────────────────────────────────────

/** UDP GSO sends at most 64 segments (UDP_MAX_SEGMENTS) of at most 64 KiB in all per call. */
@inline export const GSO_MAX_SEGMENTS: u32 = 64;
@inline export const GSO_MAX_BYTES: u32 = 65000;

let arenaPtr: usize = 0;
let arenaEnd: usize = 0;
let arenaCursor: usize = 0;

export function layoutArena(bytes: u32): bool {
  if (bytes == 0) return true;
  arenaPtr = allocate(bytes);
  arenaEnd = arenaPtr + bytes;
  arenaCursor = arenaPtr;
  return arenaPtr != 0;
}

/** Every burst starts with an empty arena: the host has sent the last burst's datagrams. */
@inline export function resetArena(): void {
  arenaCursor = arenaPtr;
}

export function arenaBase(): usize { return arenaPtr; }
export function arenaSize(): usize { return arenaEnd - arenaPtr; }

/** What segment() laid out in the arena: `count` VXLAN datagrams back to back from `ptr`. */
@unmanaged export class Segments {
  ptr: usize;
  count: u32;
  /** Datagram stride: every datagram but the last is exactly this long. */
  stride: u32;
  /** Bytes of all the datagrams together. */
  len: u32;
}

@inline export const SEGMENT_OK: u32 = 0;
@inline export const SEGMENT_MALFORMED: u32 = 1;
@inline export const SEGMENT_NO_ROOM: u32 = 2;
@inline export const SEGMENT_TOO_BIG: u32 = 3;
/**
 * A GSO frame whose payload fits one segment (gso_size set, the kernel's segmentation would change
 * nothing): well-formed enough to parse, it goes out as a plain frame once its checksum is complete.
 */
export function singleSegment(frame: usize, len: u32, vnet: usize, r: L4Info): bool {
  let mss = gsoSize(vnet);
  return mss != 0 && parseL4(frame, len, r) && r.ipEnd - r.payloadAt <= mss;
}

/**
 * Cuts a GSO super-frame (virtio_net_hdr at `vnet`) into VXLAN datagrams in the arena, as the
 * kernel's tcp_gso_segment()/__udp_gso_segment() would: TCP sequence numbers advance by MSS,
 * FIN and PSH only on the last segment, CWR only on the first, IPv4 IDs increment, lengths and
 * full checksums per segment. `maxFrame` is the largest inner frame the VNI carries. `r` is
 * scratch for the parse; on SEGMENT_OK, `out` says where the datagrams are.
 */
export function segment(frame: usize, len: u32, vnet: usize, vni: u32, maxFrame: u32, r: L4Info, out: Segments): u32 {
  let type = gsoType(vnet) & ~GSO_ECN;
  if (!parseL4(frame, len, r)) return SEGMENT_MALFORMED;
  let isV6 = r.isV6, l3 = r.l3, l4 = r.l4;
  let tcp = r.proto == IPPROTO_TCP;
  if (type == GSO_TCPV4 ? (!tcp || isV6) : type == GSO_TCPV6 ? (!tcp || !isV6) : type == GSO_UDP_L4 ? tcp : true) {
    return SEGMENT_MALFORMED;
  }
  let mss = gsoSize(vnet);
  if (mss == 0) return SEGMENT_MALFORMED;
  let hdr = r.payloadAt;
  let payload = r.ipEnd - r.payloadAt;
  // One segment's worth or less never gets here (fromLocal sends it as a plain frame, see
  // singleSegment); it would come out as one datagram. No payload at all has nothing to cut.
  if (payload == 0) return SEGMENT_MALFORMED;
  if (hdr + mss > maxFrame) return SEGMENT_TOO_BIG;
  let n = (payload + mss - 1) / mss;
  let stride = VXLAN_HEADER_LEN + hdr + mss;
  let total = (n - 1) * stride + VXLAN_HEADER_LEN + hdr + (payload - (n - 1) * mss);
  if (arenaCursor + <usize>total > arenaEnd) return SEGMENT_NO_ROOM;

  let base = arenaCursor;
  let id0 = isV6 ? <u16>0 : ident(frame + l3);
  let seq0 = tcp ? seq(frame + l4) : 0;
  let flags0 = tcp ? tcpFlags(frame + l4) : 0;
  for (let i: u32 = 0; i < n; i++) {
    let chunk = i + 1 < n ? mss : payload - i * mss;
    let d = base + <usize>i * stride;
    emitVxlan(d, vni);
    let f = d + VXLAN_HEADER_LEN;
    memory.copy(f, frame, hdr);
    memory.copy(f + hdr, frame + hdr + i * mss, chunk);
    let upper = hdr - l4 + chunk;
    let ip = f + l3;
    if (isV6) {
      setPayloadLen(ip, upper);
    } else {
      setTotalLen(ip, hdr - l3 + chunk);
      setIdent(ip, id0 + <u16>i);
      refreshChecksum(ip);
    }
    let t = f + l4;
    if (tcp) {
      setSeq(t, seq0 + i * mss);
      let fl = flags0;
      if (i + 1 < n) fl &= ~(TCP_FIN | TCP_PSH);
      if (i > 0) fl &= ~TCP_CWR;
      store<u8>(t, fl, TCP_FLAGS);
      store<u16>(t, 0, TCP_CHECKSUM);
      store<u16>(t, bswap<u16>(finish(sumBytes(t, upper, pseudoSum(f, upper, r)))), TCP_CHECKSUM);
    } else {
      setUdpLength(t, upper);
      setUdpChecksum(t, 0);
      let c = finish(sumBytes(t, upper, pseudoSum(f, upper, r)));
      setUdpChecksum(t, c == 0 ? 0xffff : c); // RFC 768: a computed 0 goes out as all ones
    }
  }
  out.ptr = base;
  out.count = n;
  out.stride = stride;
  out.len = total;
  arenaCursor = (base + total + 7) & ~7;
  return SEGMENT_OK;
}
