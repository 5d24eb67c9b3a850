// Receive coalescing (GRO): consecutive TCP segments of one flow, decapsulated from one UDP GRO
// buffer and bound for the same local port, are merged into one super-frame that the TAP takes
// with a virtio_net_hdr (GSO type, MSS, partial checksum) — what the kernel's tcp_gro_receive()
// does, with the same rules: identical headers but lengths/IDs/checksums, in-order sequence
// numbers, equal option bytes, only ACK (and PSH on the last) set, every segment's checksum
// verified before it is merged (the TAP trusts a CHECKSUM_PARTIAL frame).
//
// The merge is in place: each datagram's payload moves back over the headers before it, so the
// super-frame grows inside the GRO buffer it came in, never past the next datagram's start.

import { IPPROTO_TCP, pseudoHeaderSum as ipv4PseudoHeaderSum, refreshChecksum, sameButLengthIdChecksum as ipv4SameButLengthIdChecksum, setTotalLen } from "../wire/ipv4";
import { pseudoHeaderSum as ipv6PseudoHeaderSum, sameButPayloadLen as ipv6SameButPayloadLen, setPayloadLen } from "../wire/ipv6";
import { TCP_ACK, TCP_ACK_FLAG, TCP_CHECKSUM, TCP_FLAGS, TCP_PSH, TCP_WINDOW, flags as tcpFlags, sameFlowHeader, seq } from "../wire/tcp";
import { finish } from "../wire/checksum";
import { F_NEEDS_CSUM, GSO_TCPV4, GSO_TCPV6 } from "../wire/virtio_net";
import { setEntryLen, setEntryVnet } from "./tx";
import { L4Info, l4ChecksumValid, parseL4 } from "./offload";

@inline const MAX_IP_LEN: u32 = 65535;

/**
 * The open super-frame of one UDP GRO buffer: the head segment, grown in place, and what the
 * next segment must match. The head's own offsets, copied out of its parse: a later frame's
 * parse (L4Info) says nothing about it.
 */
@unmanaged export class GroHead {
  /** The head frame and its TX entry. */
  frame: usize;
  tx: usize;
  /** Bytes of the super-frame so far. */
  len: u32;
  /** The local port all its segments go to. */
  target: u32;
  /** Bytes of headers (Ethernet to TCP options): the payload starts here. */
  hdr: u32;
  l3: u32;
  l4: u32;
  /** The head's payload length: every merged segment but the last carries exactly this much. */
  mss: u32;
  /** The sequence number the next segment must start with. */
  nextSeq: u32;
  /** Segments in the super-frame, the head included. */
  merged: u32;
  open: bool;
  v6: bool;
}

/**
 * Offers the frame of TX entry `tx` (the only output of its datagram, to local port `target`;
 * its virtio_net_hdr bytes are zero) to the super-frame open in `g`; `r` is scratch for its parse.
 * Returns true when it was appended to the open super-frame: the caller drops the TX entry.
 */
export function offer(g: GroHead, r: L4Info, tx: usize, frame: usize, len: u32, target: u32): bool {
  if (!parseL4(frame, len, r) || r.proto != IPPROTO_TCP || r.ipEnd != len || r.payloadAt == len) {
    flush(g);
    return false;
  }
  let l4 = r.l4;
  let payloadAt = r.payloadAt;
  let fl = tcpFlags(frame + l4);
  let onlyAckPsh = (fl & ~(TCP_ACK_FLAG | TCP_PSH)) == 0 && (fl & TCP_ACK_FLAG) != 0;
  let payload = len - payloadAt;
  if (g.open && onlyAckPsh && target == g.target && payloadAt == g.hdr && r.l3 == g.l3 && l4 == g.l4 &&
      r.isV6 == g.v6 && payload <= g.mss && seq(frame + l4) == g.nextSeq && frame > g.frame + g.len &&
      ipLen(g, g.len) + payload <= MAX_IP_LEN && sameHeaders(g, frame) && l4ChecksumValid(frame, r)) {
    // Window and ACK number follow the newest segment, as the kernel's GRO keeps them. Read
    // them first: the payload moves back over this segment's own headers.
    let ack = load<u32>(frame + l4, TCP_ACK);
    let window = load<u16>(frame + l4, TCP_WINDOW);
    let headTcp = g.frame + g.l4;
    memory.copy(g.frame + g.len, frame + payloadAt, payload);
    g.len += payload;
    g.nextSeq += payload;
    g.merged++;
    setEntryLen(g.tx, g.len);
    store<u32>(headTcp, ack, TCP_ACK);
    store<u16>(headTcp, window, TCP_WINDOW);
    if ((fl & TCP_PSH) != 0 || payload < g.mss) {
      store<u8>(headTcp, tcpFlags(headTcp) | (fl & TCP_PSH), TCP_FLAGS);
      flush(g);
    }
    return true;
  }
  flush(g);
  // A new head: a data segment with only ACK set and a checksum that verifies.
  if (fl != TCP_ACK_FLAG || !l4ChecksumValid(frame, r)) return false;
  g.open = true;
  g.frame = frame;
  g.len = len;
  g.target = target;
  g.tx = tx;
  g.hdr = payloadAt;
  g.l3 = r.l3;
  g.l4 = l4;
  g.v6 = r.isV6;
  g.mss = payload;
  g.nextSeq = seq(frame + l4) + payload;
  g.merged = 1;
  return false;
}

@inline function ipLen(g: GroHead, frameLen: u32): u32 {
  return frameLen - g.l3;
}

/**
 * Everything but what merging rewrites must match: Ethernet (and VLAN tag), IP but length, ID
 * and checksum, TCP ports, data offset and options; ACK number and window may move on.
 */
function sameHeaders(g: GroHead, frame: usize): bool {
  if (memory.compare(frame, g.frame, g.l3) != 0) return false;
  let a = frame + g.l3, b = g.frame + g.l3;
  if (g.v6 ? !ipv6SameButPayloadLen(a, b) : !ipv4SameButLengthIdChecksum(a, b, g.l4 - g.l3)) return false;
  return sameFlowHeader(frame + g.l4, g.frame + g.l4, g.hdr - g.l4);
}

/** Closes the open super-frame: lengths, IPv4 checksum, partial TCP checksum, virtio_net_hdr. */
export function flush(g: GroHead): void {
  if (!g.open) return;
  g.open = false;
  if (g.merged < 2) return;
  let ip = g.frame + g.l3;
  let upper = g.len - g.l4;
  if (g.v6) setPayloadLen(ip, upper);
  else {
    setTotalLen(ip, g.len - g.l3);
    refreshChecksum(ip);
  }
  // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum, not complemented. From the
  // head's own headers.
  let t = g.frame + g.l4;
  let sum = g.v6 ? ipv6PseudoHeaderSum(ip, upper, IPPROTO_TCP) : ipv4PseudoHeaderSum(ip, upper, IPPROTO_TCP);
  store<u16>(t, bswap<u16>(<u16>~finish(sum)), TCP_CHECKSUM);
  setEntryVnet(g.tx, F_NEEDS_CSUM, g.v6 ? GSO_TCPV6 : GSO_TCPV4, g.hdr, g.mss, g.l4, TCP_CHECKSUM);
}

/** No super-frame open: a new GRO buffer starts. */
export function reset(g: GroHead): void {
  g.open = false;
}
