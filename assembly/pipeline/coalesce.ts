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
    let window = load<u16>(frame + l4, TCP_WINDOW);
    memory.copy(headFrame + headLen, frame + payloadAt, payload);
    headLen += payload;
    nextSeq += payload;
    merged++;
    setEntryLen(headTx, headLen);
    store<u32>(headFrame + headL4, ack, TCP_ACK);
    store<u16>(headFrame + headL4, window, TCP_WINDOW);
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
  if (headV6 ? !ipv6SameButPayloadLen(a, b) : !ipv4SameButLengthIdChecksum(a, b, headL4 - headL3)) return false;
  return sameFlowHeader(frame + headL4, headFrame + headL4, hdr - headL4);
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
  setEntryVnet(headTx, F_NEEDS_CSUM, headV6 ? GSO_TCPV6 : GSO_TCPV4, hdr, mss, headL4, TCP_CHECKSUM);
}

export function reset(): void {
  open = false;
}
