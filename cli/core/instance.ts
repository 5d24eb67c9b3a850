// Loading one instance of the core: the module's exports, the ABI check, init() with the
// instance's limits, and the views over linear memory that every other part of the binding
// reads through. Views are made once: the core lays out all its memory in init() and never grows
// it afterwards. No runtime APIs (no Deno.*, no node:*): esbuild bundles this for Node and
// browsers unchanged.

import { checkAbi, ERROR_MESSAGES } from "./abi.ts";
import type { CoreConfig } from "./config.ts";

/**
 * Exports of build/weft.wasm (assembly/index.ts, where each lists the negative codes it returns:
 * E_STATE … E_BUSY in cli/core/abi.ts). Addresses are byte offsets into `memory`; `now` is in
 * seconds. WeftCore wraps each; `core.exports` is for a call it does not wrap.
 */
export interface CoreExports {
  /** The core's linear memory; never grows after init(). */
  memory: WebAssembly.Memory;
  /** Lays out all memory for the limits (CoreConfig, in this order); 0, or E_STATE (called
   *  twice), E_RANGE (a limit out of range), E_NO_MEMORY. */
  init(
    burst: number,
    tx: number,
    slots: number,
    slotLog2: number,
    vnis: number,
    ports: number,
    vteps: number,
    fdbBits: number,
    neighBits: number,
    arenaBytes: number,
  ): number;
  // Addresses and sizes of what init() laid out (bytes); 0 before init.
  args(): number;
  rxDescriptors(): number;
  txList(): number;
  slotBase(): number;
  slotBytes(): number;
  headroom(): number;
  tailroom(): number;
  counters(): number;
  portCounters(): number;
  vtepCounters(): number;
  counterBlockLength(): number;
  memoryUsed(): number;
  layoutRegions(): number;
  layoutRegionCount(): number;
  arena(): number;
  arenaBytes(): number;
  pmtuRegion(): number;
  pmtuRegionBytes(): number;
  /** Switches RX descriptors 0..count-1; returns TX entries written (never negative). */
  process(count: number, now: number): number;
  // Configuration: ≥ 0 (ok, a slot, an id, a count) or a negative E_* code; see WeftCore's
  // method of the same job for which codes each returns. Addresses and MACs go in ARGS first.
  vniAdd(vni: number, mtu: number, learnMax: number, ageing: number, flags: number): number;
  vniSlot(vni: number): number;
  vniRemove(vni: number): number;
  portAttach(port: number, vni: number): number;
  portDetach(port: number): number;
  vtepAdd(port: number): number;
  vtepFind(): number;
  vtepRecord(id: number): number;
  vtepCount(): number;
  floodAdd(vni: number, vtep: number): number;
  floodRemove(vni: number, vtep: number): number;
  vtepForget(vni: number, vtep: number): number;
  fdbAdd(vni: number, target: number): number;
  fdbRemove(vni: number): number;
  fdbFlush(vni: number, learnedOnly: number): number;
  fdbAge(now: number, budget: number): number;
  fdbDump(cursor: number, now: number): number;
  fdbDumpRegion(): number;
  fdbDumpNext(): number;
  fdbUsed(): number;
  fdbCapacity(): number;
  neighAdd(vni: number): number;
  neighRemove(vni: number): number;
  setVxlanPort(port: number): void;
  setSourcePortRange(min: number, max: number): number;
  setCoalescing(on: number): void;
  /** VNI of the outer Ethernet/IP/UDP/VXLAN packet at `ptr` (`len` bytes; peer address → ARGS.PEER),
   *  or -1 when it is not one. Used by the ESP path, not wrapped by WeftCore. */
  underlayVni(ptr: number, len: number): number;
  /** Wraps the VXLAN datagram of a TX entry at `ptr` in Ethernet/IP/UDP inside its headroom
   *  (local address at ARGS.ADDRESS, MACs at ARGS.MAC / ARGS.SOURCE_MAC; flags EMIT_DF |
   *  EMIT_UDP_CSUM); the new start address, or 0 for a bad VTEP or pointer. Not wrapped. */
  underlayEmit(ptr: number, len: number, vtep: number, sport: number, tos: number, flags: number): number;
  localAdd(): number;
}

/** A control call of the core returned a negative code: `code` is one of E_STATE, E_RANGE,
 *  E_NO_MEMORY, E_FULL, E_NOT_FOUND, E_BUSY (cli/core/abi.ts); `op` says what was tried. */
export class CoreError extends Error {
  override name = "CoreError";
  constructor(readonly op: string, readonly code: number) {
    super(`${op}: ${ERROR_MESSAGES[code] ?? `error ${code}`}`);
  }
}

/**
 * The first layer of WeftCore (cli/core/core.ts): the instance, its limits and its views. Each
 * later layer adds one job: CoreFrames (burst.ts) the frame path, CoreSwitch (switch.ts) the
 * switch's configuration, WeftCore the counters and creation. Not used on its own.
 */
export class CoreInstance {
  /** The module's raw exports (assembly/index.ts), for callers that need a call not wrapped here. */
  readonly exports: CoreExports;
  /** The limits it was created with (DEFAULT_CONFIG overridden by the caller's fields). */
  readonly config: CoreConfig;
  /** Whole linear memory. Valid for the core's life (memory never grows after init). */
  readonly bytes: Uint8Array;
  /** The same memory for little-endian field access. */
  readonly view: DataView;
  /** Address of RX descriptor 0 (RX_DESC_LEN bytes each, config.burst of them). */
  readonly rxPtr: number;
  /** Address of TX entry 0 (TX_ENTRY_LEN bytes each, config.txEntries of them). */
  readonly txPtr: number;
  /** Address of slot 0; slot i starts at slotBase + i * slotSize. */
  readonly slotBase: number;
  /** Bytes per slot: 2^config.slotSizeLog2. */
  readonly slotSize: number;
  /** Bytes before each frame in its slot (HEADROOM), where encapsulation prepends headers. */
  readonly headroom: number;
  /** Address of the core's argument area (ARGS): addresses and MACs go there, numbers as
   *  arguments. */
  protected readonly argsPtr: number;
  /** Linear memory as u64 words, for the counter blocks (8-byte aligned). */
  protected readonly counters64: BigUint64Array;
  /** u64 counters per VNI block (VNI_COUNTERS, DROP_REASONS, LATE_COUNTERS). */
  protected readonly vniBlockLen: number;

  /**
   * Checks the module's ABI, then lays out linear memory for `config` (the caller has applied
   * DEFAULT_CONFIG).
   * @throws {AbiMismatchError} when the module's layouts, flags or error codes differ from this
   *   binding's (a stale build): nothing is initialised.
   * @throws {CoreError} E_RANGE (-2) for limits outside CoreConfig's ranges, E_NO_MEMORY (-3)
   *   when linear memory cannot grow to hold them, E_STATE (-1) when init ran already.
   */
  protected constructor(exports: CoreExports, config: CoreConfig) {
    checkAbi(exports as unknown as Record<string, unknown>);
    this.exports = exports;
    this.config = config;
    const rc = exports.init(
      config.burst,
      config.txEntries,
      config.slots,
      config.slotSizeLog2,
      config.maxVnis,
      config.maxPorts,
      config.maxVteps,
      config.fdbBits,
      config.neighBits,
      config.arenaBytes,
    );
    if (rc !== 0) throw new CoreError("init", rc);
    this.bytes = new Uint8Array(exports.memory.buffer);
    this.view = new DataView(exports.memory.buffer);
    this.counters64 = new BigUint64Array(exports.memory.buffer);
    this.rxPtr = exports.rxDescriptors();
    this.txPtr = exports.txList();
    this.slotBase = exports.slotBase();
    this.slotSize = exports.slotBytes();
    this.headroom = exports.headroom();
    this.argsPtr = exports.args();
    this.vniBlockLen = exports.counterBlockLength();
  }

  /** `rc` when it is ≥ 0 (a count, an id, a slot).
   *  @throws {CoreError} with `op` and the code when rc is negative. */
  protected check(op: string, rc: number): number {
    if (rc < 0) throw new CoreError(op, rc);
    return rc;
  }
}
