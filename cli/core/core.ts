// WeftCore, the typed binding over the Wasm core, and how to create one. The class is built in
// layers, one job per file: instance.ts (loading, ABI check, views), burst.ts (the frame path),
// switch.ts (VNIs, ports, VTEPs, FDB, neighbours), and here the counters and memory layout reads.
// No runtime APIs (no Deno.*, no node:*): esbuild bundles this for Node and browsers unchanged.

import { LINK_COUNTERS, readLinkBlock, readVniBlock } from "./counters.ts";
import type { LinkCounters, VniCounters } from "./counters.ts";
import { E_NOT_FOUND, REGION } from "./abi.ts";
import { type CoreConfig, DEFAULT_CONFIG } from "./config.ts";
import { CoreError, type CoreExports } from "./instance.ts";
import { CoreSwitch } from "./switch.ts";

/**
 * One instance of the core: a set of learning switches (one per VNI, the seed's br0 per
 * overlay network) and the linear memory they work in. Control methods throw CoreError with
 * the core's code; the frame path (load/describe, process, verdict, tx) never throws on bad
 * frames: they become drop verdicts and named counters (DROP_REASONS).
 * Create it with WeftCore.create (or createCore from the bundle, loadCore in Deno).
 */
export class WeftCore extends CoreSwitch {
  private constructor(exports: CoreExports, config: CoreConfig) {
    super(exports, config);
  }

  /**
   * Instantiates the module (bytes or compiled) with DEFAULT_CONFIG overridden by `config`.
   * @throws {AbiMismatchError} when the module's layouts, flags or error codes differ from this
   *   binding's (a stale build): nothing is initialised.
   * @throws {CoreError} E_RANGE (-2) for limits outside CoreConfig's ranges, E_NO_MEMORY (-3)
   *   when linear memory cannot grow to hold them.
   */
  static async create(
    wasm: BufferSource | WebAssembly.Module,
    config: Partial<CoreConfig> = {},
  ): Promise<WeftCore> {
    const module = wasm instanceof WebAssembly.Module ? wasm : await WebAssembly.compile(wasm);
    const instance = await WebAssembly.instantiate(module, {});
    return new WeftCore(instance.exports as unknown as CoreExports, { ...DEFAULT_CONFIG, ...config });
  }

  /** create(), synchronously (a module this small compiles fast enough on any thread).
   *  @throws as create(). */
  static createSync(wasm: BufferSource | WebAssembly.Module, config: Partial<CoreConfig> = {}): WeftCore {
    const module = wasm instanceof WebAssembly.Module ? wasm : new WebAssembly.Module(wasm);
    const instance = new WebAssembly.Instance(module, {});
    return new WeftCore(instance.exports as unknown as CoreExports, { ...DEFAULT_CONFIG, ...config });
  }

  /** Counters of a VNI, or the global block (frames with no VNI known) when vni is omitted;
   *  frames and bytes since the VNI was added (u64 read as number).
   *  @throws {CoreError} E_NOT_FOUND (-5): no such VNI. */
  counters(vni?: number): VniCounters {
    let slot = -1;
    if (vni !== undefined) {
      slot = this.exports.vniSlot(vni);
      if (slot < 0) throw new CoreError(`counters of VNI ${vni}`, E_NOT_FOUND);
    }
    return readVniBlock(this.counters64, (this.exports.counters() >> 3) + (slot + 1) * this.vniBlockLen);
  }

  /** Counters of local port `port` (since it was attached). */
  portCounters(port: number): LinkCounters {
    return readLinkBlock(this.counters64, (this.exports.portCounters() >> 3) + port * LINK_COUNTERS.length);
  }

  /** Counters of VTEP `id`. */
  vtepCounters(id: number): LinkCounters {
    return readLinkBlock(this.counters64, (this.exports.vtepCounters() >> 3) + id * LINK_COUNTERS.length);
  }

  /** [start, end) of the segmentation arena; TX entries of cut super-frames point there. */
  get arenaRange(): [number, number] {
    const base = this.exports.arena();
    return [base, base + this.exports.arenaBytes()];
  }

  /** [start, end) of the region where ICMP replies to over-MTU frames are built; a TX entry
   *  pointing there is such a reply, and its frame's verdict stays over_mtu. */
  get pmtuRange(): [number, number] {
    const base = this.exports.pmtuRegion();
    return [base, base + this.exports.pmtuRegionBytes()];
  }

  /** Bytes of linear memory laid out (all regions and tables). */
  get memoryUsed(): number {
    return this.exports.memoryUsed();
  }

  /** [start, end) of every region init laid out, in order (see assembly/layout.ts; records
   *  as REGION). */
  get layoutRegions(): [number, number][] {
    const t = this.exports.layoutRegions(), out: [number, number][] = [];
    for (let i = 0; i < this.exports.layoutRegionCount(); i++) {
      const r = t + i * REGION.RECORD_LEN;
      const start = this.view.getUint32(r + REGION.START, true);
      out.push([start, start + this.view.getUint32(r + REGION.SIZE, true)]);
    }
    return out;
  }
}
