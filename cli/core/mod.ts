// The core's public surface, the same for Deno, Node and browsers.
export * from "./core.ts";
export * from "./addr.ts";
export * from "./counters.ts";
export * from "../pcap/mod.ts";
