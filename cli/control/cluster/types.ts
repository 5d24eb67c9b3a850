// Records of the cluster state (the manager's store) and the snapshot each node receives.

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
  /** The secret half of the manager join token (swarms on a cluster store). */
  managerSecret?: string;
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
  /** A manager's control listener, "host:port" (older stores: the cluster record's). */
  listen?: string;
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
}

/** Seconds between heartbeats from a worker, and silence after which the manager marks it Down. */
export const HEARTBEAT_INTERVAL_MS = 1000;
export const HEARTBEAT_TIMEOUT_MS = 5000;
export const CONTROL_PORT = 2377;

/** The snapshot the data plane programs: endpoints of Down nodes left out (except the node's own). */
export function visibleSnapshot(s: Snapshot): Snapshot {
  const down = new Set(s.nodes.filter((n) => n.status === "Down").map((n) => n.id));
  if (!down.size) return s;
  return { ...s, endpoints: s.endpoints.filter((e) => e.node === s.nodeId || !down.has(e.node)) };
}
