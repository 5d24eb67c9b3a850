// The core's public surface, the same for Deno, Node and browsers. Re-exports only.
export * from "./abi.ts";
export * from "./addr.ts";
export * from "./config.ts";
export * from "./counters.ts";
export { CoreError, type CoreExports } from "./instance.ts";
export type { TxEntry } from "./burst.ts";
export type { FdbEntry } from "./switch.ts";
export { WeftCore } from "./core.ts";
export * from "../pcap/mod.ts";
