// The core's public surface, the same for Deno, Node and browsers.
export * from "./core.ts";
export * from "./addr.ts";
export * from "./counters.ts";
export {
  ABI,
  abiDifferences,
  AbiMismatchError,
  checkAbi,
  DUMP_STATIC,
  HEADROOM,
  TAILROOM,
  VNI_FLAG_LEARN,
  VNI_FLAG_PMTU,
  VNI_FLAG_SUPPRESS,
} from "./abi.ts";
export * from "../pcap/mod.ts";
