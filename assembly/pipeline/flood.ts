// BUM traffic (broadcast, unknown unicast, multicast): every local port of the VNI but the
// ingress, and from a local port also every VTEP of the VNI's flood list (head-end replication,
// RFC 7348 §4.2 without multicast), all copies sharing the frame's bytes.

import * as C from "../counters";
import { VXLAN_HEADER_LEN } from "../wire/vxlan";
import { TARGET_REMOTE } from "../abi";
import * as vnis from "../switch/vni";
import * as records from "./records";
import { flowHash, sourcePort } from "./flowhash";
import * as ecn from "./ecn";
import * as ctx from "./context";
import { emitTx } from "./tx";
import { cut, emitSegments, encapsulate, tooBig } from "./forward";
import { FORWARDED, drop, dropCounted } from "./verdict";

/** flood()'s `ingress` for a frame that came over the tunnel: no local port to skip, no VTEP
 *  to send to (split horizon). */
@inline export const FROM_REMOTE: u32 = 0xffffffff;

/**
 * Floods the frame of VNI `slot` (counter block `blk`) that came in on local port `ingress` or
 * FROM_REMOTE; a verdict. Copies that found no TX entry, or a super-frame that could not be cut,
 * are counted per copy even when others went out.
 */
export function flood(slot: i32, blk: usize, frame: usize, len: u32, ingress: u32, index: u32): u32 {
  C.bump(blk, C.FLOOD);
  let sent: u32 = 0;
  let lost: u32 = 0; // copies with no TX entry left
  let encapCopies: u32 = 0;
  let failed: u32 = 0; // why remote copies of a super-frame could not be cut, if they could not
  let cutLost = false; // a remote copy of a super-frame lost datagrams (counted as they were lost)
  let ports = vnis.portCount(slot);
  for (let i: u32 = 0; i < ports; i++) {
    let port = vnis.portAt(slot, i);
    if (port == ingress) continue;
    if (!emitTx(frame, len, port, 0, index)) { lost++; continue; }
    sent++;
    C.bumpLink(C.portCountersPtr, port, C.LINK_TX_FRAMES);
    C.bumpLink(C.portCountersPtr, port, C.LINK_TX_BYTES, len);
  }
  let plainCopies = sent; // the VNI's TX counters for these are bumped once, below
  let remotes: u32 = ingress == FROM_REMOTE ? 0 : vnis.floodCount(slot);
  if (remotes != 0) ctx.txOuter = ecn.encapInfo(frame, len);
  if (remotes != 0 && ctx.vnet != 0) {
    // One cut serves every VTEP: their TX entries share the arena's datagrams.
    failed = cut(slot, frame, len);
    if (failed == C.DROP_OVER_MTU) tooBig(slot, blk, frame, len, index);
    if (failed == 0) {
      let sport = sourcePort(flowHash(frame, len));
      for (let i: u32 = 0; i < remotes; i++) {
        let target = TARGET_REMOTE | vnis.floodAt(slot, i);
        let lostHere = emitSegments(slot, blk, target, sport, index);
        if (lostHere < records.segments.count) sent++;
        if (lostHere != 0) cutLost = true;
      }
    }
  } else if (remotes != 0) {
    let p = encapsulate(slot, frame);
    let sport = sourcePort(flowHash(frame, len));
    let dlen = len + VXLAN_HEADER_LEN;
    for (let i: u32 = 0; i < remotes; i++) {
      let vtep = vnis.floodAt(slot, i);
      if (!emitTx(p, dlen, TARGET_REMOTE | vtep, sport, index)) { lost++; continue; }
      sent++;
      plainCopies++;
      encapCopies++;
      C.bumpLink(C.vtepCountersPtr, vtep, C.LINK_TX_FRAMES);
      C.bumpLink(C.vtepCountersPtr, vtep, C.LINK_TX_BYTES, dlen);
    }
  }
  if (plainCopies != 0) {
    C.bump(blk, C.TX_FRAMES, plainCopies);
    C.bump(blk, C.TX_BYTES, <u64>plainCopies * len);
    if (encapCopies != 0) C.bump(blk, C.ENCAP, encapCopies);
  }
  if (sent == 0) {
    // Datagrams of a cut copy were counted one by one as they were lost.
    if (failed == 0 && lost == 0 && cutLost) return dropCounted(slot, C.DROP_TX_FULL);
    return drop(slot, failed != 0 ? failed : lost != 0 ? C.DROP_TX_FULL : C.DROP_NO_RECIPIENT);
  }
  // Some copies went out; the ones that did not still count, per copy.
  if (lost != 0) C.bump(blk, C.DROP_BASE + C.DROP_TX_FULL, lost);
  if (failed != 0) C.bump(blk, C.DROP_BASE + failed, remotes);
  return FORWARDED;
}
