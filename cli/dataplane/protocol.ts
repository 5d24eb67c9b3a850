// Messages between a main thread (`weft vtep`, or the daemon) and the data-plane worker (the Wasm
// core and every fd on the frame path). The worker starts with only the underlay socket; VNIs,
// TAP ports, remote endpoints and flood lists arrive as "ops", at start (`weft vtep` sends its
// whole configuration at once) or at run time (the daemon, as the control plane says). After
// `start`, the main thread writes 1 to the worker's eventfd for every message it posts, so a
// worker blocked in poll() wakes and knows how many messages to wait for.

import type { DfMode, FdbEntry } from "../core/mod.ts";
import type { LinkCounters, VniCounters } from "../core/counters.ts";
import type { EspCounters, EspNodeCounters } from "../esp/esp.ts";

/**
 * One change to the worker's switch, applied between bursts in the order sent. Addresses are
 * text (IPv4 or IPv6), MACs "02:42:0a:00:00:01", ports UDP ports (VXLAN_PORT unless configured),
 * `mtu` bytes of L3 payload, `ageing` seconds (default DEFAULT_AGEING), `learnMax` MACs (default
 * DEFAULT_LEARN_MAX). A failing op raises the core's CoreError (E_* codes) in the worker, which
 * the reply names (DataplaneWorker.ops).
 */
export type DpOp =
  /** A switch for `vni`; `suppress` answers ARP/ND from the neighbour table (port/remote ips). */
  | {
    op: "vni.add";
    vni: number;
    mtu: number;
    ageing?: number;
    learnMax?: number;
    suppress?: boolean;
    /** Encrypted network: only ESP in and out (fails when the ESP socket is not open). */
    encrypted?: boolean;
  }
  /** Removes the VNI with its ports. */
  | { op: "vni.remove"; vni: number }
  /** A TAP on `vni`; with `mac` and `ip` (and `ip6`), also a static FDB entry and neighbour entries. */
  | {
    op: "port.add";
    port: number;
    fd: number;
    name: string;
    vni: number;
    mac?: string;
    ip?: string;
    ip6?: string;
  }
  | { op: "port.remove"; port: number }
  /** A container behind another VTEP: static FDB entry and neighbour entry. */
  | { op: "remote.add"; vni: number; mac: string; ip: string; ip6?: string; addr: string; port: number }
  | { op: "remote.remove"; vni: number; mac: string; ip: string; ip6?: string }
  /** A VTEP that gets a copy of every broadcast, multicast and unknown unicast of `vni`. */
  | { op: "flood.add"; vni: number; addr: string; port: number }
  | { op: "flood.remove"; vni: number; addr: string; port: number }
  /** This node's SA for an encrypted `vni` (replaces the previous one); keymat: key ‖ salt. */
  | { op: "esp.out"; vni: number; spi: number; keymat: number[] }
  /** A peer's SA this node accepts for `vni`; and its removal. */
  | { op: "esp.in"; vni: number; spi: number; keymat: number[] }
  | { op: "esp.in.remove"; spi: number };

/** What the worker starts with: fds opened by the main thread (NodeVtep.open), and options. */
export interface StartConfig {
  /** The underlay socket on the VXLAN port: receives, and sends when there are no senderFds. */
  udpFd: number;
  /** AF_INET or AF_INET6 of the underlay socket. */
  family: number;
  /** UDP port that means VXLAN (WeftCore.setVxlanPort): the one udpFd is bound to. */
  vxlanPort: number;
  /** An open pcap file (global header written) the worker appends records to. */
  pcapFd?: number;
  /** eventfd the main thread writes to after each message. */
  wakeFd: number;
  /** One Int32: seconds since the data plane started, plus 1, kept by the main thread (CLOCK_TICK_MS). */
  clock: SharedArrayBuffer;
  /** The TAPs were opened with IFF_VNET_HDR and TSO/checksum offloads (cli/phy/tap.ts). */
  vnetHdr?: boolean;
  /** The socket takes UDP_SEGMENT: a cut super-frame leaves in one message. */
  udpGso?: boolean;
  /** The socket has UDP_GRO on: a read may return several datagrams of one sender. */
  udpGro?: boolean;
  /** Sockets to send from, picked by the inner flow's hash (RFC 7348 §5 source ports); none:
   *  send from udpFd. They take UDP_SEGMENT when udpGso says the underlay socket does. */
  senderFds?: number[];
  /** Outer DF as the kernel's VXLAN `df`; only "inherit" concerns the loop (the sockets were
   *  opened with unset or set). Default unset. */
  df?: DfMode;
  /** This host's own VTEP addresses: datagrams from them are dropped (self_vtep), never learned. */
  localAddresses?: string[];
  /** The ESP-in-UDP socket (cli/dataplane/esp_path.ts) and its port; none: no encrypted network. */
  espFd?: number;
  /** UDP port of ESP in UDP (ESP_PORT unless configured). */
  espPort?: number;
  /** The ESP socket has UDP_GRO on / takes UDP_SEGMENT (as udpGro/udpGso for the VXLAN port). */
  espGro?: boolean;
  espGso?: boolean;
}

/** Main thread → worker: `start` once, then requests with an id its reply carries, then `stop`. */

export type ToWorker =
  | { type: "start"; config: StartConfig }
  | { type: "ops"; id: number; ops: DpOp[] }
  | { type: "fdb"; id: number }
  | { type: "stats"; id: number }
  | { type: "stop" };

/** Worker → main thread: `ready` after start, a `reply` per request, `fatal` when it dies. */
export type FromWorker =
  | { type: "ready" }
  /** `error` says which ops failed; the others were applied. */
  | { type: "reply"; id: number; data: unknown; error?: string }
  | { type: "fatal"; message: string }
  | { type: "stopped" };

/** One FDB row as `weft fdb` shows it. */
export interface FdbRow extends FdbEntry {
  /** "tap weft0" for a local port, "198.18.0.2:4789" for a remote VTEP. */
  where: string;
}

/** The answer to an `fdb` request. */
export interface FdbReply {
  /** Entries in use, all VNIs (WeftCore.fdbSize). */
  used: number;
  /** Entries the table holds (WeftCore.fdbCapacity: 7/8 of its buckets). */
  capacity: number;
  /** Every live entry, in table order (`weft fdb` sorts them). */
  entries: FdbRow[];
}

/** Counters of one port or VTEP, with its id and a name to show. */
export interface LinkStats extends LinkCounters {
  /** Port id, or VTEP id. */
  id: number;
  /** The TAP's name, or "198.18.0.2:4789" for a VTEP. */
  name: string;
}

/** Counters of a local port (a TAP) and the VNI it is attached to. */
export interface PortStats extends LinkStats {
  vni: number;
}

/** Failures on the host side of the data path, which the core cannot see. */
export interface IoCounters {
  /** Turns of the frame loop that switched at least one frame. */
  bursts: number;
  /** Datagrams the kernel took (each GSO segment counts). */
  udp_datagrams: number;
  /** Datagrams the kernel refused (no route, unreachable, too big): SendCounters.errors. */
  udp_send_errors: number;
  /** Datagrams dropped because the send buffer stayed full (SendCounters.dropped). */
  udp_send_dropped: number;
  /** Frames a TAP write refused (the TAP down or gone, its queue full). */
  tap_write_errors: number;
  /** pcap writes that failed (one writev per batch of records). */
  pcap_errors: number;
  /** pcap records written. */
  pcap_records: number;
}

/** The answer to a `stats` request; every count since the worker started (or the VNI, port or
 *  VTEP was added). */
export interface StatsReply {
  /** Each VNI's counters (VNI_COUNTERS, drops by DROP_REASONS), in the order they were added. */
  vnis: { vni: number; counters: VniCounters }[];
  /** Frames the core could not assign to a VNI (unknown VNI, bad flags, …). */
  global: VniCounters;
  /** Local ports (TAPs), in the order they were added. */
  ports: PortStats[];
  /** Remote VTEPs by id (configured and learned). */
  vteps: LinkStats[];
  /** The host side: syscalls' failures the core cannot see. */
  io: IoCounters;
  /** FDB entries in use and the table's capacity, as FdbReply. */
  fdb: { used: number; capacity: number };
  /** Encrypted networks: ESP counters per VNI, whether it has a key to send with, inbound SAs. */
  esp?: { vni: number; counters: EspCounters; sending: boolean; inbound: number }[];
  /** ESP datagrams no network can be blamed for (unknown SPI, …); present with the ESP socket. */
  espNode?: EspNodeCounters;
}
