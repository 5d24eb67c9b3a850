// One call per burst: the host fills RX descriptors, the core switches every frame and writes
// the TX list; no call crosses the JS/Wasm boundary per frame (DPDK's and VPP's vectors).
//
//  RX descriptor (48 B), host-written unless marked
//  ┌─────────┬─────────┬──────────┬──────────────┬─────────────────┬───────────┬──────────┬─────────────┬────────┬──────────┐
//  │ ptr u32 │ len u32 │ port u16 │ peerPort u16 │ verdict u16 (W) │ flags u16 │ peer[16] │ gsoSize u16 │ tos u8 │ reserved │
//  └─────────┴─────────┴──────────┴──────────────┴─────────────────┴───────────┴──────────┴─────────────┴────────┴──────────┘
//  ptr: first byte of the frame inside a slot, at least HEADROOM in; port: a local port id, or
//  PORT_UNDERLAY (a VXLAN datagram from `peer`) or PORT_UNDERLAY_ETH (a whole outer packet; the
//  core fills peer). verdict: 0 forwarded (≥ 1 TX entry), reason + 1 dropped.
//  flags: RX_VNET_HDR — a 10-byte virtio_net_hdr sits just before ptr (a TAP with IFF_VNET_HDR).
//  gsoSize: for PORT_UNDERLAY, the stride of a UDP GRO buffer holding several datagrams; 0: one.
//  tos: for PORT_UNDERLAY, the outer IPv4 TOS / IPv6 traffic class (IP_RECVTOS/IPV6_RECVTCLASS),
//  whose ECN field decapsulation applies (pipeline/ecn.ts); 0 when unknown.
//  A frame dropped as over_mtu may still leave a TX entry: the ICMP reply to its sender (pmtu.ts).
//
//  TX entry (32 B)
//  ┌─────────┬─────────┬────────────┬──────────────┬───────────┬─────────────┬───────────┬───────────┬────────┬─────┐
//  │ ptr u32 │ len u32 │ target u32 │ srcPort u16  │ rxIdx u16 │ gsoSize u16 │ flags u16 │ vnet[10]  │ tos u8 │ pad │
//  └─────────┴─────────┴────────────┴──────────────┴───────────┴─────────────┴───────────┴───────────┴────────┴─────┘
//  target: a local port id (an inner frame), or TARGET_REMOTE | vtep id (a VXLAN datagram to send
//  to that VTEP from srcPort). Flood copies share bytes: every entry of one frame points into the
//  same slot, the remote ones 8 bytes earlier, where the VXLAN header was prepended.
//  gsoSize (remote): several datagrams back to back, each gsoSize long but the last — one sendmsg
//  with UDP_SEGMENT = gsoSize, or one sendmmsg of len/gsoSize messages. vnet (local, when flags
//  has TX_HAS_VNET): the virtio_net_hdr to write before the frame on a TAP with IFF_VNET_HDR;
//  without the flag a zero header (a plain frame, checksum complete).
//  tos (remote): the outer TOS / traffic class for the datagram (RFC 6040 ECN, pipeline/ecn.ts);
//  flags TX_INNER_DF (remote): the inner packet asks for DF (`df inherit` sets the outer DF).

import { HEADROOM, TAILROOM, rxPtr, slotSize, slotsEnd, slotsPtr, txMax, txPtr, burstMax } from "../layout";
import * as C from "../counters";
import { ETH_HEADER_LEN, ETH_SRC, ETHERTYPE_QINQ, ETHERTYPE_VLAN, VLAN_TAG_LEN, etherType, macIsGroup, macIsValidSource, macKey } from "../wire/ethernet";
import { VXLAN_HEADER_LEN, emitVxlan, hasVni, vni } from "../wire/vxlan";
import { PORT_UNDERLAY, PORT_UNDERLAY_ETH, slotOfPort } from "../switch/port";
import * as fdb from "../switch/fdb";
import * as vnis from "../switch/vni";
import * as vteps from "../switch/vtep";
import { answer } from "./suppress";
import { GSO_MAX_BYTES, GSO_MAX_SEGMENTS, SEGMENT_NO_ROOM, SEGMENT_OK, SEGMENT_TOO_BIG, completeChecksum, resetArena, segCount, segLen, segPtr, segStride, segment, singleSegment } from "./offload";
import * as gro from "./coalesce";
import { F_NEEDS_CSUM, GSO_NONE, VNET_HDR_LEN, gsoType, vnetFlags } from "../wire/virtio_net";
import { argsPtr } from "../layout";
import { flowHash, sourcePort } from "./flowhash";
import * as ecn from "./ecn";
import * as pmtu from "./pmtu";
import { UNDERLAY_OK, UNDERLAY_MALFORMED, datagramLen, datagramOffset, datagramPeerPort, parse as parseUnderlay, vxlanPort } from "./underlay";

import { RX_DESC_LEN, RX_FLAGS, RX_GSO_SIZE, RX_LEN, RX_PEER, RX_PEER_PORT, RX_PORT, RX_PTR, RX_TOS, RX_VERDICT, RX_VNET_HDR, TX_ENTRY_LEN, TX_FLAGS, TX_GSO_SIZE, TX_HAS_VNET, TX_INNER_DF, TX_LEN, TX_PTR, TX_RX_INDEX, TX_SRC_PORT, TX_TARGET, TX_TOS, TX_VNET, ARGS_VNET } from "../abi";
@inline const FORWARDED: u32 = 0;
@inline const FROM_REMOTE: u32 = 0xffffffff;

let txCount: u32 = 0;
let now: u32 = 0;
/** Merge decapsulated TCP segments into super-frames (only for TAPs with IFF_VNET_HDR). */
let coalescing = false;
export function setCoalescing(on: bool): void { coalescing = on; }
/** The virtio_net_hdr of the frame being switched, copied out of the headroom it shares with
 *  the VXLAN header about to be written there. 0 when the frame came without one. */
let vnet: usize = 0;

/** Switches `count` frames described at rxPtr; returns the number of TX entries written. */
export function processBurst(count: u32, nowSeconds: u32): u32 {
  txCount = 0;
  now = nowSeconds & 0x7fffffff;
  resetArena();
  pmtu.resetPmtu();
  if (count > burstMax) count = burstMax;
  for (let i: u32 = 0; i < count; i++) {
    let d = rxPtr + <usize>i * RX_DESC_LEN;
    store<u16>(d, <u16>switchOne(d, i), RX_VERDICT);
  }
  flushRxRun();
  flushTxRun();
  rxRunPort = 0xffffffff;
  return txCount;
}

/** The descriptor is the host's word; still, no frame may reach outside its slot. */
@inline function inSlot(ptr: usize, len: u32): bool {
  if (ptr < slotsPtr || ptr >= slotsEnd) return false;
  let off = <u64>((ptr - slotsPtr) & (slotSize - 1));
  return off >= HEADROOM && off + <u64>len + TAILROOM <= <u64>slotSize;
}

function switchOne(d: usize, index: u32): u32 {
  let ptr = <usize>load<u32>(d, RX_PTR);
  let len = load<u32>(d, RX_LEN);
  let port = <u32>load<u16>(d, RX_PORT);
  if (!inSlot(ptr, len)) return drop(-1, C.DROP_BAD_DESCRIPTOR);
  vnet = 0;
  if (port == PORT_UNDERLAY) {
    let stride = <u32>load<u16>(d, RX_GSO_SIZE);
    let tos = load<u8>(d, RX_TOS);
    if (stride != 0 && stride < len) return fromGroBuffer(ptr, len, stride, d + RX_PEER, index, tos);
    return fromUnderlay(ptr, len, d + RX_PEER, index, tos);
  }
  if (port == PORT_UNDERLAY_ETH) {
    let r = parseUnderlay(ptr, len, d + RX_PEER);
    if (r != UNDERLAY_OK) return drop(-1, r == UNDERLAY_MALFORMED ? C.DROP_UNDERLAY_MALFORMED : C.DROP_NOT_VXLAN);
    store<u16>(d, datagramPeerPort, RX_PEER_PORT);
    return fromUnderlay(ptr + datagramOffset, datagramLen, d + RX_PEER, index, 0);
  }
  if (load<u16>(d, RX_FLAGS) & RX_VNET_HDR) {
    vnet = argsPtr + ARGS_VNET; // scratch for the header
    memory.copy(vnet, ptr - VNET_HDR_LEN, VNET_HDR_LEN);
  }
  return fromLocal(ptr, len, port, index);
}

/**
 * A UDP GRO buffer: datagrams of one sender back to back, each `stride` long but the last. Each
 * is switched on its own; runs of TCP segments to one local port are merged when coalescing.
 */
function fromGroBuffer(ptr: usize, len: u32, stride: u32, peer: usize, index: u32, tos: u8): u32 {
  let forwarded = false;
  let last: u32 = 0;
  gro.reset();
  for (let off: u32 = 0; off < len; off += stride) {
    let dlen = min(stride, len - off);
    let before = txCount;
    let v = fromUnderlay(ptr + off, dlen, peer, index, tos); // GRO merges one outer TOS only
    if (v != FORWARDED) {
      last = v;
      gro.flush();
      continue;
    }
    forwarded = true;
    if (!coalescing) continue;
    let t = txPtr + <usize>before * TX_ENTRY_LEN;
    let target = load<u32>(t, TX_TARGET);
    if (txCount == before + 1 && (target & fdb.TARGET_REMOTE) == 0) {
      // Read the VNI first: a merge moves this datagram's payload over its own headers.
      let slot = vnis.slotOf(vni(ptr + off));
      if (gro.offer(t, <usize>load<u32>(t, TX_PTR), load<u32>(t, TX_LEN), target)) {
        txCount--;
        C.bump(C.block(slot), C.GRO_MERGED);
      }
    } else {
      gro.flush();
    }
  }
  gro.flush();
  return forwarded ? FORWARDED : last;
}

// Run counters: a burst holds runs of frames from one TAP and of frames to one VTEP, so the
// counters of the common paths add up in registers and reach memory once per run (VPP bumps its
// node counters once per vector for the same reason).
let rxRunPort: u32 = 0xffffffff;
let rxRunBlk: usize = 0;
let rxRunFrames: u64 = 0;
let rxRunBytes: u64 = 0;
let rxRunHits: u64 = 0;
let txRunTarget: u32 = 0;
let txRunBlk: usize = 0;
let txRunFrames: u64 = 0;
let txRunBytes: u64 = 0;

@inline function countLocalRx(port: u32, blk: usize, len: u32): void {
  if (port != rxRunPort) {
    flushRxRun();
    rxRunPort = port;
    rxRunBlk = blk;
  }
  rxRunFrames++;
  rxRunBytes += len;
}

function flushRxRun(): void {
  if (rxRunFrames == 0) return;
  C.bump(rxRunBlk, C.RX_FRAMES, rxRunFrames);
  C.bump(rxRunBlk, C.RX_BYTES, rxRunBytes);
  C.bumpLink(C.portCountersPtr, rxRunPort, C.LINK_RX_FRAMES, rxRunFrames);
  C.bumpLink(C.portCountersPtr, rxRunPort, C.LINK_RX_BYTES, rxRunBytes);
  if (rxRunHits != 0) C.bump(rxRunBlk, C.FDB_HIT, rxRunHits);
  rxRunFrames = 0;
  rxRunBytes = 0;
  rxRunHits = 0;
}

/** One inner frame of `len` encapsulated to the VTEP in `target`. */
@inline function countRemoteTx(blk: usize, target: u32, len: u32): void {
  if (target != txRunTarget || blk != txRunBlk) {
    flushTxRun();
    txRunTarget = target;
    txRunBlk = blk;
  }
  txRunFrames++;
  txRunBytes += len;
}

function flushTxRun(): void {
  if (txRunFrames == 0) return;
  C.bump(txRunBlk, C.TX_FRAMES, txRunFrames);
  C.bump(txRunBlk, C.TX_BYTES, txRunBytes);
  C.bump(txRunBlk, C.ENCAP, txRunFrames);
  let vtep = txRunTarget & ~fdb.TARGET_REMOTE;
  C.bumpLink(C.vtepCountersPtr, vtep, C.LINK_TX_FRAMES, txRunFrames);
  C.bumpLink(C.vtepCountersPtr, vtep, C.LINK_TX_BYTES, txRunBytes + txRunFrames * VXLAN_HEADER_LEN);
  txRunFrames = 0;
  txRunBytes = 0;
}

/** Counts a dropped frame against its VNI (or the global block) and returns the verdict. */
function drop(slot: i32, reason: u32): u32 {
  let blk = C.block(slot);
  C.bump(blk, C.DROPS);
  C.bump(blk, C.DROP_BASE + reason);
  return reason + 1;
}

/** drop() for a frame whose losses were already counted under `reason`, per datagram. */
function dropCounted(slot: i32, reason: u32): u32 {
  C.bump(C.block(slot), C.DROPS);
  return reason + 1;
}

/** Largest inner frame a VNI carries: MTU + Ethernet header, + 4 when it carries a VLAN tag. */
@inline function fitsMtu(slot: i32, frame: usize, len: u32): bool {
  let max = vnis.mtuOf(slot) + ETH_HEADER_LEN;
  if (len <= max) return true;
  let type = etherType(frame);
  return (type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ) && len <= max + VLAN_TAG_LEN;
}

function fromUnderlay(ptr: usize, len: u32, peer: usize, index: u32, tos: u8): u32 {
  if (len < VXLAN_HEADER_LEN + ETH_HEADER_LEN) return drop(-1, C.DROP_VXLAN_RUNT);
  if (!hasVni(ptr)) return drop(-1, C.DROP_VXLAN_BAD_FLAGS);
  let slot = vnis.slotOf(vni(ptr));
  if (slot < 0) return drop(-1, C.DROP_UNKNOWN_VNI);
  // Our own datagram came back (a peer list naming this host): learning from it would move our
  // local MACs to "remote self", and split horizon would then black-hole their replies.
  if (vteps.localCount != 0 && vteps.isLocal(peer)) return drop(slot, C.DROP_SELF_VTEP);
  let blk = C.block(slot);
  let frame = ptr + VXLAN_HEADER_LEN;
  let flen = len - VXLAN_HEADER_LEN;
  C.bump(blk, C.RX_FRAMES);
  C.bump(blk, C.RX_BYTES, flen);
  C.bump(blk, C.DECAP);

  let vtep = vteps.find(peer);
  let flags = vnis.flagsOf(slot);
  if (vtep < 0 && (flags & vnis.FLAG_LEARN)) {
    // The kernel learns the sender's address and replies to the configured port, not to the
    // flow-hashed source port the datagram came from.
    vtep = vteps.add(peer, vxlanPort, 0);
    if (vtep < 0) C.bump(blk, C.VTEP_LEARN_FULL);
  }
  if (vtep >= 0) {
    C.bumpLink(C.vtepCountersPtr, vtep, C.LINK_RX_FRAMES);
    C.bumpLink(C.vtepCountersPtr, vtep, C.LINK_RX_BYTES, len);
  }
  if (!fitsMtu(slot, frame, flen)) return drop(slot, C.DROP_OVER_MTU);
  let src = macKey(frame + ETH_SRC);
  if (!macIsValidSource(src)) return drop(slot, C.DROP_BAD_SOURCE_MAC);
  if (vtep >= 0 && (flags & vnis.FLAG_LEARN)) learn(slot, blk, src, fdb.TARGET_REMOTE | <u32>vtep);
  if (tos != 0) {
    // After learning, as vxlan_rcv() does: the sender is known even when its frame is dropped.
    let e = ecn.decapsulate(frame, flen, tos);
    if (e == ecn.DECAP_DROP) return drop(slot, C.DROP_ECN_NOT_ECT);
    if (e == ecn.DECAP_MARKED) C.bump(blk, C.ECN_CE_MARKED);
  }

  let dst = macKey(frame);
  if (!macIsGroup(dst)) {
    let e = lookup(slot, dst);
    if (e != 0) {
      C.bump(blk, C.FDB_HIT);
      let t = fdb.entryTarget(e);
      // Split horizon: what came over the tunnel never goes back into it.
      if (t & fdb.TARGET_REMOTE) return drop(slot, C.DROP_SPLIT_HORIZON);
      return toPort(slot, blk, frame, flen, t, index);
    }
    C.bump(blk, C.FDB_MISS);
  }
  return flood(slot, blk, frame, flen, FROM_REMOTE, index);
}

function fromLocal(frame: usize, len: u32, port: u32, index: u32): u32 {
  let slot = slotOfPort(port);
  if (slot < 0) return drop(-1, C.DROP_UNKNOWN_PORT);
  let blk = C.block(slot);
  countLocalRx(port, blk, len);
  if (len < ETH_HEADER_LEN) return dropOnPort(slot, port, C.DROP_RUNT);
  if (vnet != 0) {
    // A plain frame, or a GSO one that fits one segment: with a partial checksum, fill it now, once,
    // for every copy; then it goes on as a plain frame (cutting it would change nothing).
    if (gsoType(vnet) == GSO_NONE || singleSegment(frame, len, vnet)) {
      if ((vnetFlags(vnet) & F_NEEDS_CSUM) && !completeChecksum(frame, len, vnet)) {
        return dropOnPort(slot, port, C.DROP_BAD_VNET_HDR);
      }
      vnet = 0;
    }
  }
  // A super-frame is checked segment by segment when it is cut for a VTEP.
  ingressPort = port;
  if (vnet == 0 && !fitsMtu(slot, frame, len)) {
    tooBig(slot, blk, frame, len, index);
    return dropOnPort(slot, port, C.DROP_OVER_MTU);
  }
  let src = macKey(frame + ETH_SRC);
  if (!macIsValidSource(src)) return dropOnPort(slot, port, C.DROP_BAD_SOURCE_MAC);
  let flags = vnis.flagsOf(slot);
  if (flags & vnis.FLAG_LEARN) learn(slot, blk, src, port);

  let dst = macKey(frame);
  if (macIsGroup(dst)) {
    if (flags & vnis.FLAG_SUPPRESS) {
      let a = answer(slot, frame, len);
      if (a != 0) {
        C.bump(blk, (a >>> 28) == 1 ? C.ARP_REPLY : C.ND_REPLY);
        return toPort(slot, blk, frame, a & 0xfffffff, port, index);
      }
    }
    return flood(slot, blk, frame, len, port, index);
  }
  let e = lookup(slot, dst);
  if (e != 0) {
    rxRunHits++; // the run's VNI is this frame's: a port belongs to one VNI
    let t = fdb.entryTarget(e);
    if (t & fdb.TARGET_REMOTE) return toRemote(slot, blk, frame, len, t, index);
    if (t == port) return dropOnPort(slot, port, C.DROP_SAME_PORT);
    return toPort(slot, blk, frame, len, t, index);
  }
  C.bump(blk, C.FDB_MISS);
  return flood(slot, blk, frame, len, port, index);
}

/** The local port the frame being switched came from (fromLocal). */
let ingressPort: u32 = 0;
/** Outer TOS and TX_INNER_DF (ecn.encapInfo) of the frame being encapsulated. */
let txOuter: u32 = 0;

/**
 * A frame from local port `ingressPort` did not fit the MTU: the ICMP reply skb_tunnel_check_pmtu()
 * would send (pmtu.ts), to that port, as a TX entry of its own. The frame is still dropped.
 */
function tooBig(slot: i32, blk: usize, frame: usize, len: u32, index: u32): void {
  if ((vnis.flagsOf(slot) & vnis.FLAG_PMTU) == 0) return;
  let r = pmtu.reply(frame, len, vnis.mtuOf(slot), now);
  if (r == pmtu.NO_REPLY) return;
  if (r == pmtu.LIMITED) {
    C.bump(blk, C.PMTU_ICMP_LIMITED);
    return;
  }
  let saved = vnet;
  vnet = 0; // a plain frame, whatever the dropped one came with
  let ok = emitTx(pmtu.replyPtr, pmtu.replyLen, ingressPort, 0, index);
  vnet = saved;
  if (!ok) {
    C.bump(blk, C.PMTU_ICMP_LIMITED);
    return;
  }
  C.bump(blk, C.PMTU_ICMP);
  C.bumpLink(C.portCountersPtr, ingressPort, C.LINK_TX_FRAMES);
  C.bumpLink(C.portCountersPtr, ingressPort, C.LINK_TX_BYTES, pmtu.replyLen);
}

function dropOnPort(slot: i32, port: u32, reason: u32): u32 {
  C.bumpLink(C.portCountersPtr, port, C.LINK_DROPS);
  return drop(slot, reason);
}

/**
 * vxlan_snoop(): same place, refresh; static, never moved; elsewhere, move and count it; new,
 * insert unless the VNI's learn limit or the table's load limit says no (the frame is still
 * forwarded: the limit stops learning, not forwarding).
 */
// A burst mostly repeats one source (a TCP sender, one tunnel): remember where its entry was.
// The bucket may since hold another key after a deletion shifted it, so the key is re-checked.
let lastLearned: usize = 0;

// Inlined into both paths: a call per frame costs ~2 ns here, a measured 13% of known-unicast encap.
@inline function learn(slot: i32, blk: usize, mac: u64, target: u32): void {
  let key = fdb.makeKey(slot, mac);
  let e = lastLearned != 0 && fdb.entryKey(lastLearned) == key ? lastLearned : fdb.find(key);
  if (e != 0) {
    lastLearned = e;
    let stamp = fdb.entryStamp(e);
    if (stamp & fdb.STATIC) return;
    if (fdb.entryTarget(e) == target) {
      if (stamp != now) fdb.setEntry(e, target, now);
      return;
    }
    fdb.setEntry(e, target, now);
    C.bump(blk, C.FDB_MOVE);
    return;
  }
  let n = vnis.learnCountOf(slot);
  if (n >= vnis.learnMaxOf(slot) || fdb.insert(key, target, now) == 0) {
    C.bump(blk, C.FDB_LEARN_LIMIT);
    return;
  }
  vnis.setLearnCount(slot, n + 1);
  C.bump(blk, C.FDB_LEARN);
  lastLearned = 0; // an insert can land where the cached entry was expected to stay
}

/** A live entry for (slot, mac), or 0; a learned entry past its ageing time is a miss. */
@inline function lookup(slot: i32, mac: u64): usize {
  let e = fdb.find(fdb.makeKey(slot, mac));
  if (e == 0) return 0;
  let stamp = fdb.entryStamp(e);
  if (stamp & fdb.STATIC) return e;
  return now - stamp > vnis.ageingOf(slot) ? 0 : e;
}

@inline function emitTx(ptr: usize, len: u32, target: u32, sport: u32, index: u32, gsoSize: u32 = 0): bool {
  if (txCount >= txMax) return false;
  let t = txPtr + <usize>txCount * TX_ENTRY_LEN;
  store<u32>(t, <u32>ptr, TX_PTR);
  store<u32>(t, len, TX_LEN);
  store<u32>(t, target, TX_TARGET);
  store<u16>(t, <u16>sport, TX_SRC_PORT);
  store<u16>(t, <u16>index, TX_RX_INDEX);
  store<u16>(t, <u16>gsoSize, TX_GSO_SIZE);
  // Local copies of a super-frame pass its virtio_net_hdr on: the receiving TAP segments it.
  if (target & fdb.TARGET_REMOTE) {
    store<u16>(t, (txOuter & ecn.INNER_DF) != 0 ? TX_INNER_DF : 0, TX_FLAGS);
    store<u8>(t, <u8>txOuter, TX_TOS);
  } else if (vnet != 0) {
    memory.copy(t + TX_VNET, vnet, VNET_HDR_LEN);
    store<u16>(t, TX_HAS_VNET, TX_FLAGS);
    store<u8>(t, 0, TX_TOS);
  } else {
    store<u16>(t, 0, TX_FLAGS);
    store<u8>(t, 0, TX_TOS);
  }
  txCount++;
  return true;
}

/** `frames` frames of `len` inner bytes in all left the switch (a GSO group: its datagrams). */
@inline function countTx(blk: usize, frames: u32, len: u32): void {
  C.bump(blk, C.TX_FRAMES, frames);
  C.bump(blk, C.TX_BYTES, len);
}

function toPort(slot: i32, blk: usize, frame: usize, len: u32, port: u32, index: u32): u32 {
  if (!emitTx(frame, len, port, 0, index)) return drop(slot, C.DROP_TX_FULL);
  countTx(blk, 1, len);
  C.bumpLink(C.portCountersPtr, port, C.LINK_TX_FRAMES);
  C.bumpLink(C.portCountersPtr, port, C.LINK_TX_BYTES, len);
  return FORWARDED;
}

/** Prepends the VXLAN header in the headroom (no copy) and returns where the datagram starts. */
@inline function encapsulate(slot: i32, frame: usize): usize {
  let p = frame - VXLAN_HEADER_LEN;
  emitVxlan(p, vnis.vniOf(slot));
  return p;
}

@inline function toRemote(slot: i32, blk: usize, frame: usize, len: u32, target: u32, index: u32): u32 {
  txOuter = ecn.encapInfo(frame, len);
  if (vnet != 0) {
    let r = cut(slot, frame, len);
    if (r != 0) {
      if (r == C.DROP_OVER_MTU) tooBig(slot, blk, frame, len, index);
      return drop(slot, r);
    }
    let lost = emitSegments(slot, blk, target, sourcePort(flowHash(frame, len)), index);
    return lost == segCount ? dropCounted(slot, C.DROP_TX_FULL) : FORWARDED;
  }
  let p = encapsulate(slot, frame);
  let sport = sourcePort(flowHash(frame, len));
  if (!emitTx(p, len + VXLAN_HEADER_LEN, target, sport, index)) return drop(slot, C.DROP_TX_FULL);
  countRemoteTx(blk, target, len);
  return FORWARDED;
}

/** Segments the current super-frame into the arena; 0 or a drop reason. */
function cut(slot: i32, frame: usize, len: u32): u32 {
  let r = segment(frame, len, vnet, vnis.vniOf(slot), vnis.mtuOf(slot) + ETH_HEADER_LEN);
  if (r == SEGMENT_OK) {
    C.bump(C.block(slot), C.GSO_FRAMES);
    return 0;
  }
  return r == SEGMENT_NO_ROOM ? C.DROP_ARENA_FULL : r == SEGMENT_TOO_BIG ? C.DROP_OVER_MTU : C.DROP_BAD_VNET_HDR;
}

/**
 * TX entries for the datagrams `segment` laid out, in groups one UDP GSO send can take. Returns
 * the number of datagrams that found no TX entry; DROP_TX_FULL counts them, one per datagram.
 */
function emitSegments(slot: i32, blk: usize, target: u32, sport: u32, index: u32): u32 {
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
    let vtep = target & ~fdb.TARGET_REMOTE;
    C.bumpLink(C.vtepCountersPtr, vtep, C.LINK_TX_FRAMES, k);
    C.bumpLink(C.vtepCountersPtr, vtep, C.LINK_TX_BYTES, len);
  }
  if (lost != 0) C.bump(blk, C.DROP_BASE + C.DROP_TX_FULL, lost);
  return lost;
}

/**
 * BUM: every local port of the VNI but the ingress; from a local port also every VTEP of the
 * flood list (head-end replication), all copies sharing the frame's bytes.
 */
function flood(slot: i32, blk: usize, frame: usize, len: u32, ingress: u32, index: u32): u32 {
  C.bump(blk, C.FLOOD);
  let sent: u32 = 0;
  let lost: u32 = 0; // copies with no TX entry left
  let encapCopies: u32 = 0;
  let failed: u32 = 0; // why remote copies of a super-frame could not be cut, if they could not
  let cutLost = false; // a remote copy of a super-frame lost datagrams (counted as they were lost)
  let ports = vnis.portCount(slot);
  for (let i: u32 = 0; i < ports; i++) {
    let port = vnis.portAt(slot, i);
    if (port == ingress) continue;
    if (!emitTx(frame, len, port, 0, index)) { lost++; continue; }
    sent++;
    C.bumpLink(C.portCountersPtr, port, C.LINK_TX_FRAMES);
    C.bumpLink(C.portCountersPtr, port, C.LINK_TX_BYTES, len);
  }
  let plainCopies = sent; // the VNI's TX counters for these are bumped once, below
  let remotes: u32 = ingress == FROM_REMOTE ? 0 : vnis.floodCount(slot);
  if (remotes != 0) txOuter = ecn.encapInfo(frame, len);
  if (remotes != 0 && vnet != 0) {
    // One cut serves every VTEP: their TX entries share the arena's datagrams.
    failed = cut(slot, frame, len);
    if (failed == C.DROP_OVER_MTU) tooBig(slot, blk, frame, len, index);
    if (failed == 0) {
      let sport = sourcePort(flowHash(frame, len));
      for (let i: u32 = 0; i < remotes; i++) {
        let target = fdb.TARGET_REMOTE | vnis.floodAt(slot, i);
        let lostHere = emitSegments(slot, blk, target, sport, index);
        if (lostHere < segCount) sent++;
        if (lostHere != 0) cutLost = true;
      }
    }
  } else if (remotes != 0) {
    let p = encapsulate(slot, frame);
    let sport = sourcePort(flowHash(frame, len));
    let dlen = len + VXLAN_HEADER_LEN;
    for (let i: u32 = 0; i < remotes; i++) {
      let vtep = vnis.floodAt(slot, i);
      if (!emitTx(p, dlen, fdb.TARGET_REMOTE | vtep, sport, index)) { lost++; continue; }
      sent++;
      plainCopies++;
      encapCopies++;
      C.bumpLink(C.vtepCountersPtr, vtep, C.LINK_TX_FRAMES);
      C.bumpLink(C.vtepCountersPtr, vtep, C.LINK_TX_BYTES, dlen);
    }
  }
  if (plainCopies != 0) {
    C.bump(blk, C.TX_FRAMES, plainCopies);
    C.bump(blk, C.TX_BYTES, <u64>plainCopies * len);
    if (encapCopies != 0) C.bump(blk, C.ENCAP, encapCopies);
  }
  if (sent == 0) {
    // Datagrams of a cut copy were counted one by one as they were lost.
    if (failed == 0 && lost == 0 && cutLost) return dropCounted(slot, C.DROP_TX_FULL);
    return drop(slot, failed != 0 ? failed : lost != 0 ? C.DROP_TX_FULL : C.DROP_NO_RECIPIENT);
  }
  // Some copies went out; the ones that did not still count, per copy.
  if (lost != 0) C.bump(blk, C.DROP_BASE + C.DROP_TX_FULL, lost);
  if (failed != 0) C.bump(blk, C.DROP_BASE + failed, remotes);
  return FORWARDED;
}
