// Records of the cluster state (the manager's store) and the snapshot each node receives.

import type { NetworkKey, SaAnnouncement } from "../../esp/keys.ts";

/** Names of networks and containers (a container's is its namespace's): as Docker takes them. */
export function validName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name);
}

export interface ClusterRecord {
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
  /** Encrypted overlays: key rotation interval (ms; DEFAULT_KEY_ROTATION_MS when absent). */
  keyRotationMs?: number;
}

export interface NodeRecord {
  id: string;
  hostname: string;
  /** Underlay address: the VTEP's, and where the node is reached. */
  addr: string;
  role: "manager" | "worker";
  availability: "active";
  /** SHA-256 of the node's session secret (issued at join). */
  secretHash: string;
  joinedAt: string;
}

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
  createdAt: string;
  /** `--opt encrypted`: ESP in UDP between nodes (cli/esp/), with keys from the manager. */
  encrypted?: boolean;
}

export interface EndpointRecord {
  id: string;
  network: string;
  node: string;
  container: string;
  ip: string;
  mac: string;
}

export interface NodeView {
  id: string;
  hostname: string;
  addr: string;
  role: "manager" | "worker";
  availability: string;
  status: "Ready" | "Down";
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

/** Seconds between heartbeats from a worker, and silence after which the manager marks it Down. */
export const HEARTBEAT_INTERVAL_MS = 1000;
export const HEARTBEAT_TIMEOUT_MS = 5000;
export const CONTROL_PORT = 2377;
