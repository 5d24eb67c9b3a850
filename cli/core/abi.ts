// The host's side of the core's ABI (assembly/abi.ts is the source). The core exports every
// value below as an immutable global of the same name; `checkAbi` compares them when the binding
// loads the module (WeftCore.create/createSync), so a layout, flag or error code that drifts
// between the two fails at load with the names that differ, never as misread memory (VPP pins
// its structs with STATIC_ASSERT_SIZEOF for the same reason). Counter order is checked by name
// at build time (build/build.mjs with build/counters_check.mjs against assembly/counters.ts) and
// by count here: named, drop-reason, late and link counters.

import { DROP_REASONS, LATE_COUNTERS, LINK_COUNTERS, VNI_COUNTERS } from "./counters.ts";

/** Bytes per RX descriptor (assembly/abi.ts; assembly/pipeline/burst.ts draws the layout). */
export const RX_DESC_LEN = 48;
/** Bytes per TX entry. */
export const TX_ENTRY_LEN = 32;
/** Field offsets of an RX descriptor, in bytes; all fields little-endian. */
export const RX = {
  /** u32: address of the frame's first byte, at least HEADROOM into a slot. */
  PTR: 0,
  /** u32: frame length in bytes. */
  LEN: 4,
  /** u16: local port id, PORT_UNDERLAY or PORT_UNDERLAY_ETH. */
  PORT: 8,
  /** u16: the sender's UDP port (PORT_UNDERLAY; the core fills it for PORT_UNDERLAY_ETH). */
  PEER_PORT: 10,
  /** u16, written by the core: 0 forwarded, else drop reason index + 1. */
  VERDICT: 12,
  /** u16: RX_VNET_HDR. */
  FLAGS: 14,
  /** 16 bytes: the sender's address (IPv4 as ::ffff:a.b.c.d). */
  PEER: 16,
  /** u16: stride of a UDP GRO buffer holding several datagrams (PORT_UNDERLAY); 0: one. */
  GSO_SIZE: 32,
  /** u8: the outer TOS / traffic class of a PORT_UNDERLAY datagram (its ECN is applied,
   *  RFC 6040); 0 when unknown. */
  TOS: 34,
} as const;
/** Field offsets of a TX entry, in bytes; all fields little-endian. */
export const TX = {
  /** u32: address of the bytes to send. */
  PTR: 0,
  /** u32: length in bytes. */
  LEN: 4,
  /** u32: local port id, or TARGET_REMOTE | VTEP id. */
  TARGET: 8,
  /** u16: UDP source port (RFC 7348 §5: a hash of the inner flow). */
  SRC_PORT: 12,
  /** u16: index of the RX descriptor this entry came from. */
  RX_INDEX: 14,
  /** u16: remote entries: UDP_SEGMENT stride; 0 for one datagram. */
  GSO_SIZE: 16,
  /** u16: TX_HAS_VNET (local entries), TX_INNER_DF (remote entries). */
  FLAGS: 18,
  /** 10 bytes: the virtio_net_hdr for a TAP with IFF_VNET_HDR (when FLAGS has TX_HAS_VNET). */
  VNET: 20,
  /** u8 (remote entries): the outer TOS / traffic class, RFC 6040 ECN of the inner packet. */
  TOS: 30,
} as const;
/** RX descriptor flag: a 10-byte virtio_net_hdr precedes the frame (TAP with IFF_VNET_HDR). */
export const RX_VNET_HDR = 1;
/** TX flag: the entry's vnet bytes hold a virtio_net_hdr (else write a zero one). */
export const TX_HAS_VNET = 1;
/** TX flag (remote entries): the inner packet is IPv4 with DF, or IPv6 — `df inherit` sets DF. */
export const TX_INNER_DF = 2;
/** Target bit: the rest of a TX/FDB target is a remote VTEP id, not a local port id. */
export const TARGET_REMOTE = 0x80000000;
/** Descriptor port: a VXLAN datagram from the UDP socket; its sender in `peer`. */
export const PORT_UNDERLAY = 0xffff;
/** Descriptor port: a whole Ethernet/IP/UDP/VXLAN packet (captures). */
export const PORT_UNDERLAY_ETH = 0xfffe;
/** vniAdd flag: learn source MACs (VniOptions.learning). */
export const VNI_FLAG_LEARN = 1;
/** vniAdd flag: answer ARP/ND from the neighbour table (VniOptions.suppress). */
export const VNI_FLAG_SUPPRESS = 2;
/** vniAdd flag: answer an over-MTU packet from a local port with ICMP (VniOptions.pmtu). */
export const VNI_FLAG_PMTU = 4;
/** underlayEmit flag: DF in the outer IPv4 header. */
export const EMIT_DF = 1;
/** underlayEmit flag: a UDP checksum over IPv4 (always over IPv6). */
export const EMIT_UDP_CSUM = 2;
/** This host's own VTEP addresses the core keeps (WeftCore.addLocalAddress). */
export const LOCAL_MAX = 8;

/** Error code (negative i32 result of a control call): the core is not initialised, or already is. */
export const E_STATE = -1;
/** Error code: a value out of range (a VNI, a port id, an MTU, a limit). */
export const E_RANGE = -2;
/** Error code: linear memory cannot grow to hold the requested limits. */
export const E_NO_MEMORY = -3;
/** Error code: a table (VNIs, VTEPs, FDB, neighbours, a flood or port list) is full. */
export const E_FULL = -4;
/** Error code: no such VNI, port attachment, entry or VTEP. */
export const E_NOT_FOUND = -5;
/** Error code: still in use (a VNI with ports, a port already attached). */
export const E_BUSY = -6;
/** What each code means, for CoreError messages. */
export const ERROR_MESSAGES: Readonly<Record<number, string>> = {
  [E_STATE]: "the core is not initialised, or already is",
  [E_RANGE]: "value out of range",
  [E_NO_MEMORY]: "linear memory cannot grow that far",
  [E_FULL]: "table full",
  [E_NOT_FOUND]: "not found",
  [E_BUSY]: "still in use",
};

/** FDB dump record (fdbDump): field offsets in bytes and its length. */
export const DUMP = {
  RECORD_LEN: 24,
  /** u32 */
  VNI: 0,
  /** 6 bytes */
  MAC: 4,
  /** u16: DUMP_STATIC */
  FLAGS: 10,
  /** u32: as a TX entry's target */
  TARGET: 12,
  /** u32: seconds since last seen, 0 for static entries */
  AGE: 16,
} as const;
/** DUMP.FLAGS bit: a static entry. */
export const DUMP_STATIC = 1;
/** VTEP record (vtepRecord): 16-byte address, then the UDP port as u16. */
export const VTEP_RECORD = { ADDRESS: 0, PORT: 16 } as const;
/** Layout region record (WeftCore.layoutRegions): u32 start, u32 size. */
export const REGION = { RECORD_LEN: 8, START: 0, SIZE: 4 } as const;
/** The args region: where control calls take addresses and MACs (assembly/abi.ts says which). */
export const ARGS = { LEN: 256, ADDRESS: 0, MAC: 16, SOURCE_MAC: 22, PEER: 32 } as const;
/** Headroom before each frame in a slot, bytes: outer Ethernet + IPv6 + UDP + VXLAN fit
 *  (assembly/layout.ts). */
export const HEADROOM = 128;
/** Tailroom after each frame, bytes: an answered neighbour solicitation may grow by an option. */
export const TAILROOM = 64;
/** Bytes of a virtio_net_hdr (include/uapi/linux/virtio_net.h, without num_buffers). */
export const VNET_HDR_LEN = 10;

/** Every value the core exports as a global, by its export name. */
export const ABI: Readonly<Record<string, number>> = {
  RX_DESC_LEN,
  RX_PTR: RX.PTR,
  RX_LEN: RX.LEN,
  RX_PORT: RX.PORT,
  RX_PEER_PORT: RX.PEER_PORT,
  RX_VERDICT: RX.VERDICT,
  RX_FLAGS: RX.FLAGS,
  RX_PEER: RX.PEER,
  RX_GSO_SIZE: RX.GSO_SIZE,
  RX_TOS: RX.TOS,
  RX_VNET_HDR,
  TX_ENTRY_LEN,
  TX_PTR: TX.PTR,
  TX_LEN: TX.LEN,
  TX_TARGET: TX.TARGET,
  TX_SRC_PORT: TX.SRC_PORT,
  TX_RX_INDEX: TX.RX_INDEX,
  TX_GSO_SIZE: TX.GSO_SIZE,
  TX_FLAGS: TX.FLAGS,
  TX_VNET: TX.VNET,
  TX_TOS: TX.TOS,
  TX_HAS_VNET,
  TX_INNER_DF,
  TARGET_REMOTE,
  PORT_UNDERLAY,
  PORT_UNDERLAY_ETH,
  VNI_FLAG_LEARN,
  VNI_FLAG_SUPPRESS,
  VNI_FLAG_PMTU,
  EMIT_DF,
  EMIT_UDP_CSUM,
  E_STATE,
  E_RANGE,
  E_NO_MEMORY,
  E_FULL,
  E_NOT_FOUND,
  E_BUSY,
  DUMP_RECORD_LEN: DUMP.RECORD_LEN,
  DUMP_VNI: DUMP.VNI,
  DUMP_MAC: DUMP.MAC,
  DUMP_FLAGS: DUMP.FLAGS,
  DUMP_TARGET: DUMP.TARGET,
  DUMP_AGE: DUMP.AGE,
  DUMP_STATIC,
  VTEP_ADDRESS: VTEP_RECORD.ADDRESS,
  VTEP_PORT: VTEP_RECORD.PORT,
  LOCAL_MAX,
  REGION_RECORD_LEN: REGION.RECORD_LEN,
  REGION_START: REGION.START,
  REGION_SIZE: REGION.SIZE,
  ARGS_LEN: ARGS.LEN,
  ARGS_ADDRESS: ARGS.ADDRESS,
  ARGS_MAC: ARGS.MAC,
  ARGS_SOURCE_MAC: ARGS.SOURCE_MAC,
  ARGS_PEER: ARGS.PEER,
  HEADROOM,
  TAILROOM,
  VNI_COUNTER_COUNT: VNI_COUNTERS.length,
  DROP_REASON_COUNT: DROP_REASONS.length,
  LATE_COUNTER_COUNT: LATE_COUNTERS.length,
  LINK_COUNTER_COUNT: LINK_COUNTERS.length,
};

/** Thrown when a module's ABI differs from this binding's (a stale or foreign build). */
export class AbiMismatchError extends Error {
  override name = "AbiMismatchError";
  constructor(readonly differences: string[]) {
    super(
      `the Wasm core does not match this binding (rebuild with "npm run build"): ${differences.join("; ")}`,
    );
  }
}

/**
 * The names whose value differs between `exports` (an instance's exports) and ABI, as
 * "NAME: core 48, binding 40" lines; empty when they agree. A global the core lacks counts.
 */
export function abiDifferences(exports: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [name, expected] of Object.entries(ABI)) {
    const g = exports[name];
    if (!(g instanceof WebAssembly.Global)) {
      out.push(`${name}: missing in the core, binding ${expected}`);
      continue;
    }
    // u32 globals above 2^31 (TARGET_REMOTE) read back as negative i32.
    const actual = expected < 0 ? (g.value as number) | 0 : (g.value as number) >>> 0;
    if (actual !== expected) out.push(`${name}: core ${actual}, binding ${expected}`);
  }
  return out;
}

/**
 * Checks an instance's exports against ABI.
 * @throws {AbiMismatchError} listing every differing name.
 */
export function checkAbi(exports: Record<string, unknown>): void {
  const d = abiDifferences(exports);
  if (d.length > 0) throw new AbiMismatchError(d);
}
