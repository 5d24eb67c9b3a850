// What a core instance is created with (CoreConfig, fixed by init()) and what each VNI's switch
// is given (VniOptions), with the defaults the daemon and `weft vtep` start from.
// No runtime APIs: bundled for Node and browsers with the rest of cli/core/.

/**
 * Limits of one core instance, fixed at creation: init() lays out all linear memory from them
 * and never grows it afterwards. Ranges are the core's (assembly/index.ts init); a value
 * outside them fails creation with CoreError E_RANGE (-2).
 */
export interface CoreConfig {
  /** Frames per burst (RX descriptors), 1..65535. DPDK/OVS bursts are 32; weft uses 64. */
  burst: number;
  /** TX entries per burst, ≥ 1; a flood takes one per recipient. */
  txEntries: number;
  /** Frame slots; at least `burst`. */
  slots: number;
  /** log2 of the slot size in bytes, 9..17: 11 = 2 KiB, room for MTU-sized frames; 17 = 128 KiB
   *  for 64 KiB super-frames (OFFLOAD_CONFIG). */
  slotSizeLog2: number;
  /** VNIs (switch instances) at once, ≥ 1. */
  maxVnis: number;
  /** Local port ids 0..maxPorts-1, 1..65533 (0xfffe and up are PORT_UNDERLAY_ETH/PORT_UNDERLAY). */
  maxPorts: number;
  /** Remote VTEPs (configured and learned), 1..2^31-1. */
  maxVteps: number;
  /** The FDB has 2^fdbBits buckets (4..26) of 16 bytes and holds 7/8 of them. */
  fdbBits: number;
  /** The ARP/ND neighbour table has 2^neighBits buckets (4..24). */
  neighBits: number;
  /** Bytes per burst for segmenting super-frames (TAP offloads); 0 disables them. */
  arenaBytes: number;
}

/** Limits of createCore/loadCore when none are given: 64-frame bursts, 2 KiB slots, a 2^16-bucket
 *  FDB (57,344 MACs), no offload arena. The daemon and `weft vtep` use these or OFFLOAD_CONFIG. */
export const DEFAULT_CONFIG: CoreConfig = {
  burst: 64,
  txEntries: 4096,
  slots: 64,
  slotSizeLog2: 11,
  maxVnis: 64,
  maxPorts: 256,
  maxVteps: 1024,
  fdbBits: 16,
  neighBits: 12,
  arenaBytes: 0,
};

/** Limits for a data plane with TAP offloads and UDP GSO/GRO: 64 KiB super-frames in 128 KiB
 *  slots, and an arena where a burst of them can be cut into MTU-sized datagrams. */
export const OFFLOAD_CONFIG: Partial<CoreConfig> = {
  slotSizeLog2: 17,
  arenaBytes: 64 * 72 * 1024,
};

/** Options of one VNI's switch (WeftCore.addVni); every field is optional. */
export interface VniOptions {
  /** Largest L3 payload of an inner frame, bytes, ≥ 68 (default DEFAULT_MTU, Docker's overlay
   *  1450); larger frames are dropped as over_mtu. Must fit a slot with the VXLAN overhead. */
  mtu?: number;
  /** Most learned MACs in this VNI (default DEFAULT_LEARN_MAX: no limit); learning stops there,
   *  forwarding does not (VPP's learn limit), counted as fdb_learn_limit. */
  learnMax?: number;
  /** Seconds a learned entry lives without traffic (default DEFAULT_AGEING, Linux vxlan's 300). */
  ageing?: number;
  /** Learn source MACs, as the kernel's vxlan_snoop (default true). */
  learning?: boolean;
  /** Answer ARP/ND for addresses in the neighbour table instead of flooding (default true). */
  suppress?: boolean;
  /** Answer an over-MTU packet from a local port with ICMP frag-needed / packet-too-big
   *  (default true, as the kernel's VXLAN on a bridge: skb_tunnel_check_pmtu). */
  pmtu?: boolean;
}

/**
 * The kernel's VXLAN `df` choices (IFLA_VXLAN_DF): unset (outer DF 0, its default), set (DF 1),
 * inherit (DF when the inner packet is IPv4 with DF, or IPv6: vxlan_xmit_one()).
 */
export type DfMode = "unset" | "set" | "inherit";
/** Every DfMode, as `weft vtep --df` takes them. */
export const DF_MODES: readonly DfMode[] = ["unset", "set", "inherit"];
/** The kernel's default: outer DF = 0, as every packet of fixture kernel-vxlan-vni42 shows. */
export const DF_DEFAULT: DfMode = "unset";
