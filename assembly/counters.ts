// Counters: u64 blocks in linear memory that the host reads directly. A frame that is not
// forwarded is never an exception: it is one increment of a named drop reason (VPP's error
// counters, the kernel's rx_dropped). Names live in cli/core/counters.ts, in this order.

import { allocate } from "./layout";

// Per-VNI (and global) block.
@inline export const RX_FRAMES: u32 = 0;
@inline export const RX_BYTES: u32 = 1;
@inline export const TX_FRAMES: u32 = 2;
@inline export const TX_BYTES: u32 = 3;
@inline export const ENCAP: u32 = 4;
@inline export const DECAP: u32 = 5;
@inline export const FLOOD: u32 = 6;
@inline export const FDB_HIT: u32 = 7;
@inline export const FDB_MISS: u32 = 8;
@inline export const FDB_LEARN: u32 = 9;
@inline export const FDB_MOVE: u32 = 10;
@inline export const FDB_LEARN_LIMIT: u32 = 11;
@inline export const FDB_AGED: u32 = 12;
@inline export const VTEP_LEARN_FULL: u32 = 13;
@inline export const ARP_REPLY: u32 = 14;
@inline export const ND_REPLY: u32 = 15;
@inline export const GSO_FRAMES: u32 = 16;
@inline export const GSO_SEGMENTS: u32 = 17;
@inline export const GRO_MERGED: u32 = 18;
@inline export const DROPS: u32 = 19;
@inline export const DROP_BASE: u32 = 20;

// Drop reasons, DROP_BASE + reason. The verdict written back to a descriptor is reason + 1.
@inline export const DROP_BAD_DESCRIPTOR: u32 = 0;
@inline export const DROP_RUNT: u32 = 1;
@inline export const DROP_OVER_MTU: u32 = 2;
@inline export const DROP_VXLAN_RUNT: u32 = 3;
@inline export const DROP_VXLAN_BAD_FLAGS: u32 = 4;
@inline export const DROP_UNKNOWN_VNI: u32 = 5;
@inline export const DROP_UNKNOWN_PORT: u32 = 6;
@inline export const DROP_BAD_SOURCE_MAC: u32 = 7;
@inline export const DROP_SAME_PORT: u32 = 8;
@inline export const DROP_SPLIT_HORIZON: u32 = 9;
@inline export const DROP_NO_RECIPIENT: u32 = 10;
@inline export const DROP_UNDERLAY_MALFORMED: u32 = 11;
@inline export const DROP_NOT_VXLAN: u32 = 12;
@inline export const DROP_TX_FULL: u32 = 13;
@inline export const DROP_BAD_VNET_HDR: u32 = 14;
@inline export const DROP_ARENA_FULL: u32 = 15;
@inline export const DROP_SELF_VTEP: u32 = 16;
@inline export const DROP_ECN_NOT_ECT: u32 = 17;
@inline export const DROP_REASONS: u32 = 18;

// Counters added later go after the drop reasons: the block only grows at its end.
@inline export const PMTU_ICMP: u32 = DROP_BASE + DROP_REASONS;
@inline export const PMTU_ICMP_LIMITED: u32 = PMTU_ICMP + 1;
@inline export const ECN_CE_MARKED: u32 = PMTU_ICMP + 2;

@inline export const BLOCK_COUNTERS: u32 = ECN_CE_MARKED + 1;
@inline export const BLOCK_BYTES: u32 = BLOCK_COUNTERS * 8;

// Per-port and per-VTEP block.
@inline export const LINK_RX_FRAMES: u32 = 0;
@inline export const LINK_RX_BYTES: u32 = 1;
@inline export const LINK_TX_FRAMES: u32 = 2;
@inline export const LINK_TX_BYTES: u32 = 3;
@inline export const LINK_DROPS: u32 = 4;
@inline export const LINK_COUNTERS: u32 = 5;
@inline export const LINK_BYTES: u32 = LINK_COUNTERS * 8;

/** Global block first, then one block per VNI slot. */
export let countersPtr: usize = 0;
export let portCountersPtr: usize = 0;
export let vtepCountersPtr: usize = 0;

export function layoutCounters(vnis: u32, ports: u32, vteps: u32): bool {
  countersPtr = allocate(<usize>(vnis + 1) * BLOCK_BYTES);
  portCountersPtr = allocate(<usize>ports * LINK_BYTES);
  vtepCountersPtr = allocate(<usize>vteps * LINK_BYTES);
  return countersPtr != 0 && portCountersPtr != 0 && vtepCountersPtr != 0;
}

/** Block of a VNI slot; slot -1 (no VNI known yet) is the global block. */
@inline export function block(vniSlot: i32): usize {
  return countersPtr + <usize>(vniSlot + 1) * BLOCK_BYTES;
}

@inline export function bump(blk: usize, index: u32, by: u64 = 1): void {
  let p = blk + (<usize>index << 3);
  store<u64>(p, load<u64>(p) + by);
}

@inline export function bumpLink(base: usize, id: u32, index: u32, by: u64 = 1): void {
  let p = base + <usize>id * LINK_BYTES + (<usize>index << 3);
  store<u64>(p, load<u64>(p) + by);
}
