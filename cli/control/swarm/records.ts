// The read side of a manager: the swarm's records as its store mirror holds them, and the views
// `weft node ls` / `weft network ls` show (Docker's node and network inspect shapes, trimmed).
// Reads are synchronous (the mirror); nothing here writes.

import { SwarmError } from "./errors.ts";
import type { Op, SwarmState } from "./state.ts";
import type { EndpointRecord, NetworkRecord, NodeRecord, NodeView, SwarmRecord } from "./types.ts";

/** The store keys an endpoint holds: its record and its address claims (`ip/`, `ip6/`). */
export function endpointDels(e: EndpointRecord): Op[] {
  const ops: Op[] = [{ del: ["endpoint", e.id] }, { del: ["ip", `${e.network}/${e.ip}`] }];
  if (e.ip6) ops.push({ del: ["ip6", `${e.network}/${e.ip6}`] });
  return ops;
}

/**
 * The network `ref` names among `all`, as Docker resolves a network reference: the exact name
 * first, then the exact id, then an id that starts with `ref` (at least 3 characters). The one
 * lookup of the swarm (Records.findNetwork) and the daemon (its visible networks, a container's
 * attachments).
 * @param key the id and name of an element (default: its own `id` and `name`)
 */
export function findNetwork<T>(
  all: readonly T[],
  ref: string,
  key: (x: T) => { id: string; name: string } = (x) => x as { id: string; name: string },
): T | undefined {
  return all.find((x) => key(x).name === ref) ?? all.find((x) => key(x).id === ref) ??
    (ref.length >= 3 ? all.find((x) => key(x).id.startsWith(ref)) : undefined);
}

/** Queries over one manager's mirror of the store; `localNodeId` is that manager's node id. */
export class Records {
  constructor(readonly state: SwarmState, readonly localNodeId: string) {}

  /** The swarm's record (written once by `swarm init`; `keyRotationMs` by `swarm update`). */
  get cluster(): SwarmRecord {
    return this.state.get<SwarmRecord>("cluster", "cluster")!;
  }

  /** This manager's node record (undefined once it has left). */
  get self(): NodeRecord {
    return this.state.get<NodeRecord>("node", this.localNodeId)!;
  }

  /** Host and port a manager listens on: its `listen` ("host:port"), else (older stores) the
   * cluster record's listenAddr and listenPort. */
  listenOf(n: NodeRecord): [host: string, port: number] {
    if (n.listen) {
      const i = n.listen.lastIndexOf(":");
      return [n.listen.slice(0, i), Number(n.listen.slice(i + 1))];
    }
    return [this.cluster.listenAddr, this.cluster.listenPort];
  }

  /** Where nodes reach a manager, "addr:port": its advertise address and its listen port. */
  controlAddr(n: NodeRecord): string {
    return `${n.addr}:${this.listenOf(n)[1]}`;
  }

  /** Docker's node STATUS: a manager is Ready while its presence key (lease) lives; a worker
   * until the leader marks it `down/` (no session for HEARTBEAT_TIMEOUT_MS). */
  status(n: NodeRecord): "Ready" | "Down" {
    if (n.role === "manager") return this.state.get("manager", n.id) !== undefined ? "Ready" : "Down";
    return this.state.get("down", n.id) === undefined ? "Ready" : "Down";
  }

  /** Docker's MANAGER STATUS: Leader (holds `leader/leader`), Reachable (presence key), else
   * Unreachable (this manager itself too while its store is unhealthy); undefined for a worker. */
  managerStatus(n: NodeRecord): NodeView["managerStatus"] {
    if (n.role !== "manager") return undefined;
    if (n.id === this.localNodeId && this.state.unhealthy()) return "Unreachable";
    if (this.state.get<{ id: string }>("leader", "leader")?.id === n.id) return "Leader";
    return this.state.get("manager", n.id) !== undefined ? "Reachable" : "Unreachable";
  }

  /** What nodes and `weft node ls` are told about a node. */
  view(n: NodeRecord): NodeView {
    return {
      id: n.id,
      hostname: n.hostname,
      addr: n.addr,
      ...(n.dataAddr ? { dataAddr: n.dataAddr } : {}),
      role: n.role,
      availability: n.availability,
      status: this.status(n),
      managerStatus: this.managerStatus(n),
      control: n.role === "manager" ? this.controlAddr(n) : undefined,
    };
  }

  /** Every node's view, in store order. */
  nodes(): NodeView[] {
    return this.state.all<NodeRecord>("node").map((n) => this.view(n));
  }

  /** The managers' control addresses ("addr:port"), the failover list nodes are given. */
  managerAddrs(): string[] {
    return this.state.all<NodeRecord>("node").filter((n) => n.role === "manager").map((n) =>
      this.controlAddr(n)
    );
  }

  /** Every network, oldest first (as `docker network ls` lists them). */
  networks(): NetworkRecord[] {
    return this.state.all<NetworkRecord>("network").sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Every endpoint of every network. */
  endpoints(): EndpointRecord[] {
    return this.state.all<EndpointRecord>("endpoint");
  }

  /** The endpoints of one network (by id). */
  networkEndpoints(netId: string): EndpointRecord[] {
    return this.endpoints().filter((e) => e.network === netId);
  }

  /**
   * A network by name, else full id, else (Docker) an id prefix of 3 characters or more.
   * Pure lookup: undefined when none; callers that must see other managers' writes sync first.
   */
  findNetwork(ref: string): NetworkRecord | undefined {
    return findNetwork(this.networks(), ref);
  }

  /**
   * A node by id, else hostname, else an id prefix of 3 characters or more (`weft node rm`).
   * @throws SwarmError (404) when none matches.
   */
  findNode(ref: string): NodeRecord {
    const all = this.state.all<NodeRecord>("node");
    const n = all.find((x) => x.id === ref) ?? all.find((x) => x.hostname === ref) ??
      (ref.length >= 3 ? all.find((x) => x.id.startsWith(ref)) : undefined);
    if (!n) throw new SwarmError(`node ${ref} not found`, 404);
    return n;
  }
}
