// Messages between the vtep's main thread (signals, control API) and the data-plane worker
// (the Wasm core and every fd on the frame path). After `start`, the main thread writes 1 to the
// worker's eventfd for every message it posts, so a worker blocked in poll() wakes and knows how
// many messages to wait for.

import type { FdbEntry } from "../core/core.ts";
import type { LinkCounters, VniCounters } from "../core/counters.ts";

export interface PortSpec {
  /** Port id in the core: the index of the --tap option. */
  id: number;
  name: string;
  fd: number;
  netns?: string;
}

export interface PeerSpec {
  /** Address as text (IPv4 dotted or IPv6). */
  address: string;
  port: number;
}

export interface StartConfig {
  vni: number;
  mtu: number;
  ageing: number;
  learnMax: number;
  vxlanPort: number;
  ports: PortSpec[];
  udpFd: number;
  /** AF_INET or AF_INET6 of the underlay socket. */
  family: number;
  peers: PeerSpec[];
  /** An open pcap file (global header written) the worker appends records to. */
  pcapFd?: number;
  /** eventfd the main thread writes to after each message. */
  wakeFd: number;
}

export type ToWorker =
  | { type: "start"; config: StartConfig }
  | { type: "fdb"; id: number }
  | { type: "stats"; id: number }
  | { type: "stop" };

export type FromWorker =
  | { type: "ready" }
  | { type: "reply"; id: number; data: unknown }
  | { type: "fatal"; message: string }
  | { type: "stopped" };

/** One FDB row as `weft fdb` shows it. */
export interface FdbRow extends FdbEntry {
  /** "tap weft0" for a local port, "198.18.0.2:4789" for a remote VTEP. */
  where: string;
}

export interface FdbReply {
  vni: number;
  used: number;
  capacity: number;
  entries: FdbRow[];
}

export interface LinkStats extends LinkCounters {
  id: number;
  name: string;
}

/** Failures on the host side of the data path, which the core cannot see. */
export interface IoCounters {
  bursts: number;
  udp_send_errors: number;
  udp_send_dropped: number;
  tap_write_errors: number;
  pcap_errors: number;
  pcap_records: number;
}

export interface StatsReply {
  vni: number;
  counters: VniCounters;
  /** Frames the core could not assign to a VNI (unknown VNI, bad flags, …). */
  global: VniCounters;
  ports: LinkStats[];
  vteps: LinkStats[];
  io: IoCounters;
  fdb: { used: number; capacity: number };
}
