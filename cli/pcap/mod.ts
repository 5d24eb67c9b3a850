// Captures: readers (classic pcap, pcapng), link types, the writer. No runtime APIs: the CLI,
// Node and the browser page import the same code (the core bundle re-exports it).
export * from "./pcap.ts";
export * from "./pcapng.ts";
export * from "./capture.ts";
export * from "./link.ts";
export * from "./reassembly.ts";
export * from "./underlay.ts";
export * from "./vxlan.ts";
export * from "./decap.ts";
