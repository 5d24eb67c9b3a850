// The ABI as immutable Wasm globals of the same names as in assembly/abi.ts (and the layout and
// counter sizes the host needs). The binding compares its constants with these when it loads the
// module (cli/core/abi.ts checkAbi()), so a copy that drifts fails at load. assembly/index.ts
// re-exports this module.

import * as abi from "../abi";
import * as L from "../layout";
import * as C from "../counters";

// The binding compares its constants with these when it loads the module (cli/core/abi.ts).
export const RX_DESC_LEN: u32 = abi.RX_DESC_LEN;
export const RX_PTR: u32 = abi.RX_PTR;
export const RX_LEN: u32 = abi.RX_LEN;
export const RX_PORT: u32 = abi.RX_PORT;
export const RX_PEER_PORT: u32 = abi.RX_PEER_PORT;
export const RX_VERDICT: u32 = abi.RX_VERDICT;
export const RX_FLAGS: u32 = abi.RX_FLAGS;
export const RX_PEER: u32 = abi.RX_PEER;
export const RX_GSO_SIZE: u32 = abi.RX_GSO_SIZE;
export const RX_TOS: u32 = abi.RX_TOS;
export const RX_VNET_HDR: u32 = abi.RX_VNET_HDR;
export const TX_ENTRY_LEN: u32 = abi.TX_ENTRY_LEN;
export const TX_PTR: u32 = abi.TX_PTR;
export const TX_LEN: u32 = abi.TX_LEN;
export const TX_TARGET: u32 = abi.TX_TARGET;
export const TX_SRC_PORT: u32 = abi.TX_SRC_PORT;
export const TX_RX_INDEX: u32 = abi.TX_RX_INDEX;
export const TX_GSO_SIZE: u32 = abi.TX_GSO_SIZE;
export const TX_FLAGS: u32 = abi.TX_FLAGS;
export const TX_VNET: u32 = abi.TX_VNET;
export const TX_TOS: u32 = abi.TX_TOS;
export const TX_HAS_VNET: u32 = abi.TX_HAS_VNET;
export const TX_INNER_DF: u32 = abi.TX_INNER_DF;
export const TARGET_REMOTE: u32 = abi.TARGET_REMOTE;
export const PORT_UNDERLAY: u32 = abi.PORT_UNDERLAY;
export const PORT_UNDERLAY_ETH: u32 = abi.PORT_UNDERLAY_ETH;
export const VNI_FLAG_LEARN: u32 = abi.VNI_FLAG_LEARN;
export const VNI_FLAG_SUPPRESS: u32 = abi.VNI_FLAG_SUPPRESS;
export const VNI_FLAG_PMTU: u32 = abi.VNI_FLAG_PMTU;
export const EMIT_DF: u32 = abi.EMIT_DF;
export const EMIT_UDP_CSUM: u32 = abi.EMIT_UDP_CSUM;
export const E_STATE: i32 = abi.E_STATE;
export const E_RANGE: i32 = abi.E_RANGE;
export const E_NO_MEMORY: i32 = abi.E_NO_MEMORY;
export const E_FULL: i32 = abi.E_FULL;
export const E_NOT_FOUND: i32 = abi.E_NOT_FOUND;
export const E_BUSY: i32 = abi.E_BUSY;
export const DUMP_RECORD_LEN: u32 = abi.DUMP_RECORD_LEN;
export const DUMP_VNI: u32 = abi.DUMP_VNI;
export const DUMP_MAC: u32 = abi.DUMP_MAC;
export const DUMP_FLAGS: u32 = abi.DUMP_FLAGS;
export const DUMP_TARGET: u32 = abi.DUMP_TARGET;
export const DUMP_AGE: u32 = abi.DUMP_AGE;
export const DUMP_STATIC: u32 = abi.DUMP_STATIC;
export const VTEP_ADDRESS: u32 = abi.VTEP_ADDRESS;
export const VTEP_PORT: u32 = abi.VTEP_PORT;
export const LOCAL_MAX: u32 = abi.LOCAL_MAX;
export const REGION_RECORD_LEN: u32 = abi.REGION_RECORD_LEN;
export const REGION_START: u32 = abi.REGION_START;
export const REGION_SIZE: u32 = abi.REGION_SIZE;
export const ARGS_LEN: u32 = abi.ARGS_LEN;
export const ARGS_ADDRESS: u32 = abi.ARGS_ADDRESS;
export const ARGS_MAC: u32 = abi.ARGS_MAC;
export const ARGS_SOURCE_MAC: u32 = abi.ARGS_SOURCE_MAC;
export const ARGS_PEER: u32 = abi.ARGS_PEER;
export const HEADROOM: u32 = L.HEADROOM;
export const TAILROOM: u32 = L.TAILROOM;
/** Counters per VNI block (named counters, then one per drop reason, then the late counters
 *  added after the drop reasons), and per port/VTEP. */
export const VNI_COUNTER_COUNT: u32 = C.DROP_BASE;
export const DROP_REASON_COUNT: u32 = C.DROP_REASONS;
export const LATE_COUNTER_COUNT: u32 = C.BLOCK_COUNTERS - C.DROP_BASE - C.DROP_REASONS;
export const LINK_COUNTER_COUNT: u32 = C.LINK_COUNTERS;
