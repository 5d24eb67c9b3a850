// Remote VTEPs: the other ends of the tunnels. An id names an underlay address and UDP port so
// that FDB entries, flood lists and the host's socket addresses share one small number.
// Addresses are 16 bytes; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d).
//
//  record (32 B): address[16] │ port u16 │ flags u16 │ reserved
//  index: open addressing over the address, u32 (id + 1), 2× the records, 0 = empty.
//  local: MAX_LOCAL × 16 B, this host's own VTEP addresses (a datagram from one is our own echo).

import { allocate } from "../layout";
import * as abi from "../abi";
import { mix64 } from "../hash";

@inline const RECORD_LEN: u32 = 32;
@inline const PORT: u32 = 16;
@inline const FLAGS: u32 = 18;
@inline export const VTEP_IN_USE: u16 = 1;
@inline export const VTEP_STATIC: u16 = 2;

export let maxVteps: u32 = 0;
export let vtepCount: u32 = 0;
let recordsPtr: usize = 0;
let indexPtr: usize = 0;
let indexMask: u32 = 0;
// Decap sees bursts from one peer; remember the last address matched (VPP's "last tunnel").
let lastHi: u64 = 0;
let lastLo: u64 = 0;
let lastId: i32 = -1;

/** This host's own VTEP addresses (16 B each): a datagram from one of them is our own echo. */
@inline export const MAX_LOCAL: u32 = abi.LOCAL_MAX;
let localPtr: usize = 0;
export let localCount: u32 = 0;

export function layoutVteps(count: u32): bool {
  maxVteps = count;
  vtepCount = 0;

  lastId = -1;
  let cap: u32 = 1;
  while (cap < count * 2) cap <<= 1;
  indexMask = cap - 1;
  recordsPtr = allocate(<usize>count * RECORD_LEN);
  indexPtr = allocate(<usize>cap * 4);
  localPtr = allocate(<usize>MAX_LOCAL * 16);
  localCount = 0;
  return recordsPtr != 0 && indexPtr != 0 && localPtr != 0;
}

@inline export function record(id: u32): usize {
  return recordsPtr + <usize>id * RECORD_LEN;
}

@inline export function vtepPort(id: u32): u16 { return load<u16>(record(id), PORT); }
@inline export function vtepFlags(id: u32): u16 { return load<u16>(record(id), FLAGS); }

@inline function hashAddr(hi: u64, lo: u64): u32 {
  return <u32>mix64(hi ^ mix64(lo));
}

/** Id of the VTEP with the address at `addr`, or -1. */
export function find(addr: usize): i32 {
  let hi = load<u64>(addr);
  let lo = load<u64>(addr, 8);
  if (hi == lastHi && lo == lastLo && lastId >= 0) return lastId;
  let i = hashAddr(hi, lo) & indexMask;
  while (true) {
    let v = load<u32>(indexPtr + (<usize>i << 2));
    if (v == 0) return -1;
    let r = record(v - 1);
    if (load<u64>(r) == hi && load<u64>(r, 8) == lo) {
      lastHi = hi;
      lastLo = lo;
      lastId = v - 1;
      return v - 1;
    }
    i = (i + 1) & indexMask;
  }
  return -1;
}

/** Adds a VTEP (or returns the existing id for the address); -1 when the table is full. */
export function add(addr: usize, port: u16, flags: u16): i32 {
  let id = find(addr);
  if (id >= 0) {
    let r = record(id);
    if (flags & VTEP_STATIC) {
      store<u16>(r, port, PORT);
      store<u16>(r, load<u16>(r, FLAGS) | VTEP_STATIC, FLAGS);
    }
    return id;
  }
  // Records are append-only: an id keeps naming one address for the module's life, so the
  // host's table of socket addresses never goes stale.
  if (vtepCount >= maxVteps) return -1;
  id = <i32>vtepCount;
  vtepCount++;
  let r = record(id);
  memory.copy(r, addr, 16);
  store<u16>(r, port, PORT);
  store<u16>(r, flags | VTEP_IN_USE, FLAGS);
  let i = hashAddr(load<u64>(r), load<u64>(r, 8)) & indexMask;
  while (load<u32>(indexPtr + (<usize>i << 2)) != 0) i = (i + 1) & indexMask;
  store<u32>(indexPtr + (<usize>i << 2), <u32>id + 1);
  return id;
}

/** Adds one of this host's own addresses; false when MAX_LOCAL are already there. */
export function addLocal(addr: usize): bool {
  if (isLocal(addr)) return true;
  if (localCount >= MAX_LOCAL) return false;
  memory.copy(localPtr + <usize>localCount * 16, addr, 16);
  localCount++;
  return true;
}

/** Whether the address at `addr` is one of this host's own VTEP addresses. */
export function isLocal(addr: usize): bool {
  let hi = load<u64>(addr);
  let lo = load<u64>(addr, 8);
  for (let i: u32 = 0; i < localCount; i++) {
    let p = localPtr + <usize>i * 16;
    if (load<u64>(p) == hi && load<u64>(p, 8) == lo) return true;
  }
  return false;
}
