// The neighbour table for ARP/ND suppression: (VNI, IP) → MAC, filled by the control plane from
// endpoint records (Docker's overlay driver does the same from its gossip). Open addressing with
// backward-shift deletion, like the FDB; only ARP requests and solicitations look here.
//
//  entry (32 B): tag u32 (vniSlot + 1, 0 = empty) │ reserved u32 │ address[16] │ mac[6] │ pad

import { allocate } from "../layout";
import { mix64 } from "../hash";

/** An entry as the diagram draws it; the offsets below are the compiler's (offsetof). */
@unmanaged class Entry {
  /** vniSlot + 1; 0: an empty bucket. */
  tag: u32;
  reserved: u32;
  /** The 16-byte address (IPv4 as ::ffff:a.b.c.d), as two words. */
  addrHi: u64;
  addrLo: u64;
  /** The MAC in its first 6 bytes, 2 bytes of padding. */
  mac: u64;
}
@inline const ENTRY_LEN: u32 = offsetof<Entry>();
@inline const TAG: u32 = offsetof<Entry>("tag");
@inline const ADDR: u32 = offsetof<Entry>("addrHi");
@inline const ADDR_LO: u32 = offsetof<Entry>("addrLo");
@inline export const NEIGH_MAC: u32 = offsetof<Entry>("mac");

let tablePtr: usize = 0;
let mask: u32 = 0;
let used: u32 = 0;

export function layoutNeigh(log2Capacity: u32): bool {
  mask = (1 << log2Capacity) - 1;
  used = 0;
  tablePtr = allocate(<usize>ENTRY_LEN << log2Capacity);
  return tablePtr != 0;
}

@inline function at(i: u32): usize {
  return tablePtr + <usize>i * ENTRY_LEN;
}

@inline function home(tag: u32, hi: u64, lo: u64): u32 {
  return <u32>mix64(hi ^ mix64(lo ^ <u64>tag)) & mask;
}

@inline function matches(e: usize, tag: u32, hi: u64, lo: u64): bool {
  return load<u32>(e, TAG) == tag && load<u64>(e, ADDR) == hi && load<u64>(e, ADDR_LO) == lo;
}

/** Entry for the 16-byte address at `addr` in a VNI slot, or 0. */
export function find(slot: i32, addr: usize): usize {
  let tag = <u32>(slot + 1);
  let hi = load<u64>(addr);
  let lo = load<u64>(addr, 8);
  let i = home(tag, hi, lo);
  while (true) {
    let e = at(i);
    let t = load<u32>(e, TAG);
    if (t == 0) return 0;
    if (matches(e, tag, hi, lo)) return e;
    i = (i + 1) & mask;
  }
  return 0;
}

/** Adds or updates; false when the table is full (7/8, to keep probes short). */
export function put(slot: i32, addr: usize, mac: usize): bool {
  let e = find(slot, addr);
  if (e == 0) {
    if (used >= mask + 1 - ((mask + 1) >> 3)) return false;
    let tag = <u32>(slot + 1);
    let i = home(tag, load<u64>(addr), load<u64>(addr, 8));
    while (load<u32>(at(i), TAG) != 0) i = (i + 1) & mask;
    e = at(i);
    store<u32>(e, tag, TAG);
    memory.copy(e + ADDR, addr, 16);
    used++;
  }
  memory.copy(e + NEIGH_MAC, mac, 6);
  return true;
}

export function remove(slot: i32, addr: usize): bool {
  let e = find(slot, addr);
  if (e == 0) return false;
  removeAt(e);
  return true;
}

/** Drops every entry of a VNI slot (network removed). */
export function flushSlot(slot: i32): void {
  let tag = <u32>(slot + 1);
  let i: u32 = 0;
  while (i <= mask) {
    let e = at(i);
    if (load<u32>(e, TAG) == tag) { removeAt(e); continue; } // re-check: a shifted entry landed here
    i++;
  }
}

function removeAt(e: usize): void {
  let hole = <u32>((e - tablePtr) / ENTRY_LEN);
  let j = hole;
  while (true) {
    j = (j + 1) & mask;
    let ej = at(j);
    let t = load<u32>(ej, TAG);
    if (t == 0) break;
    let h = home(t, load<u64>(ej, ADDR), load<u64>(ej, ADDR_LO));
    let stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
    if (stays) continue;
    memory.copy(at(hole), ej, ENTRY_LEN);
    hole = j;
  }
  store<u32>(at(hole), 0, TAG);
  used--;
}
