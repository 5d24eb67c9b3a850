// What a node knows of the swarm between full resyncs: every node, and the networks it has
// endpoints on with their endpoints, at a revision. Tables keyed by id, so a delta costs what it
// carries, not what the node already has (a node on a network of 1,000 endpoints applies one
// endpoint in O(1)); the Snapshot the data plane wants is built only when asked for.

import type { Delta, EndpointRecord, NetworkRecord, NodeView, Snapshot } from "./types.ts";
import type { NetworkKey, SaAnnouncement } from "../../esp/keys.ts";
import { saId } from "./netkeys.ts";

/** A node's tables of what it was told (NodeState.from a snapshot, then apply() each delta). */
export class NodeState {
  readonly nodes = new Map<string, NodeView>();
  readonly networks = new Map<string, NetworkRecord>();
  readonly endpoints = new Map<string, EndpointRecord>();
  /** Encrypted networks among `networks`: their key rings, and the SAs announced (by saId). */
  readonly keys = new Map<string, NetworkKey[]>();
  readonly sas = new Map<string, SaAnnouncement>();
  private built?: Snapshot;

  private constructor(
    readonly nodeId: string,
    readonly clusterId: string,
    readonly dataPathPort: number,
    public version: number,
  ) {}

  /** The tables of a full snapshot (endpoints, keys and SAs of networks it does not hold are dropped). */
  static from(s: Snapshot): NodeState {
    const n = new NodeState(s.nodeId, s.clusterId, s.dataPathPort, s.version);
    for (const x of s.nodes) n.nodes.set(x.id, x);
    for (const x of s.networks) n.networks.set(x.id, x);
    for (const x of s.endpoints) if (n.networks.has(x.network)) n.endpoints.set(x.id, x);
    for (const [net, ring] of Object.entries(s.keys ?? {})) if (n.networks.has(net)) n.keys.set(net, ring);
    for (const a of s.sas ?? []) if (n.networks.has(a.network)) n.sas.set(saId(a), a);
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
      for (const id of gone) this.keys.delete(id);
      for (const [id, a] of this.sas) if (gone.has(a.network)) this.sas.delete(id);
    }
    for (const n of d.networks ?? []) this.networks.set(n.id, n);
    for (const id of d.endpointsGone ?? []) this.endpoints.delete(id);
    for (const e of d.endpoints ?? []) if (this.networks.has(e.network)) this.endpoints.set(e.id, e);
    for (const [net, ring] of Object.entries(d.keys ?? {})) {
      if (this.networks.has(net)) this.keys.set(net, ring);
    }
    for (const id of d.sasGone ?? []) this.sas.delete(id);
    for (const a of d.sas ?? []) if (this.networks.has(a.network)) this.sas.set(saId(a), a);
  }

  /** The tables as a Snapshot (built once per change, then cached). */
  snapshot(): Snapshot {
    return this.built ??= {
      version: this.version,
      clusterId: this.clusterId,
      dataPathPort: this.dataPathPort,
      nodeId: this.nodeId,
      nodes: [...this.nodes.values()],
      networks: [...this.networks.values()],
      endpoints: [...this.endpoints.values()],
      keys: Object.fromEntries(this.keys),
      sas: [...this.sas.values()],
    };
  }
}

/**
 * Deltas for one node merged until they are sent (a manager batches what its watch delivers in
 * one go): the latest record wins, a removal cancels an earlier put, a put an earlier removal.
 * Applying the merged delta gives what applying each in turn would.
 */
export class PendingDelta {
  rev = 0;
  private readonly nodes = new Map<string, NodeView>();
  private readonly nodesGone = new Set<string>();
  private readonly networks = new Map<string, NetworkRecord>();
  private readonly networksGone = new Set<string>();
  private readonly endpoints = new Map<string, EndpointRecord>();
  private readonly endpointsGone = new Set<string>();
  private readonly keys = new Map<string, NetworkKey[]>();
  private readonly sas = new Map<string, SaAnnouncement>();
  private readonly sasGone = new Set<string>();

  /** Merges a delta in; `rev` is the highest seen. */
  add(d: Delta): void {
    this.rev = Math.max(this.rev, d.rev);
    for (const v of d.nodes ?? []) this.nodes.set(v.id, v), this.nodesGone.delete(v.id);
    for (const id of d.nodesGone ?? []) this.nodes.delete(id), this.nodesGone.add(id);
    for (const id of d.networksGone ?? []) {
      this.networks.delete(id);
      for (const [eid, e] of this.endpoints) if (e.network === id) this.endpoints.delete(eid);
      this.keys.delete(id);
      for (const [sid, a] of this.sas) if (a.network === id) this.sas.delete(sid);
      this.networksGone.add(id);
    }
    // A network gone and back in one batch: applied gone first, then put (NodeState.apply's order).
    for (const n of d.networks ?? []) this.networks.set(n.id, n);
    for (const id of d.endpointsGone ?? []) this.endpoints.delete(id), this.endpointsGone.add(id);
    for (const e of d.endpoints ?? []) this.endpoints.set(e.id, e), this.endpointsGone.delete(e.id);
    for (const [net, ring] of Object.entries(d.keys ?? {})) this.keys.set(net, ring);
    for (const id of d.sasGone ?? []) this.sas.delete(id), this.sasGone.add(id);
    for (const a of d.sas ?? []) this.sas.set(saId(a), a), this.sasGone.delete(saId(a));
  }

  /** One delta equivalent to every delta added, in NodeState.apply's order. */
  toDelta(): Delta {
    const d: Delta = { type: "delta", rev: this.rev };
    if (this.nodes.size) d.nodes = [...this.nodes.values()];
    if (this.nodesGone.size) d.nodesGone = [...this.nodesGone];
    if (this.networksGone.size) d.networksGone = [...this.networksGone];
    if (this.networks.size) d.networks = [...this.networks.values()];
    if (this.endpointsGone.size) d.endpointsGone = [...this.endpointsGone];
    if (this.endpoints.size) d.endpoints = [...this.endpoints.values()];
    if (this.keys.size) d.keys = Object.fromEntries(this.keys);
    if (this.sasGone.size) d.sasGone = [...this.sasGone];
    if (this.sas.size) d.sas = [...this.sas.values()];
    return d;
  }
}
