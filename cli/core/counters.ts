// Counter names, in the order of assembly/counters.ts (npm run build stops when the two lists
// differ; the core's block lengths are checked when it loads). The core's blocks are u64 arrays.
// A new counter goes at the end of its list here and in assembly/counters.ts: a new VNI-block
// counter at the end of LATE_COUNTERS (after the drop reasons, so the block only grows at its
// end), a new drop reason at the end of DROP_REASONS.

/** Named counters of a VNI block (frames, bytes, events), in the core's order; the drop
 *  reasons follow them in the block, then LATE_COUNTERS. As `weft stats` prints them. */
export const VNI_COUNTERS = [
  "rx_frames",
  "rx_bytes",
  "tx_frames",
  "tx_bytes",
  "encap",
  "decap",
  "flood",
  "fdb_hit",
  "fdb_miss",
  "fdb_learn",
  "fdb_move",
  "fdb_learn_limit",
  "fdb_aged",
  "vtep_learn_full",
  "arp_reply",
  "nd_reply",
  "gso_frames",
  "gso_segments",
  "gro_merged",
  "drops",
] as const;

/** Drop reasons; a descriptor's verdict is the index + 1. Descriptions say what happened. */
export const DROP_REASONS = [
  ["bad_descriptor", "descriptor points outside the frame slots"],
  ["runt", "frame shorter than an Ethernet header"],
  ["over_mtu", "inner frame larger than the network MTU + Ethernet header"],
  ["vxlan_runt", "datagram shorter than VXLAN + Ethernet headers"],
  ["vxlan_bad_flags", "VXLAN header without the I flag"],
  ["unknown_vni", "VNI not configured on this host"],
  ["unknown_port", "ingress port not attached to a network"],
  ["bad_source_mac", "multicast or all-zero source MAC"],
  ["same_port", "destination MAC sits behind the ingress port"],
  ["split_horizon", "frame from a VTEP addressed to another VTEP"],
  ["no_recipient", "flood with no port or VTEP to send to"],
  ["underlay_malformed", "outer Ethernet/IP/UDP header malformed"],
  ["not_vxlan", "outer packet is not UDP to the VXLAN port"],
  ["tx_full", "egress list full for this burst"],
  ["bad_vnet_hdr", "virtio-net header does not fit the frame"],
  ["arena_full", "no room left this burst to segment a super-frame"],
  ["self_vtep", "datagram from one of this host's own VTEP addresses"],
  ["ecn_not_ect", "outer ECN CE over a Not-ECT inner packet (RFC 6040 §4.2)"],
] as const;

/** Counters the core keeps after the drop reasons, in its order (the block grows at its end). */
export const LATE_COUNTERS = [
  /** ICMP frag-needed / packet-too-big replies sent for over_mtu frames from local ports. */
  "pmtu_icmp",
  /** Replies that were due but the rate limit (or the burst's room) held back. */
  "pmtu_icmp_limited",
  /** Inner packets marked CE because the outer header arrived CE (RFC 6040 §4.2). */
  "ecn_ce_marked",
] as const;

/** A drop reason's name: "runt", "unknown_vni", … */
export type DropReason = typeof DROP_REASONS[number][0];

/** The descriptor verdict of a drop reason (its index + 1); 0 for a name not in DROP_REASONS. */
export function verdictOf(reason: DropReason): number {
  return DROP_REASONS.findIndex(([n]) => n === reason) + 1;
}

/** Counters of a port or VTEP block, in the core's order. */
export const LINK_COUNTERS = ["rx_frames", "rx_bytes", "tx_frames", "tx_bytes", "drops"] as const;

/** A VNI block read out: each named counter (late ones included), and `dropped` by reason
 *  (frames). */
export type VniCounters = Record<typeof VNI_COUNTERS[number] | typeof LATE_COUNTERS[number], number> & {
  dropped: Record<DropReason, number>;
};
/** A port or VTEP block read out (frames and bytes). */
export type LinkCounters = Record<typeof LINK_COUNTERS[number], number>;

/** Reads the VNI block that starts at u64 index `start` of `view` (the core's memory). */
export function readVniBlock(view: BigUint64Array, start: number): VniCounters {
  const out = {} as VniCounters;
  VNI_COUNTERS.forEach((name, i) => (out[name] = Number(view[start + i])));
  const dropped = {} as Record<DropReason, number>;
  DROP_REASONS.forEach(([name], i) => (dropped[name] = Number(view[start + VNI_COUNTERS.length + i])));
  out.dropped = dropped;
  const late = start + VNI_COUNTERS.length + DROP_REASONS.length;
  LATE_COUNTERS.forEach((name, i) => (out[name] = Number(view[late + i])));
  return out;
}

/** Reads the port/VTEP block that starts at u64 index `start` of `view`. */
export function readLinkBlock(view: BigUint64Array, start: number): LinkCounters {
  const out = {} as LinkCounters;
  LINK_COUNTERS.forEach((name, i) => (out[name] = Number(view[start + i])));
  return out;
}
