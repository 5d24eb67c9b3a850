// Switch instances: one per VNI, the seed's br0 inside each overlay's sandbox. A slot holds the
// VNI's settings, its local ports and its flood list (the remote VTEPs for head-end replication).
//
//  slot record (32 B)                      per slot, beside it
//  ┌─────┬─────┬──────────┬────────────┐   ports: MAX_PORTS_PER_VNI × u32 local port ids
//  │ vni │ mtu │ learnMax │ learnCount │   flood: MAX_FLOOD_PER_VNI × u32 vtep ids
//  │ ageing │ flags │ portCount │ floodCount │   flags: FLAG_* | FLAG_IN_USE (bit 31)
//  └────────────────────────────────────┘

import { allocate } from "../layout";
import * as abi from "../abi";

@inline export const MAX_PORTS_PER_VNI: u32 = 256;
@inline export const MAX_FLOOD_PER_VNI: u32 = 256;
/** A slot record as the diagram draws it, read through its fields (the compiler's offsets). */
@unmanaged class VniRecord {
  vni: u32;
  /** Bytes of L3 payload the VNI carries. */
  mtu: u32;
  learnMax: u32;
  learnCount: u32;
  /** Seconds a learned entry lives without a refresh. */
  ageing: u32;
  /** FLAG_* | FLAG_IN_USE. */
  flags: u32;
  portCount: u32;
  floodCount: u32;
}
@inline const RECORD_LEN: u32 = offsetof<VniRecord>();
// The packed sets below share one add/remove, told which count field is theirs.
@inline const PORT_COUNT: u32 = offsetof<VniRecord>("portCount");
@inline const FLOOD_COUNT: u32 = offsetof<VniRecord>("floodCount");

@inline export const FLAG_LEARN: u32 = abi.VNI_FLAG_LEARN;
@inline export const FLAG_SUPPRESS: u32 = abi.VNI_FLAG_SUPPRESS;
/** Answer over-MTU packets from local ports with ICMP (pipeline/pmtu.ts). */
@inline export const FLAG_PMTU: u32 = abi.VNI_FLAG_PMTU;
/** The record holds a VNI. Not the VNI's value: 0 is a valid VNI (RFC 7348 §5, the kernel's `id 0`). */
@inline const FLAG_IN_USE: u32 = 0x80000000;

export let maxVnis: u32 = 0;
let recordsPtr: usize = 0;
let portsPtr: usize = 0;
let floodPtr: usize = 0;
// One-entry cache before the search, as VPP's decap keeps its "last tunnel".
let lastVni: u32 = 0;
let lastSlot: i32 = -1;

export function layoutVnis(count: u32): bool {
  maxVnis = count;
  recordsPtr = allocate(<usize>count * RECORD_LEN);
  portsPtr = allocate(<usize>count * MAX_PORTS_PER_VNI * 4);
  floodPtr = allocate(<usize>count * MAX_FLOOD_PER_VNI * 4);
  return recordsPtr != 0 && portsPtr != 0 && floodPtr != 0;
}

@inline function recAt(slot: i32): usize {
  return recordsPtr + <usize>slot * RECORD_LEN;
}

@inline function rec(slot: i32): VniRecord {
  return changetype<VniRecord>(recAt(slot));
}

@inline function inUse(slot: u32): bool {
  return (rec(slot).flags & FLAG_IN_USE) != 0;
}

/** Slot of `vni`, or -1. A free record (all zero) never matches, not even VNI 0. */
export function slotOf(vni: u32): i32 {
  if (vni == lastVni && lastSlot >= 0) return lastSlot;
  for (let s: u32 = 0; s < maxVnis; s++) {
    if (rec(s).vni == vni && inUse(s)) {
      lastVni = vni;
      lastSlot = s;
      return s;
    }
  }
  return -1;
}

/** Creates or updates the instance for `vni`; returns its slot or -1 when all are taken. */
export function addVni(vni: u32, mtu: u32, learnMax: u32, ageing: u32, flags: u32): i32 {
  let slot = slotOf(vni);
  if (slot < 0) {
    for (let s: u32 = 0; s < maxVnis; s++) {
      if (!inUse(s)) { slot = s; break; }
    }
    if (slot < 0) return -1;
    memory.fill(recAt(slot), 0, RECORD_LEN);
    rec(slot).vni = vni;
  }
  let r = rec(slot);
  r.mtu = mtu;
  r.learnMax = learnMax;
  r.ageing = ageing;
  r.flags = flags | FLAG_IN_USE;
  return slot;
}

export function clearVni(slot: i32): void {
  memory.fill(recAt(slot), 0, RECORD_LEN);
  lastSlot = -1;
}

@inline export function vniOf(slot: i32): u32 { return rec(slot).vni; }
@inline export function mtuOf(slot: i32): u32 { return rec(slot).mtu; }
@inline export function flagsOf(slot: i32): u32 { return rec(slot).flags & ~FLAG_IN_USE; }
@inline export function ageingOf(slot: i32): u32 { return rec(slot).ageing; }
@inline export function learnMaxOf(slot: i32): u32 { return rec(slot).learnMax; }
@inline export function learnCountOf(slot: i32): u32 { return rec(slot).learnCount; }
@inline export function setLearnCount(slot: i32, n: u32): void { rec(slot).learnCount = n; }
@inline export function portCount(slot: i32): u32 { return rec(slot).portCount; }
@inline export function floodCount(slot: i32): u32 { return rec(slot).floodCount; }

@inline export function portAt(slot: i32, i: u32): u32 {
  return load<u32>(portsPtr + (<usize>slot * MAX_PORTS_PER_VNI + i) * 4);
}

@inline export function floodAt(slot: i32, i: u32): u32 {
  return load<u32>(floodPtr + (<usize>slot * MAX_FLOOD_PER_VNI + i) * 4);
}

// Small sets of u32 kept packed; order does not matter, so removal moves the last one in.
function setAdd(base: usize, countField: u32, slot: i32, cap: u32, v: u32): bool {
  let n = load<u32>(recAt(slot) + countField);
  for (let i: u32 = 0; i < n; i++) if (load<u32>(base + i * 4) == v) return true;
  if (n >= cap) return false;
  store<u32>(base + n * 4, v);
  store<u32>(recAt(slot) + countField, n + 1);
  return true;
}

function setRemove(base: usize, countField: u32, slot: i32, v: u32): bool {
  let n = load<u32>(recAt(slot) + countField);
  for (let i: u32 = 0; i < n; i++) {
    if (load<u32>(base + i * 4) == v) {
      store<u32>(base + i * 4, load<u32>(base + (n - 1) * 4));
      store<u32>(recAt(slot) + countField, n - 1);
      return true;
    }
  }
  return false;
}

export function addPort(slot: i32, port: u32): bool {
  return setAdd(portsPtr + <usize>slot * MAX_PORTS_PER_VNI * 4, PORT_COUNT, slot, MAX_PORTS_PER_VNI, port);
}
export function removePort(slot: i32, port: u32): bool {
  return setRemove(portsPtr + <usize>slot * MAX_PORTS_PER_VNI * 4, PORT_COUNT, slot, port);
}
export function addFlood(slot: i32, vtep: u32): bool {
  return setAdd(floodPtr + <usize>slot * MAX_FLOOD_PER_VNI * 4, FLOOD_COUNT, slot, MAX_FLOOD_PER_VNI, vtep);
}
export function removeFlood(slot: i32, vtep: u32): bool {
  return setRemove(floodPtr + <usize>slot * MAX_FLOOD_PER_VNI * 4, FLOOD_COUNT, slot, vtep);
}
