// Linear memory, laid out once by `init` and never grown afterwards, so the host's views and
// the pointers it hands to the kernel (iovecs into frame slots) stay valid for the module's life.
//
//  __heap_base
//  ├─ args        ARGS_LEN (256 B)   host ↔ core scratch for addresses and MACs of control calls
//  ├─ rx descs    burst × RX_DESC_LEN (48 B)    (abi.ts; pipeline/burst.ts draws it)
//  ├─ tx list     txMax × TX_ENTRY_LEN (32 B)   (abi.ts; pipeline/tx.ts draws it)
//  ├─ slots       slotCount × slotSize: [headroom | frame … | tailroom]
//  ├─ counters    u64 blocks: global, per VNI, per port, per VTEP
//  ├─ vni table, port table, vtep table, flood lists, neighbour table
//  ├─ fdb         2^fdbBits × 16 B
//  ├─ arena       segmentation output (offloads), reset every burst
//  ├─ pmtu replies, fdb dump
//  └─ pipeline records: parse results and GRO state of the frame being switched (records.ts)
//
// Nothing here allocates per frame; `--runtime stub` never frees, and nothing needs it to.

import { ARGS_LEN, REGION_RECORD_LEN, REGION_SIZE, REGION_START, RX_DESC_LEN, TX_ENTRY_LEN } from "./abi";

/** Headroom before each frame: outer Ethernet + IPv6 + UDP + VXLAN (14 + 40 + 8 + 8) fits. */
@inline export const HEADROOM: u32 = 128;
/** Tailroom after each frame: an answered neighbour solicitation may grow by one option. */
@inline export const TAILROOM: u32 = 64;

let top: usize = 0;

/** Most regions `reserve` records (init lays out 16). */
@inline const REGIONS_MAX: u32 = 32;
/** Every region laid out, in order: records of u32 start, u32 size (REGION_* in abi.ts). Static
 *  data, below __heap_base. */
export const regionTable: usize = memory.data(REGIONS_MAX * REGION_RECORD_LEN);
export let regionCount: u32 = 0;

function reserve(size: usize): usize {
  if (top == 0) top = (__heap_base + 63) & ~63;
  let p = top;
  top = (top + size + 63) & ~63; // cache-line aligned regions
  let need = <i32>((top + 0xffff) >>> 16) - memory.size();
  if (need > 0 && memory.grow(need) < 0) return 0;
  memory.fill(p, 0, size);
  // Recorded so that a test can tell every byte the data path may write from those it may not.
  if (regionCount < REGIONS_MAX) {
    let r = regionTable + <usize>regionCount * REGION_RECORD_LEN;
    store<u32>(r, <u32>p, REGION_START);
    store<u32>(r, <u32>size, REGION_SIZE);
    regionCount++;
  }
  return p;
}

export let argsPtr: usize = 0;
export let burstMax: u32 = 0;
export let rxPtr: usize = 0;
export let txMax: u32 = 0;
export let txPtr: usize = 0;
export let slotSize: u32 = 0;
export let slotsPtr: usize = 0;
export let slotsEnd: usize = 0;

export let initialized = false;

/** Lays out the I/O regions; returns false when memory cannot grow that far. */
export function layoutIo(burst: u32, tx: u32, slots: u32, size: u32): bool {
  argsPtr = reserve(ARGS_LEN);
  burstMax = burst;
  rxPtr = reserve(<usize>burst * RX_DESC_LEN);
  txMax = tx;
  txPtr = reserve(<usize>tx * TX_ENTRY_LEN);
  slotSize = size;
  slotsPtr = reserve(<usize>slots * size);
  slotsEnd = slotsPtr + <usize>slots * size;
  return argsPtr != 0 && rxPtr != 0 && txPtr != 0 && slotsPtr != 0;
}

/** A zeroed region for a table; 0 when memory cannot grow. */
export function allocate(size: usize): usize {
  return reserve(size);
}

/** Bytes of linear memory in use, for the memory benchmark. */
export function memoryUsed(): usize {
  return top;
}
