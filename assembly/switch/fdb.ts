// The forwarding database: (VNI, MAC) → port or remote VTEP, as the Linux VXLAN driver keys it.
// A fixed-capacity open-addressing table with linear probing, sized once at init; deletion by
// backward shift, so there are no tombstones and probe chains stay short after ageing.
//
//  entry (16 B)
//  ┌──────────────────────────────┬───────────────┬────────────────────────┐
//  │ key u64: mac48 | (vniSlot+1)<<48 │ target u32    │ stamp u32: S | seconds │
//  └──────────────────────────────┴───────────────┴────────────────────────┘
//  key 0 = empty bucket. target = local port id, or TARGET_REMOTE | vtep id.
//  S (bit 31) marks a static entry: the control plane's, never aged, never moved by learning.

import { allocate } from "../layout";
import * as abi from "../abi";
import { DUMP_MAX, DUMP_RECORD_LEN } from "../abi";

/** An entry as the diagram draws it; the offsets below are the compiler's (offsetof), not ours. */
@unmanaged class Entry {
  /** mac48 | (vniSlot + 1) << 48; 0: an empty bucket. */
  key: u64;
  /** A local port id, or TARGET_REMOTE | vtep id. */
  target: u32;
  /** STATIC | seconds of the last learn or refresh. */
  stamp: u32;
}
@inline export const ENTRY_LEN: u32 = offsetof<Entry>();
@inline const KEY: u32 = offsetof<Entry>("key");
@inline const TARGET: u32 = offsetof<Entry>("target");
@inline const STAMP: u32 = offsetof<Entry>("stamp");
@inline export const STATIC: u32 = 0x80000000;
@inline export const TARGET_REMOTE: u32 = abi.TARGET_REMOTE;
@inline const GOLDEN: u64 = 0x9e3779b97f4a7c15;

export let tablePtr: usize = 0;
export let bits: u32 = 0;
export let mask: u32 = 0;
/** Entries in use; learning stops at `loadLimit` (7/8 full) to keep probes short. */
export let used: u32 = 0;
export let loadLimit: u32 = 0;

export function layoutFdb(log2Capacity: u32): bool {
  bits = log2Capacity;
  mask = (1 << bits) - 1;
  loadLimit = (1 << bits) - (1 << bits >> 3);
  used = 0;
  tablePtr = allocate(<usize>ENTRY_LEN << bits);
  return tablePtr != 0;
}

@inline export function makeKey(vniSlot: i32, mac: u64): u64 {
  return mac | (<u64>(vniSlot + 1) << 48);
}

@inline function home(key: u64): u32 {
  return <u32>((key * GOLDEN) >>> (64 - bits));
}

@inline function at(i: u32): usize {
  return tablePtr + <usize>i * ENTRY_LEN;
}

@inline export function entryKey(e: usize): u64 { return load<u64>(e, KEY); }
@inline export function entryTarget(e: usize): u32 { return load<u32>(e, TARGET); }
@inline export function entryStamp(e: usize): u32 { return load<u32>(e, STAMP); }
@inline export function entryIsStatic(e: usize): bool { return (load<u32>(e, STAMP) & STATIC) != 0; }
@inline export function setEntry(e: usize, target: u32, stamp: u32): void {
  store<u32>(e, target, TARGET);
  store<u32>(e, stamp, STAMP);
}

/** The entry for `key`, or 0. */
export function find(key: u64): usize {
  let i = home(key);
  while (true) {
    let e = at(i);
    let k = load<u64>(e, KEY);
    if (k == key) return e;
    if (k == 0) return 0;
    i = (i + 1) & mask;
  }
  return 0;
}

/** Claims the bucket for a key known to be absent; 0 when the table is at its load limit. */
export function insert(key: u64, target: u32, stamp: u32): usize {
  if (used >= loadLimit) return 0;
  let i = home(key);
  while (load<u64>(at(i), KEY) != 0) i = (i + 1) & mask;
  let e = at(i);
  store<u64>(e, key, KEY);
  setEntry(e, target, stamp);
  used++;
  return e;
}

/** Removes the entry at `e` and shifts its probe chain back over the hole. */
export function removeAt(e: usize): void {
  let hole = <u32>((e - tablePtr) / ENTRY_LEN);
  let j = hole;
  while (true) {
    j = (j + 1) & mask;
    let ej = at(j);
    let k = load<u64>(ej, KEY);
    if (k == 0) break;
    let h = home(k);
    // The entry at j may fill the hole only if its home is not cyclically within (hole, j].
    let stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
    if (stays) continue;
    memory.copy(at(hole), ej, ENTRY_LEN);
    hole = j;
  }
  store<u64>(at(hole), 0, KEY);
  used--;
}

@inline export function bucket(i: u32): usize {
  return at(i);
}

/** Where fdbDump() copies entries for the host: DUMP_MAX records of DUMP_RECORD_LEN (abi.ts). */
export let dumpPtr: usize = 0;

/** Lays out the dump region (init, after the other tables); false when memory cannot grow. */
export function layoutDump(): bool {
  dumpPtr = allocate(DUMP_MAX * DUMP_RECORD_LEN);
  return dumpPtr != 0;
}
