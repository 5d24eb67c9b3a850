// Control calls for the switch instances: VNIs, their local ports, remote VTEPs, flood lists and
// the neighbour table of ARP/ND suppression. assembly/index.ts re-exports them.

import * as L from "../layout";
import * as C from "../counters";
import * as fdb from "../switch/fdb";
import * as vnis from "../switch/vni";
import * as vteps from "../switch/vtep";
import * as neigh from "../switch/neigh";
import { maxPorts, setPortSlot, slotOfPort } from "../switch/port";
import { flushWhere } from "../switch/learn";
import { VNI_MAX } from "../wire/vxlan";
import { ARGS_ADDRESS, ARGS_MAC } from "../abi";
import { E_BUSY, E_FULL, E_NOT_FOUND, E_RANGE, E_STATE, OK } from "../abi";


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

// Remote VTEPs and flood lists.

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

// The neighbour table (ARP/ND suppression, pipeline/suppress.ts).


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
