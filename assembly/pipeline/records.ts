// The frame path's parse results and GRO state, as records in linear memory passed by pointer
// (wireguard-go passes its GRO table the same way), not module globals: a record names the frame
// it describes at every call. One region, laid out by init; the core's region table lists it, so
// the property tests (tests/core/memory.ts) see every byte written here.
//
//  pipeline records (each record 8-byte aligned, sizes from offsetof)
//  ┌──────────────────┬───────────────────┬──────────────────┬──────────────────┐
//  │ l4: L4Info       │ segments: Segments │ gro: GroHead     │ datagram: Datagram│
//  │ (offload.ts)     │ (offload.ts)       │ (coalesce.ts)    │ (underlay.ts)    │
//  └──────────────────┴───────────────────┴──────────────────┴──────────────────┘

import { allocate } from "../layout";
import { L4Info, Segments } from "./offload";
import { GroHead } from "./coalesce";
import { Datagram } from "./underlay";

// Each record starts 8-byte aligned: offsetof<T>() is its size, rounded up.
@inline const L4_AT: usize = 0;
@inline const SEGMENTS_AT: usize = L4_AT + ((offsetof<L4Info>() + 7) & ~7);
@inline const GRO_AT: usize = SEGMENTS_AT + ((offsetof<Segments>() + 7) & ~7);
@inline const DATAGRAM_AT: usize = GRO_AT + ((offsetof<GroHead>() + 7) & ~7);
@inline const RECORDS_LEN: usize = DATAGRAM_AT + ((offsetof<Datagram>() + 7) & ~7);

/** The parse of the frame being switched (offload paths: segmentation, checksum completion). */
export let l4 = changetype<L4Info>(0);
/** Where cut() laid out the datagrams of the current super-frame. */
export let segments = changetype<Segments>(0);
/** The open super-frame of GRO within one UDP GRO buffer. */
export let gro = changetype<GroHead>(0);
/** A whole underlay packet's VXLAN datagram (PORT_UNDERLAY_ETH, underlayVni). */
export let datagram = changetype<Datagram>(0);

export function layoutRecords(): bool {
  let p = allocate(RECORDS_LEN);
  if (p == 0) return false;
  l4 = changetype<L4Info>(p + L4_AT);
  segments = changetype<Segments>(p + SEGMENTS_AT);
  gro = changetype<GroHead>(p + GRO_AT);
  datagram = changetype<Datagram>(p + DATAGRAM_AT);
  return true;
}
