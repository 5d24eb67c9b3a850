// A frame's verdict, as the RX descriptor carries it: FORWARDED, or its drop reason + 1, with
// the drop counted (VPP's errors are counters with names, never exceptions).

import * as C from "../counters";

/** At least one TX entry was written for the frame. */
@inline export const FORWARDED: u32 = 0;

/** Counts a dropped frame against its VNI (or the global block) and returns the verdict. */
export function drop(slot: i32, reason: u32): u32 {
  let blk = C.block(slot);
  C.bump(blk, C.DROPS);
  C.bump(blk, C.DROP_BASE + reason);
  return reason + 1;
}

/** drop() for a frame whose losses were already counted under `reason`, per datagram. */
export function dropCounted(slot: i32, reason: u32): u32 {
  C.bump(C.block(slot), C.DROPS);
  return reason + 1;
}

/** drop() for a frame from local `port`, also counted on the port's link counters. */
export function dropOnPort(slot: i32, port: u32, reason: u32): u32 {
  C.bumpLink(C.portCountersPtr, port, C.LINK_DROPS);
  return drop(slot, reason);
}
