// weft's data-plane core: the exports the host binds to (cli/core/core.ts wraps them).
// Control calls pass addresses and MACs through the `args` region, so only numbers cross.
// Control calls return 0 (OK) or a non-negative result, or one of the negative codes of
// assembly/abi.ts: E_STATE -1, E_RANGE -2, E_NO_MEMORY -3, E_FULL -4, E_NOT_FOUND -5, E_BUSY -6.
// Every export's doc (here and in api/, which this file re-exports) ends with the codes it can
// return ("Codes: …"), or says "never a code".
// Calls that take a VNI look it up first: before init, and for a VNI not configured, that is
// E_NOT_FOUND. The frame path (process) never returns an error: bad frames are verdicts and
// counters.
//
//  args region (ARGS_LEN, 256 B), by call (offsets named in assembly/abi.ts):
//    vtepAdd / neighAdd / neighRemove: [0..16) address (IPv4 as ::ffff:a.b.c.d)
//    neighAdd: [16..22) MAC         fdbAdd / fdbRemove: [0..6) MAC
//    underlayEmit: [0..16) local address, [16..22) destination MAC, [22..28) source MAC
//    localAdd: [0..16) one of this host's own VTEP addresses
//    underlayVni: [32..48) the outer source address it parsed
//  and, as scratch of the frame path: [128..144) an ARP target as a 16-byte key (suppress.ts),
//  [192..202) the virtio_net_hdr of the frame being switched (pipeline/context.ts).

import * as L from "./layout";
import * as C from "./counters";
import * as fdb from "./switch/fdb";
import * as vnis from "./switch/vni";
import * as vteps from "./switch/vtep";
import * as neigh from "./switch/neigh";
import { layoutPorts } from "./switch/port";
import { processBurst } from "./pipeline/burst";
import { arenaBase, arenaSize, layoutArena } from "./pipeline/offload";
import { layoutPmtu, replyRegion, replyRegionBytes } from "./pipeline/pmtu";
import { layoutRecords } from "./pipeline/records";
import { E_NO_MEMORY, E_RANGE, E_STATE, OK } from "./abi";

// The exports by subject: the ABI as globals, switch instances, the FDB, the underlay side.
export * from "./api/abi_globals";
export * from "./api/instances";
export * from "./api/fdb";
export * from "./api/underlay";

/**
 * Lays out all memory. slotSizeLog2: 11 (2 KiB) carries MTU-sized frames, 17 (128 KiB) the
 * 64 KiB super-frames of TAP offloads and UDP GRO; fdbBits: the FDB has 2^fdbBits buckets and
 * holds 7/8 of that; arenaBytes: room per burst for segmented super-frames (0: no offloads).
 * Returns OK. Codes: E_STATE (called twice), E_RANGE (a limit out of range), E_NO_MEMORY (linear
 * memory cannot grow that far).
 */
export function init(
  burst: u32, txEntries: u32, slots: u32, slotSizeLog2: u32,
  maxVnis: u32, ports: u32, maxVteps: u32, fdbBits: u32, neighBits: u32, arenaBytes: u32,
): i32 {
  if (L.initialized) return E_STATE;
  if (burst == 0 || burst > 65535 || slots < burst || txEntries == 0 || slotSizeLog2 < 9 ||
      slotSizeLog2 > 17 || maxVnis == 0 || ports == 0 || ports >= 0xfffe || maxVteps == 0 ||
      maxVteps >= 0x80000000 || fdbBits < 4 || fdbBits > 26 || neighBits < 4 || neighBits > 24) {
    return E_RANGE;
  }
  let ok = L.layoutIo(burst, txEntries, slots, 1 << slotSizeLog2) &&
    C.layoutCounters(maxVnis, ports, maxVteps) &&
    vnis.layoutVnis(maxVnis) && layoutPorts(ports) && vteps.layoutVteps(maxVteps) &&
    neigh.layoutNeigh(neighBits) && fdb.layoutFdb(fdbBits) && layoutArena(arenaBytes) && layoutPmtu();
  let dump = fdb.layoutDump();
  if (!ok || !dump || !layoutRecords()) return E_NO_MEMORY;
  L.initialized = true;
  return OK;
}

// Where init put things, and its sizes: pointers and lengths, 0 before init; never a code.
export function args(): usize { return L.argsPtr; }
export function rxDescriptors(): usize { return L.rxPtr; }
export function txList(): usize { return L.txPtr; }
export function slotBase(): usize { return L.slotsPtr; }
export function slotBytes(): u32 { return L.slotSize; }
export function headroom(): u32 { return L.HEADROOM; }
export function tailroom(): u32 { return L.TAILROOM; }
export function counters(): usize { return C.countersPtr; }
export function portCounters(): usize { return C.portCountersPtr; }
export function vtepCounters(): usize { return C.vtepCountersPtr; }
export function counterBlockLength(): u32 { return C.BLOCK_COUNTERS; }
export function memoryUsed(): usize { return L.memoryUsed(); }
/** The regions init laid out, in order: `layoutRegionCount()` records of REGION_RECORD_LEN
 *  bytes (u32 start at REGION_START, u32 size at REGION_SIZE). */
export function layoutRegions(): usize { return L.regionTable; }
export function layoutRegionCount(): u32 { return L.regionCount; }
/** Where segmented super-frames are laid out (TX entries may point there); never a code. */
export function arena(): usize { return arenaBase(); }
export function arenaBytes(): usize { return arenaSize(); }
/** Where ICMP replies to over-MTU frames are built (TX entries may point there); never a code. */
export function pmtuRegion(): usize { return replyRegion(); }
export function pmtuRegionBytes(): u32 { return replyRegionBytes(); }

/** Switches a burst; pipeline/burst.ts draws the RX descriptor, pipeline/tx.ts the TX entry.
 *  `now`: seconds. Returns the number of TX entries (0 before init); never a negative code. */
export function process(count: u32, now: u32): u32 {
  if (!L.initialized) return 0;
  return processBurst(count, now);
}
