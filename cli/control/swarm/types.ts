// Records of the cluster state (the manager's store) and the snapshot each node receives.

import type { NetworkKey, SaAnnouncement } from "../../esp/keys.ts";

/** Names of networks and containers (a container's is its namespace's): as Docker takes them. */
export function validName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name);
}

/** The swarm (`cluster/cluster`): written by `swarm init`, read by every manager. */
export interface SwarmRecord {
  id: string;
  createdAt: string;
  advertiseAddr: string;
  /** Address and port the manager listens on for the control plane (2377). */
  listenAddr: string;
  listenPort: number;
  dataPathPort: number;
  pool: string;
  poolMaskLength: number;
  caDigest: string;
  /** The secret half of the worker join token. */
  workerSecret: string;
  /** The secret half of the manager join token (swarms on a cluster store). */
  managerSecret?: string;
  /** Encrypted overlays: key rotation interval (ms; DEFAULT_KEY_ROTATION_MS when absent). */
  keyRotationMs?: number;
  /** `--esp-port`: UDP port of ESP in UDP on every node (ESP_PORT when absent). */
  espPort?: number;
}

/** A node of the swarm (`node/<id>`), written at its join; `role` changes by promote/demote. */
export interface NodeRecord {
  id: string;
  hostname: string;
  /** Underlay address: where the node is reached, and the VTEP's unless dataAddr says otherwise. */
  addr: string;
  /** `--data-path-addr`: the VTEP's underlay address when it differs from addr. */
  dataAddr?: string;
  role: "manager" | "worker";
  availability: "active";
  /** SHA-256 of the node's session secret (issued at join). */
  secretHash: string;
  joinedAt: string;
  /** A manager's control listener, "host:port" (older stores: the cluster record's). */
  listen?: string;
}

/** An overlay network (`network/<id>`), as `docker network inspect` shows one (trimmed). */
export interface NetworkRecord {
  id: string;
  name: string;
  driver: "overlay";
  scope: "swarm";
  subnet: string;
  gateway: string;
  vni: number;
  mtu: number;
  attachable: boolean;
  /** `--internal`: no gateway bridge, no way out of the overlay (absent in older records: false). */
  internal?: boolean;
  createdAt: string;
  /** `--ip-range` of the IPv4 subnet: containers get addresses from it only. */
  ipRange?: string;
  /** `--ipv6` with an IPv6 `--subnet`: containers get an address from it too. */
  enableIPv6?: boolean;
  subnet6?: string;
  gateway6?: string;
  ipRange6?: string;
  /** `-o com.docker.network.driver.mtu=N` when given; without it each node derives the MTU. */
  mtuOption?: number;
  /** `--label K=V`. */
  labels?: Record<string, string>;
  /** `--opt encrypted`: ESP in UDP between nodes (cli/esp/), with keys from the manager. */
  encrypted?: boolean;
}

/** What `weft network create` asks for (Docker's flags; repeatable ones as arrays). */
export interface NetworkOptions {
  name: string;
  subnet?: string | string[];
  gateway?: string | string[];
  ipRange?: string | string[];
  ipv6?: boolean;
  attachable?: boolean;
  internal?: boolean;
  mtu?: number;
  labels?: Record<string, string>;
  /** `--opt encrypted`: ESP in UDP between nodes. */
  encrypted?: boolean;
}

/** MTU of a network with no option, for nodes that do not derive one (cli/defaults.ts). */
export { CONTROL_PORT, DEFAULT_MTU } from "../../defaults.ts";

/** A container's attachment to a network (`endpoint/<id>`): its node, addresses and MAC (02:42 + IPv4). */
export interface EndpointRecord {
  id: string;
  network: string;
  node: string;
  container: string;
  /** --network-alias names on this network, for the embedded DNS (absent: none). */
  aliases?: string[];
  ip: string;
  mac: string;
  /** The IPv6 address on networks with --ipv6. */
  ip6?: string;
}

/** A node as `weft node ls` and the other nodes see it: the record plus its status. */
export interface NodeView {
  id: string;
  hostname: string;
  addr: string;
  dataAddr?: string;
  role: "manager" | "worker";
  availability: string;
  status: "Ready" | "Down";
  /** Docker's MANAGER STATUS column; managers only. */
  managerStatus?: "Leader" | "Reachable" | "Unreachable";
  /** Where nodes reach this manager ("ip:port"); managers only. */
  control?: string;
}

/**
 * What changed for one node at a revision: records put and ids gone. A node applies deltas in
 * order on top of its snapshot; `rev` is the store's revision (etcd's own) after the change.
 */
export interface Delta {
  type: "delta";
  rev: number;
  nodes?: NodeView[];
  nodesGone?: string[];
  networks?: NetworkRecord[];
  /** Networks this node no longer has endpoints on (their endpoints go too). */
  networksGone?: string[];
  endpoints?: EndpointRecord[];
  endpointsGone?: string[];
  /** Key rings of encrypted networks this node has (a ring replaces the one it had). */
  keys?: Record<string, NetworkKey[]>;
  /** SAs announced on those networks, and those withdrawn (ids "<network>/<node>/<gen>"). */
  sas?: SaAnnouncement[];
  sasGone?: string[];
}

/** The cluster store a manager uses (absent: the embedded one). PEM texts, not paths. */
export interface StoreConfig {
  url: string;
  ca?: string;
  cert?: string;
  key?: string;
}

/** What a node is told: itself, the nodes, and only the networks it has endpoints on (lazy). */
export interface Snapshot {
  version: number;
  clusterId: string;
  dataPathPort: number;
  nodeId: string;
  nodes: NodeView[];
  networks: NetworkRecord[];
  endpoints: EndpointRecord[];
  /** Encrypted networks among `networks`: their key rings, and the SAs nodes announced. */
  keys?: Record<string, NetworkKey[]>;
  sas?: SaAnnouncement[];
}

/** Milliseconds between heartbeats from a worker (and a manager's answers). */
export const HEARTBEAT_INTERVAL_MS = 1000;
/** Milliseconds of silence after which a session is closed (either side) and, with no session on
 * any manager, the leader marks the node Down. */
export const HEARTBEAT_TIMEOUT_MS = 5000;
/** The snapshot the data plane programs: endpoints of Down nodes left out (except the node's own). */
export function visibleSnapshot(s: Snapshot): Snapshot {
  const down = new Set(s.nodes.filter((n) => n.status === "Down").map((n) => n.id));
  if (!down.size) return s;
  return { ...s, endpoints: s.endpoints.filter((e) => e.node === s.nodeId || !down.has(e.node)) };
}
