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
//  The TX entries it writes are drawn in pipeline/tx.ts, their only writer.
//
// This file is the dispatch: each frame to the path of its ingress (underlay, GRO buffer, local
// port), which learns (switch/learn.ts), looks up, and forwards (forward.ts) or floods (flood.ts).

import { HEADROOM, TAILROOM, slotSize, slotsEnd, slotsPtr, rxPtr, burstMax, argsPtr } from "../layout";
import * as C from "../counters";
import { ETH_HEADER_LEN, ETH_SRC, ETHERTYPE_QINQ, ETHERTYPE_VLAN, VLAN_TAG_LEN, etherType, macIsGroup, macIsValidSource, macKey } from "../wire/ethernet";
import { VXLAN_HEADER_LEN, check as vxlanCheck, hasVni, vni } from "../wire/vxlan";
import { F_NEEDS_CSUM, GSO_NONE, VNET_HDR_LEN, gsoType, vnetFlags } from "../wire/virtio_net";
import { ARGS_VNET, RX_DESC_LEN, RX_FLAGS, RX_GSO_SIZE, RX_LEN, RX_PEER, RX_PEER_PORT, RX_PORT, RX_PTR, RX_TOS, RX_VERDICT, RX_VNET_HDR, TARGET_REMOTE } from "../abi";
import { PORT_UNDERLAY, PORT_UNDERLAY_ETH, slotOfPort } from "../switch/port";
import * as vnis from "../switch/vni";
import * as vteps from "../switch/vtep";
import { learn, lookup } from "../switch/learn";
import * as fdb from "../switch/fdb";
import { answer } from "./suppress";
import { completeChecksum, resetArena, singleSegment } from "./offload";
import * as gro from "./coalesce";
import * as ecn from "./ecn";
import * as pmtu from "./pmtu";
import { UNDERLAY_OK, UNDERLAY_MALFORMED, parse as parseUnderlay, vxlanPort } from "./underlay";
import * as records from "./records";
import * as ctx from "./context";
import * as tx from "./tx";
import { countLocalHit, countLocalRx, flushRuns } from "./run_counters";
import { FORWARDED, drop, dropOnPort } from "./verdict";
import { toPort, toRemote, tooBig } from "./forward";
import { FROM_REMOTE, flood } from "./flood";

/** Merge decapsulated TCP segments into super-frames (only for TAPs with IFF_VNET_HDR). */
let coalescing = false;
export function setCoalescing(on: bool): void { coalescing = on; }

/** Switches `count` frames described at rxPtr; returns the number of TX entries written. */
export function processBurst(count: u32, nowSeconds: u32): u32 {
  tx.resetTx();
  ctx.now = nowSeconds & 0x7fffffff;
  resetArena();
  pmtu.resetPmtu();
  if (count > burstMax) count = burstMax;
  for (let i: u32 = 0; i < count; i++) {
    let d = rxPtr + <usize>i * RX_DESC_LEN;
    store<u16>(d, <u16>switchOne(d, i), RX_VERDICT);
  }
  flushRuns();
  return tx.txCount;
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
  ctx.vnet = 0;
  if (port == PORT_UNDERLAY) {
    let stride = <u32>load<u16>(d, RX_GSO_SIZE);
    let tos = load<u8>(d, RX_TOS);
    if (stride != 0 && stride < len) return fromGroBuffer(ptr, len, stride, d + RX_PEER, index, tos);
    return fromUnderlay(ptr, len, d + RX_PEER, index, tos);
  }
  if (port == PORT_UNDERLAY_ETH) {
    let dg = records.datagram;
    let r = parseUnderlay(ptr, len, d + RX_PEER, dg);
    if (r != UNDERLAY_OK) return drop(-1, r == UNDERLAY_MALFORMED ? C.DROP_UNDERLAY_MALFORMED : C.DROP_NOT_VXLAN);
    store<u16>(d, dg.peerPort, RX_PEER_PORT);
    return fromUnderlay(ptr + dg.offset, dg.len, d + RX_PEER, index, 0);
  }
  if (load<u16>(d, RX_FLAGS) & RX_VNET_HDR) {
    ctx.vnet = argsPtr + ARGS_VNET; // scratch for the header
    memory.copy(ctx.vnet, ptr - VNET_HDR_LEN, VNET_HDR_LEN);
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
  let g = records.gro;
  gro.reset(g);
  for (let off: u32 = 0; off < len; off += stride) {
    let dlen = min(stride, len - off);
    let before = tx.txCount;
    let v = fromUnderlay(ptr + off, dlen, peer, index, tos); // GRO merges one outer TOS only
    if (v != FORWARDED) {
      last = v;
      gro.flush(g);
      continue;
    }
    forwarded = true;
    if (!coalescing) continue;
    let t = tx.entryAt(before);
    let target = tx.entryTarget(t);
    if (tx.txCount == before + 1 && (target & TARGET_REMOTE) == 0) {
      // Read the VNI first: a merge moves this datagram's payload over its own headers.
      let slot = vnis.slotOf(vni(ptr + off));
      if (gro.offer(g, records.l4, t, tx.entryPtr(t), tx.entryLen(t), target)) {
        tx.retractLast();
        C.bump(C.block(slot), C.GRO_MERGED);
      }
    } else {
      gro.flush(g);
    }
  }
  gro.flush(g);
  return forwarded ? FORWARDED : last;
}

/** Largest inner frame a VNI carries: MTU + Ethernet header, + 4 when it carries a VLAN tag. */
@inline function fitsMtu(slot: i32, frame: usize, len: u32): bool {
  let max = vnis.mtuOf(slot) + ETH_HEADER_LEN;
  if (len <= max) return true;
  let type = etherType(frame);
  return (type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ) && len <= max + VLAN_TAG_LEN;
}

function fromUnderlay(ptr: usize, len: u32, peer: usize, index: u32, tos: u8): u32 {
  if (!vxlanCheck(ptr, len)) return drop(-1, C.DROP_VXLAN_RUNT);
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
  if (vtep >= 0 && (flags & vnis.FLAG_LEARN)) learn(slot, blk, src, TARGET_REMOTE | <u32>vtep, ctx.now);
  if (tos != 0) {
    // After learning, as vxlan_rcv() does: the sender is known even when its frame is dropped.
    let e = ecn.decapsulate(frame, flen, tos);
    if (e == ecn.DECAP_DROP) return drop(slot, C.DROP_ECN_NOT_ECT);
    if (e == ecn.DECAP_MARKED) C.bump(blk, C.ECN_CE_MARKED);
  }

  let dst = macKey(frame);
  if (!macIsGroup(dst)) {
    let e = lookup(slot, dst, ctx.now);
    if (e != 0) {
      C.bump(blk, C.FDB_HIT);
      let t = fdb.entryTarget(e);
      // Split horizon: what came over the tunnel never goes back into it.
      if (t & TARGET_REMOTE) return drop(slot, C.DROP_SPLIT_HORIZON);
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
  if (ctx.vnet != 0) {
    // A plain frame, or a GSO one that fits one segment: with a partial checksum, fill it now, once,
    // for every copy; then it goes on as a plain frame (cutting it would change nothing).
    if (gsoType(ctx.vnet) == GSO_NONE || singleSegment(frame, len, ctx.vnet, records.l4)) {
      if ((vnetFlags(ctx.vnet) & F_NEEDS_CSUM) && !completeChecksum(frame, len, ctx.vnet)) {
        return dropOnPort(slot, port, C.DROP_BAD_VNET_HDR);
      }
      ctx.vnet = 0;
    }
  }
  // A super-frame is checked segment by segment when it is cut for a VTEP.
  ctx.ingressPort = port;
  if (ctx.vnet == 0 && !fitsMtu(slot, frame, len)) {
    tooBig(slot, blk, frame, len, index);
    return dropOnPort(slot, port, C.DROP_OVER_MTU);
  }
  let src = macKey(frame + ETH_SRC);
  if (!macIsValidSource(src)) return dropOnPort(slot, port, C.DROP_BAD_SOURCE_MAC);
  let flags = vnis.flagsOf(slot);
  if (flags & vnis.FLAG_LEARN) learn(slot, blk, src, port, ctx.now);

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
  let e = lookup(slot, dst, ctx.now);
  if (e != 0) {
    countLocalHit();
    let t = fdb.entryTarget(e);
    if (t & TARGET_REMOTE) return toRemote(slot, blk, frame, len, t, index);
    if (t == port) return dropOnPort(slot, port, C.DROP_SAME_PORT);
    return toPort(slot, blk, frame, len, t, index);
  }
  C.bump(blk, C.FDB_MISS);
  return flood(slot, blk, frame, len, port, index);
}
