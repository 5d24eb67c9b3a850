// Run counters: a burst holds runs of frames from one TAP and of frames to one VTEP, so the
// counters of the common paths add up in registers and reach memory once per run (VPP bumps its
// node counters once per vector for the same reason). flushRuns() at the end of every burst.

import * as C from "../counters";
import { TARGET_REMOTE } from "../abi";
import { VXLAN_HEADER_LEN } from "../wire/vxlan";

@inline const NO_RUN: u32 = 0xffffffff;

let rxRunPort: u32 = NO_RUN;
let rxRunBlk: usize = 0;
let rxRunFrames: u64 = 0;
let rxRunBytes: u64 = 0;
let rxRunHits: u64 = 0;
let txRunTarget: u32 = 0;
let txRunBlk: usize = 0;
let txRunFrames: u64 = 0;
let txRunBytes: u64 = 0;

/** One frame of `len` bytes received on local `port`, whose VNI's counter block is `blk`. */
@inline export function countLocalRx(port: u32, blk: usize, len: u32): void {
  if (port != rxRunPort) {
    flushRxRun();
    rxRunPort = port;
    rxRunBlk = blk;
  }
  rxRunFrames++;
  rxRunBytes += len;
}

/** An FDB hit for the frame countLocalRx() counted last (the run's VNI is this frame's: a port
 *  belongs to one VNI). */
@inline export function countLocalHit(): void { rxRunHits++; }

function flushRxRun(): void {
  if (rxRunFrames == 0) return;
  C.bump(rxRunBlk, C.RX_FRAMES, rxRunFrames);
  C.bump(rxRunBlk, C.RX_BYTES, rxRunBytes);
  C.bumpLink(C.portCountersPtr, rxRunPort, C.LINK_RX_FRAMES, rxRunFrames);
  C.bumpLink(C.portCountersPtr, rxRunPort, C.LINK_RX_BYTES, rxRunBytes);
  if (rxRunHits != 0) C.bump(rxRunBlk, C.FDB_HIT, rxRunHits);
  rxRunFrames = 0;
  rxRunBytes = 0;
  rxRunHits = 0;
}

/** One inner frame of `len` encapsulated to the VTEP in `target`. */
@inline export function countRemoteTx(blk: usize, target: u32, len: u32): void {
  if (target != txRunTarget || blk != txRunBlk) {
    flushTxRun();
    txRunTarget = target;
    txRunBlk = blk;
  }
  txRunFrames++;
  txRunBytes += len;
}

function flushTxRun(): void {
  if (txRunFrames == 0) return;
  C.bump(txRunBlk, C.TX_FRAMES, txRunFrames);
  C.bump(txRunBlk, C.TX_BYTES, txRunBytes);
  C.bump(txRunBlk, C.ENCAP, txRunFrames);
  let vtep = txRunTarget & ~TARGET_REMOTE;
  C.bumpLink(C.vtepCountersPtr, vtep, C.LINK_TX_FRAMES, txRunFrames);
  C.bumpLink(C.vtepCountersPtr, vtep, C.LINK_TX_BYTES, txRunBytes + txRunFrames * VXLAN_HEADER_LEN);
  txRunFrames = 0;
  txRunBytes = 0;
}

/** Writes both runs to memory; the next burst starts with no run. */
export function flushRuns(): void {
  flushRxRun();
  flushTxRun();
  rxRunPort = NO_RUN;
}
