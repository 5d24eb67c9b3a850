// Entry for esbuild only (build/weft-core.mjs): the .wasm is embedded as bytes, so one ESM file
// runs in Node, Deno and browsers. Deno never imports this file (it cannot import .wasm bytes);
// it loads build/weft.wasm through cli/core/load.ts.
// @ts-ignore: esbuild's binary loader turns this import into a Uint8Array.
import wasm from "../../build/weft.wasm";
import { type CoreConfig, WeftCore } from "./core.ts";

export * from "./mod.ts";

/** The module's bytes, for runtimes that want to compile it themselves. */
export const wasmBytes: Uint8Array = wasm;

/** A new core instance with the given limits (see DEFAULT_CONFIG). */
export function createCore(config: Partial<CoreConfig> = {}): Promise<WeftCore> {
  return WeftCore.create(wasm, config);
}
