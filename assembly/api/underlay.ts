// Control calls for the underlay side: the VXLAN port, GRO, the source-port range, and the
// whole-packet helpers captures and tests use. assembly/index.ts re-exports them.

import * as L from "../layout";
import * as vteps from "../switch/vtep";
import { setCoalescing as setGro } from "../pipeline/burst";
import * as underlay from "../pipeline/underlay";
import * as records from "../pipeline/records";
import { setPortRange as setRange } from "../pipeline/flowhash";
import { VXLAN_HEADER_LEN, hasVni, vni as vxlanVni } from "../wire/vxlan";
import { ARGS_ADDRESS, ARGS_MAC, ARGS_PEER } from "../abi";
import { E_RANGE, OK } from "../abi";


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
