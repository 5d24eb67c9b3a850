// Entry for esbuild only (build/weft-core.mjs): the .wasm is embedded as bytes, so one ESM file
// runs in Node, Deno and browsers. Deno never imports this file (it cannot import .wasm bytes);
// it loads build/weft.wasm through cli/core/load.ts.
// @ts-ignore: esbuild's binary loader turns this import into a Uint8Array.
import wasm from "../../build/weft.wasm";
import type { CoreConfig } from "./config.ts";
import { WeftCore } from "./core.ts";

export * from "./mod.ts";

/** The module's bytes (build/weft.wasm), for runtimes that compile it themselves and call
 *  WeftCore.create(module, config). */
export const wasmBytes: Uint8Array = wasm;

/**
 * A new core instance with the embedded module; `config` overrides DEFAULT_CONFIG field by field.
 * @throws {AbiMismatchError} when the embedded module's layouts differ from this binding's.
 * @throws {CoreError} code E_RANGE (-2) for limits out of range, E_NO_MEMORY (-3) when linear
 *   memory cannot grow that far.
 * @example One broadcast frame from a local port, flooded to the one remote VTEP (run by
 * tests/node/example.test.mjs, which compares the printed line with the `// →` line):
 * ```js
 * import { createCore, TARGET_REMOTE } from "./build/weft-core.mjs";
 * const core = await createCore({ burst: 64 }); // other limits: DEFAULT_CONFIG
 * core.addVni(42); // MTU DEFAULT_MTU (1450 bytes of L3), ageing DEFAULT_AGEING (300 s)
 * core.attachPort(0, 42); // a local port: a TAP, a container's eth0
 * core.addFlood(42, core.addVtep("198.18.0.2")); // VTEP id 0, UDP port VXLAN_PORT (4789)
 * const frame = new Uint8Array(64); // broadcast from 02:42:0a:00:00:01, IPv4
 * frame.fill(0xff, 0, 6);
 * frame.set([0x02, 0x42, 10, 0, 0, 1, 0x08, 0x00], 6);
 * core.load(0, frame, 0); // slot 0, RX descriptor 0, ingress port 0
 * const n = core.process(1, 1); // one Wasm call per burst; now = 1 s
 * for (let i = 0; i < n; i++) {
 *   // ptr/len: bytes to send from core.bytes; srcPort: the flow-hash UDP source port
 *   const { len, target } = core.tx(i);
 *   const to = target & TARGET_REMOTE ? `VTEP ${(target & ~TARGET_REMOTE) >>> 0}` : `port ${target}`;
 *   console.log(to, len); // a remote entry is a VXLAN datagram: 8-byte header + frame
 * }
 * // → VTEP 0 72
 * ```
 */
export function createCore(config: Partial<CoreConfig> = {}): Promise<WeftCore> {
  return WeftCore.create(wasm, config);
}
