// Receive coalescing (GRO): consecutive TCP segments of one flow, decapsulated from one UDP GRO
// buffer and bound for the same local port, are merged into one super-frame that the TAP takes
// with a virtio_net_hdr (GSO type, MSS, partial checksum) — what the kernel's tcp_gro_receive()
// does, with the same rules: identical headers but lengths/IDs/checksums, in-order sequence
// numbers, equal option bytes, only ACK (and PSH on the last) set, every segment's checksum
// verified before it is merged (the TAP trusts a CHECKSUM_PARTIAL frame).
//
// The merge is in place: each datagram's payload moves back over the headers before it, so the
// super-frame grows inside the GRO buffer it came in, never past the next datagram's start.

import { IPPROTO_TCP, pseudoHeaderSum as ipv4PseudoHeaderSum, refreshChecksum, setTotalLen } from "../wire/ipv4";
import { pseudoHeaderSum as ipv6PseudoHeaderSum, setPayloadLen } from "../wire/ipv6";
import { TCP_ACK, TCP_ACK_FLAG, TCP_CHECKSUM, TCP_FLAGS, TCP_PSH, flags as tcpFlags, seq } from "../wire/tcp";
import { finish } from "../wire/checksum";
import { TX_FLAGS, TX_HAS_VNET, TX_LEN, TX_VNET } from "../abi";
import { F_NEEDS_CSUM, GSO_TCPV4, GSO_TCPV6, emitVnet } from "../wire/virtio_net";
import { ipEnd, isV6, l3, l4, l4ChecksumValid, l4Proto, parseL4, payloadAt } from "./offload";

@inline const MAX_IP_LEN: u32 = 65535;

let open = false;
let headFrame: usize = 0;
let headLen: u32 = 0;
let headTarget: u32 = 0;
let headTx: usize = 0;
let hdr: u32 = 0;
let headL3: u32 = 0;
let headL4: u32 = 0;
let headV6 = false;
let mss: u32 = 0;
let nextSeq: u32 = 0;
let merged: u32 = 0;


/**
 * Offers the frame of TX entry `tx` (the only output of its datagram, to local port `target`;
 * its virtio_net_hdr bytes are zero).
 * Returns true when it was appended to the open super-frame: the caller drops the TX entry.
 */
export function offer(tx: usize, frame: usize, len: u32, target: u32): bool {
  if (!parseL4(frame, len) || l4Proto != IPPROTO_TCP || ipEnd != len || payloadAt == len) {
    flush();
    return false;
  }
  let fl = tcpFlags(frame + l4);
  let onlyAckPsh = (fl & ~(TCP_ACK_FLAG | TCP_PSH)) == 0 && (fl & TCP_ACK_FLAG) != 0;
  let payload = len - payloadAt;
  if (open && onlyAckPsh && target == headTarget && payloadAt == hdr && l3 == headL3 && l4 == headL4 &&
      isV6 == headV6 && payload <= mss && seq(frame + l4) == nextSeq && frame > headFrame + headLen &&
      ipLen(headLen) + payload <= MAX_IP_LEN && sameHeaders(frame) && l4ChecksumValid(frame)) {
    // Window and ACK number follow the newest segment, as the kernel's GRO keeps them. Read
    // them first: the payload moves back over this segment's own headers.
    let ack = load<u32>(frame + l4, TCP_ACK);
    let window = load<u16>(frame + l4, 14);
    memory.copy(headFrame + headLen, frame + payloadAt, payload);
    headLen += payload;
    nextSeq += payload;
    merged++;
    store<u32>(headTx, headLen, TX_LEN);
    store<u32>(headFrame + headL4, ack, TCP_ACK);
    store<u16>(headFrame + headL4, window, 14);
    if ((fl & TCP_PSH) != 0 || payload < mss) {
      store<u8>(headFrame + headL4, tcpFlags(headFrame + headL4) | (fl & TCP_PSH), TCP_FLAGS);
      flush();
    }
    return true;
  }
  flush();
  // A new head: a data segment with only ACK set and a checksum that verifies.
  if (fl != TCP_ACK_FLAG || !l4ChecksumValid(frame)) return false;
  open = true;
  headFrame = frame;
  headLen = len;
  headTarget = target;
  headTx = tx;
  hdr = payloadAt;
  headL3 = l3;
  headL4 = l4;
  headV6 = isV6;
  mss = payload;
  nextSeq = seq(frame + l4) + payload;
  merged = 1;
  return false;
}

@inline function ipLen(frameLen: u32): u32 {
  return frameLen - headL3;
}

/**
 * Everything but what merging rewrites must match: Ethernet (and VLAN tag), IP but length, ID
 * and checksum, TCP ports, data offset and options; ACK number and window may move on.
 */
function sameHeaders(frame: usize): bool {
  if (memory.compare(frame, headFrame, headL3) != 0) return false;
  let a = frame + headL3, b = headFrame + headL3;
  if (headV6) {
    // version/class/flow, next header, hop limit, addresses
    if (load<u32>(a) != load<u32>(b) || load<u16>(a, 6) != load<u16>(b, 6)) return false;
    if (memory.compare(a + 8, b + 8, 32) != 0) return false;
  } else {
    if (load<u16>(a) != load<u16>(b) || load<u16>(a, 6) != load<u16>(b, 6) || load<u16>(a, 8) != load<u16>(b, 8)) return false;
    if (memory.compare(a + 12, b + 12, headL4 - headL3 - 12) != 0) return false;
  }
  let ta = frame + headL4, tb = headFrame + headL4;
  if (load<u32>(ta) != load<u32>(tb) || load<u8>(ta, 12) != load<u8>(tb, 12)) return false;
  return memory.compare(ta + 20, tb + 20, hdr - headL4 - 20) == 0;
}

/** Closes the open super-frame: lengths, IPv4 checksum, partial TCP checksum, virtio_net_hdr. */
export function flush(): void {
  if (!open) return;
  open = false;
  if (merged < 2) return;
  let ip = headFrame + headL3;
  let upper = headLen - headL4;
  if (headV6) setPayloadLen(ip, upper);
  else {
    setTotalLen(ip, headLen - headL3);
    refreshChecksum(ip);
  }
  // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum, not complemented. The head's
  // own headers, not parseL4's globals: those may describe a later frame by now.
  let t = headFrame + headL4;
  let sum = headV6 ? ipv6PseudoHeaderSum(ip, upper, IPPROTO_TCP) : ipv4PseudoHeaderSum(ip, upper, IPPROTO_TCP);
  store<u16>(t, bswap<u16>(<u16>~finish(sum)), TCP_CHECKSUM);
  emitVnet(headTx + TX_VNET, F_NEEDS_CSUM, headV6 ? GSO_TCPV6 : GSO_TCPV4, hdr, mss, headL4, TCP_CHECKSUM);
  store<u16>(headTx, TX_HAS_VNET, TX_FLAGS);
}

export function reset(): void {
  open = false;
}
