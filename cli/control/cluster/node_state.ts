// What a node knows of the swarm between full resyncs: every node, and the networks it has
// endpoints on with their endpoints, at a revision. Tables keyed by id, so a delta costs what it
// carries, not what the node already has (a node on a network of 1,000 endpoints applies one
// endpoint in O(1)); the Snapshot the data plane wants is built only when asked for.

import type { Delta, EndpointRecord, NetworkRecord, NodeView, Snapshot } from "./types.ts";

export class NodeState {
  readonly nodes = new Map<string, NodeView>();
  readonly networks = new Map<string, NetworkRecord>();
  readonly endpoints = new Map<string, EndpointRecord>();
  private built?: Snapshot;

  private constructor(
    readonly nodeId: string,
    readonly clusterId: string,
    readonly dataPathPort: number,
    public version: number,
  ) {}

  static from(s: Snapshot): NodeState {
    const n = new NodeState(s.nodeId, s.clusterId, s.dataPathPort, s.version);
    for (const x of s.nodes) n.nodes.set(x.id, x);
    for (const x of s.networks) n.networks.set(x.id, x);
    for (const x of s.endpoints) if (n.networks.has(x.network)) n.endpoints.set(x.id, x);
    return n;
  }

  /** Applies a delta in order: gone before put, networks before their endpoints. */
  apply(d: Delta): void {
    this.built = undefined;
    this.version = d.rev;
    for (const v of d.nodes ?? []) this.nodes.set(v.id, v);
    for (const id of d.nodesGone ?? []) this.nodes.delete(id);
    if (d.networksGone?.length) {
      const gone = new Set(d.networksGone);
      for (const id of gone) this.networks.delete(id);
      for (const [id, e] of this.endpoints) if (gone.has(e.network)) this.endpoints.delete(id);
    }
    for (const n of d.networks ?? []) this.networks.set(n.id, n);
    for (const id of d.endpointsGone ?? []) this.endpoints.delete(id);
    for (const e of d.endpoints ?? []) if (this.networks.has(e.network)) this.endpoints.set(e.id, e);
  }

  snapshot(): Snapshot {
    return this.built ??= {
      version: this.version,
      clusterId: this.clusterId,
      dataPathPort: this.dataPathPort,
      nodeId: this.nodeId,
      nodes: [...this.nodes.values()],
      networks: [...this.networks.values()],
      endpoints: [...this.endpoints.values()],
    };
  }
}
