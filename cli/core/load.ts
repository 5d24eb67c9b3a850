// Loads build/weft.wasm for the Deno CLI and tests.
import type { CoreConfig } from "./config.ts";
import { WeftCore } from "./core.ts";

/** Where `npm run build` writes the core (build/weft.wasm). */
export const WASM_PATH = new URL("../../build/weft.wasm", import.meta.url);

let compiled: WebAssembly.Module | undefined;

/** The compiled module, once per process.
 *  @throws {Error} "Cannot read …: run "npm run build" first" when WASM_PATH is missing. */
export async function coreModule(): Promise<WebAssembly.Module> {
  if (compiled) return compiled;
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = await Deno.readFile(WASM_PATH);
  } catch (cause) {
    throw new Error(`Cannot read ${WASM_PATH.pathname}: run "npm run build" first`, { cause });
  }
  compiled = await WebAssembly.compile(bytes);
  return compiled;
}

/** A new core from build/weft.wasm with DEFAULT_CONFIG overridden by `config` (Deno only).
 *  @throws as coreModule() and WeftCore.create(). */
export async function loadCore(config: Partial<CoreConfig> = {}): Promise<WeftCore> {
  return WeftCore.create(await coreModule(), config);
}
