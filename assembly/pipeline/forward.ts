// Output of one frame the FDB knows: to a local port as it is, or encapsulated to a VTEP (a
// super-frame from a TAP is cut into datagrams first, offload.ts); and the ICMP reply to a frame
// too big for its VNI. Flooding (flood.ts) reuses these for each copy.

import * as C from "../counters";
import { ETH_HEADER_LEN } from "../wire/ethernet";
import { VXLAN_HEADER_LEN, emitVxlan } from "../wire/vxlan";
import { TARGET_REMOTE } from "../abi";
import * as vnis from "../switch/vni";
import { GSO_MAX_BYTES, GSO_MAX_SEGMENTS, SEGMENT_NO_ROOM, SEGMENT_OK, SEGMENT_TOO_BIG, segment } from "./offload";
import * as records from "./records";
import { flowHash, sourcePort } from "./flowhash";
import * as ecn from "./ecn";
import * as pmtu from "./pmtu";
import * as ctx from "./context";
import { emitTx } from "./tx";
import { countRemoteTx } from "./run_counters";
import { FORWARDED, drop, dropCounted } from "./verdict";

/** `frames` frames of `len` inner bytes in all left the switch (a GSO group: its datagrams). */
@inline function countTx(blk: usize, frames: u32, len: u32): void {
  C.bump(blk, C.TX_FRAMES, frames);
  C.bump(blk, C.TX_BYTES, len);
}

/** The frame to local `port`, as it is; a verdict. */
export function toPort(slot: i32, blk: usize, frame: usize, len: u32, port: u32, index: u32): u32 {
  if (!emitTx(frame, len, port, 0, index)) return drop(slot, C.DROP_TX_FULL);
  countTx(blk, 1, len);
  C.bumpLink(C.portCountersPtr, port, C.LINK_TX_FRAMES);
  C.bumpLink(C.portCountersPtr, port, C.LINK_TX_BYTES, len);
  return FORWARDED;
}

/** Prepends the VXLAN header in the headroom (no copy) and returns where the datagram starts. */
@inline export function encapsulate(slot: i32, frame: usize): usize {
  let p = frame - VXLAN_HEADER_LEN;
  emitVxlan(p, vnis.vniOf(slot));
  return p;
}

/** The frame encapsulated to the VTEP in `target` (TARGET_REMOTE | vtep id); a verdict. */
@inline export function toRemote(slot: i32, blk: usize, frame: usize, len: u32, target: u32, index: u32): u32 {
  ctx.txOuter = ecn.encapInfo(frame, len);
  if (ctx.vnet != 0) {
    let r = cut(slot, frame, len);
    if (r != 0) {
      if (r == C.DROP_OVER_MTU) tooBig(slot, blk, frame, len, index);
      return drop(slot, r);
    }
    let lost = emitSegments(slot, blk, target, sourcePort(flowHash(frame, len)), index);
    return lost == records.segments.count ? dropCounted(slot, C.DROP_TX_FULL) : FORWARDED;
  }
  let p = encapsulate(slot, frame);
  let sport = sourcePort(flowHash(frame, len));
  if (!emitTx(p, len + VXLAN_HEADER_LEN, target, sport, index)) return drop(slot, C.DROP_TX_FULL);
  countRemoteTx(blk, target, len);
  return FORWARDED;
}

/** Segments the current super-frame into the arena (records.segments says where); 0 or a drop
 *  reason. */
export function cut(slot: i32, frame: usize, len: u32): u32 {
  let r = segment(frame, len, ctx.vnet, vnis.vniOf(slot), vnis.mtuOf(slot) + ETH_HEADER_LEN, records.l4, records.segments);
  if (r == SEGMENT_OK) {
    C.bump(C.block(slot), C.GSO_FRAMES);
    return 0;
  }
  return r == SEGMENT_NO_ROOM ? C.DROP_ARENA_FULL : r == SEGMENT_TOO_BIG ? C.DROP_OVER_MTU : C.DROP_BAD_VNET_HDR;
}

/**
 * TX entries for the datagrams cut() laid out, in groups one UDP GSO send can take. Returns
 * the number of datagrams that found no TX entry; DROP_TX_FULL counts them, one per datagram.
 */
export function emitSegments(slot: i32, blk: usize, target: u32, sport: u32, index: u32): u32 {
  let s = records.segments;
  let segCount = s.count, segStride = s.stride, segLen = s.len, segPtr = s.ptr;
  let perGroup = min(GSO_MAX_SEGMENTS, max<u32>(1, GSO_MAX_BYTES / segStride));
  let lost: u32 = 0;
  for (let g: u32 = 0; g < segCount; g += perGroup) {
    let k = min(perGroup, segCount - g);
    let len = g + k == segCount ? segLen - g * segStride : k * segStride;
    if (!emitTx(segPtr + <usize>g * segStride, len, target, sport, index, k > 1 ? segStride : 0)) {
      lost += k;
      continue;
    }
    countTx(blk, k, len - k * VXLAN_HEADER_LEN);
    C.bump(blk, C.ENCAP, k);
    C.bump(blk, C.GSO_SEGMENTS, k);
    let vtep = target & ~TARGET_REMOTE;
    C.bumpLink(C.vtepCountersPtr, vtep, C.LINK_TX_FRAMES, k);
    C.bumpLink(C.vtepCountersPtr, vtep, C.LINK_TX_BYTES, len);
  }
  if (lost != 0) C.bump(blk, C.DROP_BASE + C.DROP_TX_FULL, lost);
  return lost;
}

/**
 * A frame from local port `ingressPort` did not fit the MTU: the ICMP reply skb_tunnel_check_pmtu()
 * would send (pmtu.ts), to that port, as a TX entry of its own. The frame is still dropped.
 */
export function tooBig(slot: i32, blk: usize, frame: usize, len: u32, index: u32): void {
  if ((vnis.flagsOf(slot) & vnis.FLAG_PMTU) == 0) return;
  let r = pmtu.reply(frame, len, vnis.mtuOf(slot), ctx.now);
  if (r == pmtu.NO_REPLY) return;
  if (r == pmtu.LIMITED) {
    C.bump(blk, C.PMTU_ICMP_LIMITED);
    return;
  }
  let saved = ctx.vnet;
  ctx.vnet = 0; // a plain frame, whatever the dropped one came with
  let ok = emitTx(pmtu.replyPtr, pmtu.replyLen, ctx.ingressPort, 0, index);
  ctx.vnet = saved;
  if (!ok) {
    C.bump(blk, C.PMTU_ICMP_LIMITED);
    return;
  }
  C.bump(blk, C.PMTU_ICMP);
  C.bumpLink(C.portCountersPtr, ctx.ingressPort, C.LINK_TX_FRAMES);
  C.bumpLink(C.portCountersPtr, ctx.ingressPort, C.LINK_TX_BYTES, pmtu.replyLen);
}
