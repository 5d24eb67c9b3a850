// TX entries: the core's output list, one entry per copy of a frame to send. This module is the
// only writer of their bytes (emitTx for a new entry; GRO's setters for the head of a merge).
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
//  Offsets: assembly/abi.ts TX_*.

import { txMax, txPtr } from "../layout";
import { TARGET_REMOTE, TX_ENTRY_LEN, TX_FLAGS, TX_GSO_SIZE, TX_HAS_VNET, TX_INNER_DF, TX_LEN, TX_PTR, TX_RX_INDEX, TX_SRC_PORT, TX_TARGET, TX_TOS, TX_VNET } from "../abi";
import { VNET_HDR_LEN, emitVnet } from "../wire/virtio_net";
import { INNER_DF } from "./ecn";
import * as ctx from "./context";

/** Entries written in this burst; process() returns it. */
export let txCount: u32 = 0;

@inline export function resetTx(): void { txCount = 0; }

/** The entry at index `i` of the TX list. */
@inline export function entryAt(i: u32): usize {
  return txPtr + <usize>i * TX_ENTRY_LEN;
}

@inline export function entryPtr(t: usize): usize { return <usize>load<u32>(t, TX_PTR); }
@inline export function entryLen(t: usize): u32 { return load<u32>(t, TX_LEN); }
@inline export function entryTarget(t: usize): u32 { return load<u32>(t, TX_TARGET); }

/**
 * Appends an entry for `len` bytes at `ptr` to `target` (a local port id, or TARGET_REMOTE |
 * vtep id) from UDP source port `sport`, for RX descriptor `index`; `gsoSize` as the entry's
 * (0: one datagram). Flags, vnet and tos come from the frame being switched (context.ts).
 * False when the list is full (txMax): the caller counts DROP_TX_FULL.
 */
@inline export function emitTx(ptr: usize, len: u32, target: u32, sport: u32, index: u32, gsoSize: u32 = 0): bool {
  if (txCount >= txMax) return false;
  let t = entryAt(txCount);
  store<u32>(t, <u32>ptr, TX_PTR);
  store<u32>(t, len, TX_LEN);
  store<u32>(t, target, TX_TARGET);
  store<u16>(t, <u16>sport, TX_SRC_PORT);
  store<u16>(t, <u16>index, TX_RX_INDEX);
  store<u16>(t, <u16>gsoSize, TX_GSO_SIZE);
  // Local copies of a super-frame pass its virtio_net_hdr on: the receiving TAP segments it.
  if (target & TARGET_REMOTE) {
    store<u16>(t, (ctx.txOuter & INNER_DF) != 0 ? TX_INNER_DF : 0, TX_FLAGS);
    store<u8>(t, <u8>ctx.txOuter, TX_TOS);
  } else if (ctx.vnet != 0) {
    memory.copy(t + TX_VNET, ctx.vnet, VNET_HDR_LEN);
    store<u16>(t, TX_HAS_VNET, TX_FLAGS);
    store<u8>(t, 0, TX_TOS);
  } else {
    store<u16>(t, 0, TX_FLAGS);
    store<u8>(t, 0, TX_TOS);
  }
  txCount++;
  return true;
}

/** Takes back the last entry written (GRO merged its frame into an earlier one). */
@inline export function retractLast(): void { txCount--; }

/** GRO: the head super-frame of entry `t` grew to `len` bytes. */
@inline export function setEntryLen(t: usize, len: u32): void {
  store<u32>(t, len, TX_LEN);
}

/**
 * GRO: entry `t` becomes a super-frame for the TAP, with a virtio_net_hdr (wire/virtio_net.ts
 * emitVnet's fields) and TX_HAS_VNET.
 */
@inline export function setEntryVnet(t: usize, flags: u8, gsoType: u8, hdrLen: u32, gsoSize: u32, csumStart: u32, csumOffset: u32): void {
  emitVnet(t + TX_VNET, flags, gsoType, hdrLen, gsoSize, csumStart, csumOffset);
  store<u16>(t, TX_HAS_VNET, TX_FLAGS);
}
