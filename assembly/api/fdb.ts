// Control calls for the FDB: static entries, flushes, the ageing scan and the dump the host reads
// (weft fdb, the daemon's reconcile). assembly/index.ts re-exports them.

import * as L from "../layout";
import * as C from "../counters";
import * as fdb from "../switch/fdb";
import * as vnis from "../switch/vni";
import * as vteps from "../switch/vtep";
import { maxPorts } from "../switch/port";
import { flushWhere } from "../switch/learn";
import { macIsGroup, macKey, storeMacKey } from "../wire/ethernet";
import { DUMP_AGE, DUMP_FLAGS, DUMP_MAC, DUMP_MAX, DUMP_RECORD_LEN, DUMP_RESERVED, DUMP_STATIC, DUMP_TARGET, DUMP_VNI } from "../abi";
import { vniSlot } from "./instances";
import { E_FULL, E_NOT_FOUND, E_RANGE, OK } from "../abi";

let dumpNext: u32 = 0;
let ageCursor: u32 = 0;

/** A static entry (MAC at args[ARGS_ADDRESS..+6)) that learning never moves; target as in TX
 *  entries. Returns OK. Codes: E_NOT_FOUND (no such VNI), E_RANGE (group or zero MAC, no such
 *  port/VTEP), E_FULL (the FDB is at its load limit). */
export function fdbAdd(vni: u32, target: u32): i32 {
  let slot = vniSlot(vni);
  if (slot < 0) return E_NOT_FOUND;
  let mac = macKey(L.argsPtr);
  if (macIsGroup(mac) || mac == 0) return E_RANGE;
  if (target & fdb.TARGET_REMOTE) {
    if ((target & ~fdb.TARGET_REMOTE) >= vteps.vtepCount) return E_RANGE;
  } else if (target >= maxPorts) {
    return E_RANGE;
  }
  let key = fdb.makeKey(slot, mac);
  let e = fdb.find(key);
  if (e != 0) {
    if (!fdb.entryIsStatic(e)) vnis.setLearnCount(slot, vnis.learnCountOf(slot) - 1);
    fdb.setEntry(e, target, fdb.STATIC);
    return OK;
  }
  // Static entries may use the whole load limit: the control plane's word beats learning.
  return fdb.insert(key, target, fdb.STATIC) != 0 ? OK : E_FULL;
}

/** Removes the entry of the MAC at args[ARGS_ADDRESS..+6). Returns OK. Codes: E_NOT_FOUND (no
 *  such VNI, or no entry for the MAC). */
export function fdbRemove(vni: u32): i32 {
  let slot = vniSlot(vni);
  if (slot < 0) return E_NOT_FOUND;
  let e = fdb.find(fdb.makeKey(slot, macKey(L.argsPtr)));
  if (e == 0) return E_NOT_FOUND;
  if (!fdb.entryIsStatic(e)) vnis.setLearnCount(slot, vnis.learnCountOf(slot) - 1);
  fdb.removeAt(e);
  return OK;
}

/** Removes a VNI's entries (learned only, or all); returns how many. Codes: E_NOT_FOUND (no such
 *  VNI). */
export function fdbFlush(vni: u32, learnedOnly: bool): i32 {
  let slot = vniSlot(vni);
  if (slot < 0) return E_NOT_FOUND;
  return <i32>flushWhere(slot, 0, false, learnedOnly);
}

/**
 * Ages out learned entries, scanning at most `budget` buckets from where the last call stopped,
 * so a large table never stalls a burst. Returns the number removed (0 before init); never a
 * negative code.
 */
export function fdbAge(now: u32, budget: u32): u32 {
  if (!L.initialized) return 0;
  now &= 0x7fffffff;
  let removed: u32 = 0;
  let cap = fdb.mask + 1;
  if (budget > cap) budget = cap;
  for (let n: u32 = 0; n < budget; n++) {
    let e = fdb.bucket(ageCursor);
    let k = fdb.entryKey(e);
    if (k != 0 && !fdb.entryIsStatic(e)) {
      let slot = <i32>(k >>> 48) - 1;
      if (now - fdb.entryStamp(e) > vnis.ageingOf(slot)) {
        fdb.removeAt(e);
        vnis.setLearnCount(slot, vnis.learnCountOf(slot) - 1);
        C.bump(C.block(slot), C.FDB_AGED);
        removed++;
        continue; // look at the same bucket again
      }
    }
    ageCursor = (ageCursor + 1) & fdb.mask;
  }
  return removed;
}

/**
 * Copies up to DUMP_MAX entries from bucket `cursor` on into the dump region; the next cursor is
 * `fdbDumpNext()` (0 when done). `now`: seconds, as process() takes it. Returns the number of
 * records (0 before init); never a code.
 *  record (DUMP_RECORD_LEN, 24 B): vni u32 │ mac[6] │ flags u16 (DUMP_STATIC) │ target u32 │
 *  age u32 (seconds) │ reserved u32
 */
export function fdbDump(cursor: u32, now: u32): u32 {
  if (!L.initialized) return 0;
  now &= 0x7fffffff;
  let n: u32 = 0;
  let i = cursor;
  while (i <= fdb.mask && n < DUMP_MAX) {
    let e = fdb.bucket(i++);
    let k = fdb.entryKey(e);
    if (k == 0) continue;
    let slot = <i32>(k >>> 48) - 1;
    let isStatic = fdb.entryIsStatic(e);
    // Past its ageing time an entry is already a miss for lookups: do not show it either.
    if (!isStatic && now - fdb.entryStamp(e) > vnis.ageingOf(slot)) continue;
    let r = fdb.dumpPtr + <usize>n * DUMP_RECORD_LEN;
    store<u32>(r, vnis.vniOf(slot), DUMP_VNI);
    storeMacKey(r + DUMP_MAC, k & 0xffffffffffff);
    store<u16>(r, isStatic ? <u16>DUMP_STATIC : 0, DUMP_FLAGS);
    store<u32>(r, fdb.entryTarget(e), DUMP_TARGET);
    store<u32>(r, isStatic ? 0 : now - fdb.entryStamp(e), DUMP_AGE);
    store<u32>(r, 0, DUMP_RESERVED);
    n++;
  }
  dumpNext = i > fdb.mask ? 0 : i;
  return n;
}

// The dump region, the next dump cursor, entries in use, the load limit: never a code.
export function fdbDumpRegion(): usize { return fdb.dumpPtr; }
export function fdbDumpNext(): u32 { return dumpNext; }
export function fdbUsed(): u32 { return fdb.used; }
export function fdbCapacity(): u32 { return fdb.loadLimit; }
