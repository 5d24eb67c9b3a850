// Loads build/weft.wasm for the Deno CLI and tests.
import { type CoreConfig, WeftCore } from "./core.ts";

export const WASM_PATH = new URL("../../build/weft.wasm", import.meta.url);

let compiled: WebAssembly.Module | undefined;

/** The compiled module, once per process; a clear error when it has not been built. */
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

export async function loadCore(config: Partial<CoreConfig> = {}): Promise<WeftCore> {
  return WeftCore.create(await coreModule(), config);
}
