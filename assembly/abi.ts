// The core's ABI: every layout, flag, target bit, error code and scratch offset the host sees,
// in one place (VPP keeps its error list in one .def file and pins struct sizes with
// STATIC_ASSERT_SIZEOF). The core's own code imports these; assembly/api/abi_globals.ts exports
// each one as an immutable global of the same name, and the binding (cli/core/abi.ts) compares
// its own constants with those globals when it loads the module, so a copy that drifts fails at
// load (and tests/core/abi_test.ts) instead of misreading memory. Counter indices stay in
// counters.ts (one list, checked by name at build time by build/build.mjs).
//
// Change a value here and in cli/core/abi.ts together; add a field here, export it in
// assembly/api/abi_globals.ts, and name it in cli/core/abi.ts.

// ── RX descriptor (48 B), pipeline/burst.ts draws it ─────────────────────────────────────────
@inline export const RX_DESC_LEN: u32 = 48;
@inline export const RX_PTR: u32 = 0;
@inline export const RX_LEN: u32 = 4;
@inline export const RX_PORT: u32 = 8;
@inline export const RX_PEER_PORT: u32 = 10;
@inline export const RX_VERDICT: u32 = 12;
@inline export const RX_FLAGS: u32 = 14;
@inline export const RX_PEER: u32 = 16;
@inline export const RX_GSO_SIZE: u32 = 32;
/** u8: the outer TOS / traffic class of a PORT_UNDERLAY datagram, whose ECN decapsulation
 *  applies (RFC 6040, pipeline/ecn.ts); 0 when unknown. */
@inline export const RX_TOS: u32 = 34;
/** RX flag: a 10-byte virtio_net_hdr sits just before the frame (a TAP with IFF_VNET_HDR). */
@inline export const RX_VNET_HDR: u16 = 1;

// ── TX entry (32 B), pipeline/tx.ts draws it ─────────────────────────────────────────────────
@inline export const TX_ENTRY_LEN: u32 = 32;
@inline export const TX_PTR: u32 = 0;
@inline export const TX_LEN: u32 = 4;
@inline export const TX_TARGET: u32 = 8;
@inline export const TX_SRC_PORT: u32 = 12;
@inline export const TX_RX_INDEX: u32 = 14;
@inline export const TX_GSO_SIZE: u32 = 16;
@inline export const TX_FLAGS: u32 = 18;
@inline export const TX_VNET: u32 = 20;
/** u8 (remote entries): the outer TOS / traffic class (RFC 6040 ECN of the inner packet). */
@inline export const TX_TOS: u32 = 30;
/** TX flag: the entry's vnet bytes hold a header; without it the host writes a zero one. */
@inline export const TX_HAS_VNET: u16 = 1;
/** TX flag (remote): the inner packet is IPv4 with DF, or IPv6 (`df inherit` sets the outer DF). */
@inline export const TX_INNER_DF: u16 = 2;

// ── targets and ports ────────────────────────────────────────────────────────────────────────
/** A TX/FDB target with this bit set is a remote VTEP id; without it, a local port id. */
@inline export const TARGET_REMOTE: u32 = 0x80000000;
/** Descriptor port numbers at and above this are not local ports but the underlay: a whole
 *  Ethernet/IP/UDP/VXLAN packet (captures); the core fills the descriptor's peer. */
@inline export const PORT_UNDERLAY_ETH: u32 = 0xfffe;
/** Ingress from the UDP socket: the frame starts with the VXLAN header; its sender in peer. */
@inline export const PORT_UNDERLAY: u32 = 0xffff;

// ── vniAdd flags ─────────────────────────────────────────────────────────────────────────────
@inline export const VNI_FLAG_LEARN: u32 = 1;
@inline export const VNI_FLAG_SUPPRESS: u32 = 2;
/** Answer over-MTU packets from local ports with ICMP frag-needed / packet-too-big (pmtu.ts). */
@inline export const VNI_FLAG_PMTU: u32 = 4;
// (Bit 31 is the VNI table's own in-use mark, switch/vni.ts: never a vniAdd flag.)

// ── underlayEmit flags ───────────────────────────────────────────────────────────────────────
/** DF in the outer IPv4 header (`df set`, or `df inherit` over a DF inner packet). */
@inline export const EMIT_DF: u32 = 1;
/** Fill the UDP checksum over IPv4 (the kernel's default `udpcsum`); without it, zero
 *  (`noudpcsum`, which RFC 7348 §5 allows). Over IPv6 the checksum is always filled. */
@inline export const EMIT_UDP_CSUM: u32 = 2;

// ── error codes of control calls (negative; the binding names them in CoreError) ─────────────
@inline export const OK: i32 = 0;
/** The core is not initialised, or already is. */
@inline export const E_STATE: i32 = -1;
@inline export const E_RANGE: i32 = -2;
/** Linear memory cannot grow that far. */
@inline export const E_NO_MEMORY: i32 = -3;
@inline export const E_FULL: i32 = -4;
@inline export const E_NOT_FOUND: i32 = -5;
/** Still in use (a VNI with ports, a port already attached). */
@inline export const E_BUSY: i32 = -6;

// ── FDB dump record (24 B) ───────────────────────────────────────────────────────────────────
//  vni u32 │ mac[6] │ flags u16 (DUMP_STATIC) │ target u32 │ age u32 (seconds) │ reserved u32
@inline export const DUMP_RECORD_LEN: u32 = 24;
@inline export const DUMP_VNI: u32 = 0;
@inline export const DUMP_MAC: u32 = 4;
@inline export const DUMP_FLAGS: u32 = 10;
@inline export const DUMP_TARGET: u32 = 12;
@inline export const DUMP_AGE: u32 = 16;
@inline export const DUMP_RESERVED: u32 = 20;
@inline export const DUMP_STATIC: u16 = 1;
/** Records per fdbDump call. */
@inline export const DUMP_MAX: u32 = 256;

// ── VTEP record (vtepRecord): address[16] │ port u16 ────────────────────────────────────────
@inline export const VTEP_ADDRESS: u32 = 0;
@inline export const VTEP_PORT: u32 = 16;
/** This host's own VTEP addresses localAdd takes (a datagram from one is dropped: self_vtep). */
@inline export const LOCAL_MAX: u32 = 8;

// ── layout region record (layoutRegions): start u32 │ size u32 ───────────────────────────────
@inline export const REGION_RECORD_LEN: u32 = 8;
@inline export const REGION_START: u32 = 0;
@inline export const REGION_SIZE: u32 = 4;

// ── args region (256 B): host ↔ core scratch of control calls, and of the frame path ─────────
@inline export const ARGS_LEN: u32 = 256;
/** vtepAdd / vtepFind / neighAdd / neighRemove / localAdd: the address (IPv4 as
 *  ::ffff:a.b.c.d); fdbAdd / fdbRemove: the MAC; underlayEmit: the local address. */
@inline export const ARGS_ADDRESS: u32 = 0;
/** neighAdd: the MAC; underlayEmit: the destination MAC. */
@inline export const ARGS_MAC: u32 = 16;
/** underlayEmit: the source MAC. */
@inline export const ARGS_SOURCE_MAC: u32 = 22;
/** underlayVni: the outer source address it parsed (16 B). */
@inline export const ARGS_PEER: u32 = 32;
/** Frame-path scratch: an ARP target as a 16-byte key (pipeline/suppress.ts). */
@inline export const ARGS_ARP_KEY: u32 = 128;
/** Frame-path scratch: the virtio_net_hdr of the frame being switched (pipeline/context.ts). */
@inline export const ARGS_VNET: u32 = 192;
