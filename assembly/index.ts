// weft's data-plane core: the exports the host binds to (cli/core/core.ts wraps them).
// Control calls pass addresses and MACs through the `args` region, so only numbers cross.
// Control calls return 0 (OK) or a non-negative result, or one of the negative codes of
// assembly/abi.ts: E_STATE -1, E_RANGE -2, E_NO_MEMORY -3, E_FULL -4, E_NOT_FOUND -5, E_BUSY -6.
// Every export's doc ends with the codes it can return ("Codes: …"), or says "never a code".
// Calls that take a VNI look it up first: before init, and for a VNI not configured, that is
// E_NOT_FOUND. The frame path (process) never returns an error: bad frames are verdicts and
// counters.
//
//  args region (ARGS_LEN, 256 B), by call (offsets named in assembly/abi.ts):
//    vtepAdd / neighAdd / neighRemove: [0..16) address (IPv4 as ::ffff:a.b.c.d)
//    neighAdd: [16..22) MAC         fdbAdd / fdbRemove: [0..6) MAC
//    underlayEmit: [0..16) local address, [16..22) destination MAC, [22..28) source MAC
//    localAdd: [0..16) one of this host's own VTEP addresses
//    underlayVni: [32..48) the outer source address it parsed
//  and, as scratch of the frame path: [128..144) an ARP target as a 16-byte key (suppress.ts),
//  [192..202) the virtio_net_hdr of the frame being switched (pipeline/context.ts).

import * as L from "./layout";
import * as C from "./counters";
import * as fdb from "./switch/fdb";
import * as vnis from "./switch/vni";
import * as vteps from "./switch/vtep";
import * as neigh from "./switch/neigh";
import { layoutPorts, maxPorts, setPortSlot, slotOfPort } from "./switch/port";
import { processBurst, setCoalescing as setGro } from "./pipeline/burst";
import { arenaBase, arenaSize, layoutArena } from "./pipeline/offload";
import { layoutPmtu, replyRegion, replyRegionBytes } from "./pipeline/pmtu";
import * as underlay from "./pipeline/underlay";
import { layoutRecords } from "./pipeline/records";
import * as records from "./pipeline/records";
import { setPortRange as setRange } from "./pipeline/flowhash";
import { VNI_MAX, VXLAN_HEADER_LEN, hasVni, vni as vxlanVni } from "./wire/vxlan";
import { macIsGroup, macKey, storeMacKey } from "./wire/ethernet";

import * as abi from "./abi";
import { DUMP_MAX, DUMP_RESERVED, OK } from "./abi";

// ── the ABI, as immutable globals of the same names (assembly/abi.ts) ──────────────────────
// The binding compares its constants with these when it loads the module (cli/core/abi.ts).
export const RX_DESC_LEN: u32 = abi.RX_DESC_LEN;
export const RX_PTR: u32 = abi.RX_PTR;
export const RX_LEN: u32 = abi.RX_LEN;
export const RX_PORT: u32 = abi.RX_PORT;
export const RX_PEER_PORT: u32 = abi.RX_PEER_PORT;
export const RX_VERDICT: u32 = abi.RX_VERDICT;
export const RX_FLAGS: u32 = abi.RX_FLAGS;
export const RX_PEER: u32 = abi.RX_PEER;
export const RX_GSO_SIZE: u32 = abi.RX_GSO_SIZE;
export const RX_TOS: u32 = abi.RX_TOS;
export const RX_VNET_HDR: u32 = abi.RX_VNET_HDR;
export const TX_ENTRY_LEN: u32 = abi.TX_ENTRY_LEN;
export const TX_PTR: u32 = abi.TX_PTR;
export const TX_LEN: u32 = abi.TX_LEN;
export const TX_TARGET: u32 = abi.TX_TARGET;
export const TX_SRC_PORT: u32 = abi.TX_SRC_PORT;
export const TX_RX_INDEX: u32 = abi.TX_RX_INDEX;
export const TX_GSO_SIZE: u32 = abi.TX_GSO_SIZE;
export const TX_FLAGS: u32 = abi.TX_FLAGS;
export const TX_VNET: u32 = abi.TX_VNET;
export const TX_TOS: u32 = abi.TX_TOS;
export const TX_HAS_VNET: u32 = abi.TX_HAS_VNET;
export const TX_INNER_DF: u32 = abi.TX_INNER_DF;
export const TARGET_REMOTE: u32 = abi.TARGET_REMOTE;
export const PORT_UNDERLAY: u32 = abi.PORT_UNDERLAY;
export const PORT_UNDERLAY_ETH: u32 = abi.PORT_UNDERLAY_ETH;
export const VNI_FLAG_LEARN: u32 = abi.VNI_FLAG_LEARN;
export const VNI_FLAG_SUPPRESS: u32 = abi.VNI_FLAG_SUPPRESS;
export const VNI_FLAG_PMTU: u32 = abi.VNI_FLAG_PMTU;
export const EMIT_DF: u32 = abi.EMIT_DF;
export const EMIT_UDP_CSUM: u32 = abi.EMIT_UDP_CSUM;
export const E_STATE: i32 = abi.E_STATE;
export const E_RANGE: i32 = abi.E_RANGE;
export const E_NO_MEMORY: i32 = abi.E_NO_MEMORY;
export const E_FULL: i32 = abi.E_FULL;
export const E_NOT_FOUND: i32 = abi.E_NOT_FOUND;
export const E_BUSY: i32 = abi.E_BUSY;
export const DUMP_RECORD_LEN: u32 = abi.DUMP_RECORD_LEN;
export const DUMP_VNI: u32 = abi.DUMP_VNI;
export const DUMP_MAC: u32 = abi.DUMP_MAC;
export const DUMP_FLAGS: u32 = abi.DUMP_FLAGS;
export const DUMP_TARGET: u32 = abi.DUMP_TARGET;
export const DUMP_AGE: u32 = abi.DUMP_AGE;
export const DUMP_STATIC: u32 = abi.DUMP_STATIC;
export const VTEP_ADDRESS: u32 = abi.VTEP_ADDRESS;
export const VTEP_PORT: u32 = abi.VTEP_PORT;
export const LOCAL_MAX: u32 = abi.LOCAL_MAX;
export const REGION_RECORD_LEN: u32 = abi.REGION_RECORD_LEN;
export const REGION_START: u32 = abi.REGION_START;
export const REGION_SIZE: u32 = abi.REGION_SIZE;
export const ARGS_LEN: u32 = abi.ARGS_LEN;
export const ARGS_ADDRESS: u32 = abi.ARGS_ADDRESS;
export const ARGS_MAC: u32 = abi.ARGS_MAC;
export const ARGS_SOURCE_MAC: u32 = abi.ARGS_SOURCE_MAC;
export const ARGS_PEER: u32 = abi.ARGS_PEER;
export const HEADROOM: u32 = L.HEADROOM;
export const TAILROOM: u32 = L.TAILROOM;
/** Counters per VNI block (named counters, then one per drop reason, then the late counters
 *  added after the drop reasons), and per port/VTEP. */
export const VNI_COUNTER_COUNT: u32 = C.DROP_BASE;
export const DROP_REASON_COUNT: u32 = C.DROP_REASONS;
export const LATE_COUNTER_COUNT: u32 = C.BLOCK_COUNTERS - C.DROP_BASE - C.DROP_REASONS;
export const LINK_COUNTER_COUNT: u32 = C.LINK_COUNTERS;

let dumpPtr: usize = 0;
let dumpNext: u32 = 0;
let ageCursor: u32 = 0;

/**
 * Lays out all memory. slotSizeLog2: 11 (2 KiB) carries MTU-sized frames, 17 (128 KiB) the
 * 64 KiB super-frames of TAP offloads and UDP GRO; fdbBits: the FDB has 2^fdbBits buckets and
 * holds 7/8 of that; arenaBytes: room per burst for segmented super-frames (0: no offloads).
 * Returns OK. Codes: E_STATE (called twice), E_RANGE (a limit out of range), E_NO_MEMORY (linear
 * memory cannot grow that far).
 */
export function init(
  burst: u32, txEntries: u32, slots: u32, slotSizeLog2: u32,
  maxVnis: u32, ports: u32, maxVteps: u32, fdbBits: u32, neighBits: u32, arenaBytes: u32,
): i32 {
  if (L.initialized) return E_STATE;
  if (burst == 0 || burst > 65535 || slots < burst || txEntries == 0 || slotSizeLog2 < 9 ||
      slotSizeLog2 > 17 || maxVnis == 0 || ports == 0 || ports >= 0xfffe || maxVteps == 0 ||
      maxVteps >= 0x80000000 || fdbBits < 4 || fdbBits > 26 || neighBits < 4 || neighBits > 24) {
    return E_RANGE;
  }
  let ok = L.layoutIo(burst, txEntries, slots, 1 << slotSizeLog2) &&
    C.layoutCounters(maxVnis, ports, maxVteps) &&
    vnis.layoutVnis(maxVnis) && layoutPorts(ports) && vteps.layoutVteps(maxVteps) &&
    neigh.layoutNeigh(neighBits) && fdb.layoutFdb(fdbBits) && layoutArena(arenaBytes) && layoutPmtu();
  dumpPtr = L.allocate(DUMP_MAX * DUMP_RECORD_LEN);
  if (!ok || dumpPtr == 0 || !layoutRecords()) return E_NO_MEMORY;
  L.initialized = true;
  return OK;
}

// Where init put things, and its sizes: pointers and lengths, 0 before init; never a code.
export function args(): usize { return L.argsPtr; }
export function rxDescriptors(): usize { return L.rxPtr; }
export function txList(): usize { return L.txPtr; }
export function slotBase(): usize { return L.slotsPtr; }
export function slotBytes(): u32 { return L.slotSize; }
export function headroom(): u32 { return L.HEADROOM; }
export function tailroom(): u32 { return L.TAILROOM; }
export function counters(): usize { return C.countersPtr; }
export function portCounters(): usize { return C.portCountersPtr; }
export function vtepCounters(): usize { return C.vtepCountersPtr; }
export function counterBlockLength(): u32 { return C.BLOCK_COUNTERS; }
export function memoryUsed(): usize { return L.memoryUsed(); }
/** The regions init laid out, in order: `layoutRegionCount()` records of REGION_RECORD_LEN
 *  bytes (u32 start at REGION_START, u32 size at REGION_SIZE). */
export function layoutRegions(): usize { return L.regionTable; }
export function layoutRegionCount(): u32 { return L.regionCount; }
/** Where segmented super-frames are laid out (TX entries may point there); never a code. */
export function arena(): usize { return arenaBase(); }
export function arenaBytes(): usize { return arenaSize(); }
/** Where ICMP replies to over-MTU frames are built (TX entries may point there); never a code. */
export function pmtuRegion(): usize { return replyRegion(); }
export function pmtuRegionBytes(): u32 { return replyRegionBytes(); }

/** Switches a burst; pipeline/burst.ts draws the RX descriptor, pipeline/tx.ts the TX entry. Returns
 *  the number of TX entries (0 before init); never a negative code. */
export function process(count: u32, now: u32): u32 {
  if (!L.initialized) return 0;
  return processBurst(count, now);
}

// ── switch instances ────────────────────────────────────────────────────────────────────────

/** flags: VNI_FLAG_LEARN, VNI_FLAG_SUPPRESS, VNI_FLAG_PMTU (ICMP replies to over-MTU packets);
 *  mtu: bytes of L3 payload; ageing: seconds. Creates the VNI or updates its settings; returns its
 *  slot (its counter block). VNI 0 is valid. Codes: E_STATE (before init), E_RANGE (above
 *  VNI_MAX, MTU below 68 or too large for a slot), E_FULL (maxVnis configured already). */
export function vniAdd(vni: u32, mtu: u32, learnMax: u32, ageing: u32, flags: u32): i32 {
  if (!L.initialized) return E_STATE;
  // VNI 0 is valid (RFC 7348 §5 reserves none; the kernel takes `id 0`).
  if (vni > VNI_MAX || mtu < 68 || mtu + 14 + 4 + 8 + L.HEADROOM + L.TAILROOM > L.slotSize) {
    return E_RANGE;
  }
  let slot = vnis.addVni(vni, mtu, learnMax, ageing, flags);
  return slot < 0 ? E_FULL : slot;
}

/** The VNI's slot; -1 when it is not configured. Codes: E_STATE (before init). */
export function vniSlot(vni: u32): i32 {
  return L.initialized ? vnis.slotOf(vni) : E_STATE;
}

/** Removes a VNI with no local ports left, its FDB and neighbour entries and its counters.
 *  Returns OK. Codes: E_NOT_FOUND (no such VNI), E_BUSY (ports still attached). */
export function vniRemove(vni: u32): i32 {
  let slot = vniSlot(vni);
  if (slot < 0) return E_NOT_FOUND;
  if (vnis.portCount(slot) != 0) return E_BUSY;
  flushWhere(slot, 0, false, false);
  neigh.flushSlot(slot);
  vnis.clearVni(slot);
  memory.fill(C.block(slot), 0, C.BLOCK_BYTES);
  return OK;
}

/** Attaches local port `port` to a VNI. Returns OK. Codes: E_NOT_FOUND (no such VNI), E_RANGE
 *  (port ≥ maxPorts), E_BUSY (attached already), E_FULL (the VNI's port list is full). */
export function portAttach(port: u32, vni: u32): i32 {
  let slot = vniSlot(vni);
  if (slot < 0) return E_NOT_FOUND;
  if (port >= maxPorts) return E_RANGE;
  if (slotOfPort(port) >= 0) return E_BUSY;
  if (!vnis.addPort(slot, port)) return E_FULL;
  setPortSlot(port, slot);
  memory.fill(C.portCountersPtr + <usize>port * C.LINK_BYTES, 0, C.LINK_BYTES);
  return OK;
}

/** Detaches a port and forgets every MAC learned (or configured) behind it. Returns OK. Codes:
 *  E_RANGE (before init, or port ≥ maxPorts), E_NOT_FOUND (not attached). */
export function portDetach(port: u32): i32 {
  if (!L.initialized || port >= maxPorts) return E_RANGE;
  let slot = slotOfPort(port);
  if (slot < 0) return E_NOT_FOUND;
  vnis.removePort(slot, port);
  setPortSlot(port, -1);
  flushWhere(slot, port, true, false);
  return OK;
}

// ── remote VTEPs ────────────────────────────────────────────────────────────────────────────

/** A configured VTEP at args[ARGS_ADDRESS..+16) and UDP `port`; returns its id (an existing
 *  one's if known). Codes: E_STATE (before init), E_FULL (maxVteps known already). */
export function vtepAdd(port: u32): i32 {
  if (!L.initialized) return E_STATE;
  let id = vteps.add(L.argsPtr, <u16>port, vteps.VTEP_STATIC);
  return id < 0 ? E_FULL : id;
}

/** Id of the VTEP at args[ARGS_ADDRESS..+16); -1 when unknown. Codes: E_STATE (before init). */
export function vtepFind(): i32 {
  return L.initialized ? vteps.find(L.argsPtr) : E_STATE;
}

/** Address of a VTEP's record: address (16 B) at VTEP_ADDRESS, port (u16) at VTEP_PORT; 0
 *  when there is no such VTEP; never a code. */
export function vtepRecord(id: u32): usize {
  return id < vteps.vtepCount ? vteps.record(id) : 0;
}

/** VTEPs known (configured or learned): ids 0 .. vtepCount() - 1; never a code. */
export function vtepCount(): u32 { return vteps.vtepCount; }

/**
 * One of this host's own VTEP addresses (args[ARGS_ADDRESS..+16)): datagrams from it are dropped
 * and counted (self_vtep), never learned from. Returns OK. Codes: E_STATE (before init), E_FULL
 * (past LOCAL_MAX).
 */
export function localAdd(): i32 {
  if (!L.initialized) return E_STATE;
  return vteps.addLocal(L.argsPtr + ARGS_ADDRESS) ? OK : E_FULL;
}

/** Puts VTEP `vtep` on a VNI's flood list (head-end replication). Returns OK. Codes: E_NOT_FOUND
 *  (no such VNI), E_RANGE (no such VTEP), E_FULL (MAX_FLOOD_PER_VNI on the list). */
export function floodAdd(vni: u32, vtep: u32): i32 {
  let slot = vniSlot(vni);
  if (slot < 0) return E_NOT_FOUND;
  if (vtep >= vteps.vtepCount) return E_RANGE;
  return vnis.addFlood(slot, vtep) ? OK : E_FULL;
}

/** Takes VTEP `vtep` off a VNI's flood list. Returns OK. Codes: E_NOT_FOUND (no such VNI, or the
 *  VTEP is not on its list). */
export function floodRemove(vni: u32, vtep: u32): i32 {
  let slot = vniSlot(vni);
  if (slot < 0) return E_NOT_FOUND;
  return vnis.removeFlood(slot, vtep) ? OK : E_NOT_FOUND;
}

/** A VTEP gone from a VNI: out of its flood list, and every MAC behind it forgotten. Returns
 *  how many entries went. Codes: E_NOT_FOUND (no such VNI). */
export function vtepForget(vni: u32, vtep: u32): i32 {
  let slot = vniSlot(vni);
  if (slot < 0) return E_NOT_FOUND;
  vnis.removeFlood(slot, vtep);
  return <i32>flushWhere(slot, fdb.TARGET_REMOTE | vtep, true, false);
}

// ── FDB ─────────────────────────────────────────────────────────────────────────────────────

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

/** Removes a VNI's entries (all, or those pointing at `target`; learned only, or also static). */
function flushWhere(slot: i32, target: u32, byTarget: bool, learnedOnly: bool): u32 {
  let removed: u32 = 0;
  let tag = <u64>(slot + 1) << 48;
  let i: u32 = 0;
  while (i <= fdb.mask) {
    let e = fdb.bucket(i);
    let k = fdb.entryKey(e);
    if (k != 0 && (k & 0xffff000000000000) == tag &&
        (!byTarget || fdb.entryTarget(e) == target) && !(learnedOnly && fdb.entryIsStatic(e))) {
      if (!fdb.entryIsStatic(e)) vnis.setLearnCount(slot, vnis.learnCountOf(slot) - 1);
      fdb.removeAt(e);
      removed++;
      continue; // the backward shift may have moved another entry into bucket i
    }
    i++;
  }
  return removed;
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
    let r = dumpPtr + <usize>n * DUMP_RECORD_LEN;
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
export function fdbDumpRegion(): usize { return dumpPtr; }
export function fdbDumpNext(): u32 { return dumpNext; }
export function fdbUsed(): u32 { return fdb.used; }
export function fdbCapacity(): u32 { return fdb.loadLimit; }

// ── neighbours (ARP/ND suppression) ─────────────────────────────────────────────────────────

/** IP at args[ARGS_ADDRESS..+16) → MAC at args[ARGS_MAC..+6). Returns OK. Codes: E_NOT_FOUND
 *  (no such VNI), E_FULL (the neighbour table is 7/8 full). */
export function neighAdd(vni: u32): i32 {
  let slot = vniSlot(vni);
  if (slot < 0) return E_NOT_FOUND;
  return neigh.put(slot, L.argsPtr + ARGS_ADDRESS, L.argsPtr + ARGS_MAC) ? OK : E_FULL;
}

/** Removes the IP at args[ARGS_ADDRESS..+16). Returns OK. Codes: E_NOT_FOUND (no such VNI, or
 *  no entry for the IP). */
export function neighRemove(vni: u32): i32 {
  let slot = vniSlot(vni);
  if (slot < 0) return E_NOT_FOUND;
  return neigh.remove(slot, L.argsPtr) ? OK : E_NOT_FOUND;
}

// ── underlay, for captures and tests ────────────────────────────────────────────────────────

/** The UDP port underlayVni/PORT_UNDERLAY_ETH take as VXLAN (default VXLAN_PORT, 4789) and
 *  learned VTEPs are sent to; returns nothing. */
export function setVxlanPort(port: u32): void { underlay.setVxlanPort(<u16>port); }

/** Merge decapsulated TCP segments into super-frames: only when every TAP has IFF_VNET_HDR.
 *  Returns nothing. */
export function setCoalescing(on: u32): void { setGro(on != 0); }

/** The UDP source ports [min, max) the flow hash maps into. Returns OK. Codes: E_RANGE (min 0,
 *  min ≥ max, or max above 65536). */
export function setSourcePortRange(min: u32, max: u32): i32 {
  if (min == 0 || min >= max || max > 65536) return E_RANGE;
  setRange(min, max);
  return OK;
}

/** VNI of an outer Ethernet/IP/UDP/VXLAN packet (peer address → args[ARGS_PEER..+16)), or
 *  -1 when it is not one (not an error code: no state is involved). */
export function underlayVni(ptr: usize, len: u32): i32 {
  let dg = records.datagram;
  if (underlay.parse(ptr, len, L.argsPtr + ARGS_PEER, dg) != underlay.UNDERLAY_OK) return -1;
  if (dg.len < VXLAN_HEADER_LEN) return -1; // the VNI is all it reads: no inner frame needed
  let p = ptr + dg.offset;
  return hasVni(p) ? <i32>vxlanVni(p) : -1;
}

/**
 * Wraps the VXLAN datagram of a TX entry in Ethernet/IP/UDP, in its headroom; returns the new
 * start (the length grows by the difference), or 0 when the VTEP or pointer is bad (never a
 * code). Local
 * address at args[ARGS_ADDRESS], destination MAC at args[ARGS_MAC], source MAC at
 * args[ARGS_SOURCE_MAC]; `tos` is the entry's outer TOS (TX_TOS), `flags` EMIT_DF | EMIT_UDP_CSUM.
 */
export function underlayEmit(ptr: usize, len: u32, vtep: u32, sport: u32, tos: u32, flags: u32): usize {
  if (vtep >= vteps.vtepCount || !L.initialized) return 0;
  let base = (ptr - L.slotsPtr) & ~(<usize>L.slotSize - 1);
  if (ptr < L.slotsPtr || ptr >= L.slotsEnd || ptr - L.slotsPtr - base < 70) return 0;
  return underlay.emit(ptr, len, vtep, L.argsPtr + ARGS_ADDRESS, <u16>sport, L.argsPtr + ARGS_MAC, <u8>tos, flags);
}
