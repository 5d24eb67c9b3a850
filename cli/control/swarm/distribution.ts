// What a manager tells its nodes: a snapshot when a session starts without usable history, then
// deltas built from the store's watch. A node hears only what concerns it (lazy extension, as
// Docker's overlay driver learns peers on demand): the managers, itself, and the networks it has
// endpoints on with their endpoints, keys and nodes, so a change costs O(nodes on that network),
// not O(nodes × endpoints).

import type { SaAnnouncement } from "../../esp/keys.ts";
import type { KeyRing, NetworkKeys } from "./netkeys.ts";
import { PendingDelta } from "./node_state.ts";
import type { Records } from "./records.ts";
import type { Change, SwarmState } from "./state.ts";
import type { LineConn } from "./wire.ts";
import {
  type Delta,
  type EndpointRecord,
  type NetworkRecord,
  type NodeRecord,
  type NodeView,
  type Snapshot,
  visibleSnapshot,
} from "./types.ts";

/** Milliseconds a delta waits for others to the same node (one message for a burst of changes). */
export const DELTA_BATCH_MS = 2;

/** Where the distribution sends: the sessions of this manager, and its own node's data plane. */
export interface Recipients {
  /** The open session of a node on this manager, if any. */
  conn(nodeId: string): LineConn | undefined;
  /** Node ids with a session on this manager. */
  sessionIds(): Iterable<string>;
  /** This manager's own node: what it programs (Down nodes' endpoints left out). */
  local(s: Snapshot): void;
}

/** The interest index (network → nodes with endpoints on it) and the snapshots and deltas built
 * from it for one manager's nodes. */
export class Distribution {
  /** network id → node id → endpoints that node has on it. */
  private readonly interest = new Map<string, Map<string, number>>();
  private readonly pending = new Map<string, PendingDelta>();
  private localDirty = false;
  private flushTimer?: ReturnType<typeof setTimeout>;
  /** Bytes of deltas and snapshots sent to nodes (JSON lines, newline included). */
  bytesSent = 0;

  constructor(
    private readonly state: SwarmState,
    private readonly records: Records,
    private readonly keys: NetworkKeys,
    private readonly to: Recipients,
  ) {}

  /** The interest index again from every endpoint (at load, and after the mirror was reset). */
  rebuild(): void {
    this.interest.clear();
    for (const e of this.records.endpoints()) this.addInterest(e, 1);
  }

  /** Stops the pending flush (the manager is stopping). */
  stop(): void {
    clearTimeout(this.flushTimer);
  }

  /** Network ids the node has endpoints on. */
  netsOf(nodeId: string): string[] {
    const out: string[] = [];
    for (const [net, nodes] of this.interest) if (nodes.has(nodeId)) out.push(net);
    return out;
  }

  /** Nodes that share a network with this one (and itself). */
  peersOf(nodeId: string): Set<string> {
    const out = new Set([nodeId]);
    for (const nodes of this.interest.values()) {
      if (nodes.has(nodeId)) { for (const n of nodes.keys()) out.add(n); }
    }
    return out;
  }

  /**
   * The nodes a node is told about: the managers (to fail over to), itself, and the nodes it
   * shares a network with (their VTEP addresses). Not the whole swarm: a node joining would
   * otherwise cost a message to every node, O(nodes²) for a swarm coming up.
   */
  private nodesFor(nodeId: string): NodeView[] {
    const peers = this.peersOf(nodeId);
    return this.state.all<NodeRecord>("node").filter((n) => n.role === "manager" || peers.has(n.id))
      .map((n) => this.records.view(n));
  }

  /**
   * What a node is told in full: the nodes it needs (nodesFor), and the networks it has
   * endpoints on with all their endpoints (Down nodes' too: the node leaves those out itself,
   * see visibleSnapshot()), their key rings and SAs; `version` is the store revision.
   */
  snapshotFor(nodeId: string): Snapshot {
    const mine = new Set(this.netsOf(nodeId));
    const c = this.records.cluster;
    return {
      version: this.state.revision,
      clusterId: c.id,
      dataPathPort: c.dataPathPort,
      nodeId,
      nodes: this.nodesFor(nodeId),
      networks: this.records.networks().filter((n) => mine.has(n.id)),
      endpoints: this.records.endpoints().filter((e) => mine.has(e.network)),
      ...this.keys.forNetworks(mine),
    };
  }

  /** What this manager's own node programs (Down nodes' endpoints left out). */
  localSnapshot(): Snapshot {
    return visibleSnapshot(this.snapshotFor(this.records.localNodeId));
  }

  /** Hands the local snapshot to this manager's own node now. */
  pushLocal(): void {
    this.to.local(this.localSnapshot());
  }

  /** Counts an endpoint in (+1) or out (-1); true when its node's interest started or ended. */
  private addInterest(e: EndpointRecord, d: 1 | -1): boolean {
    let nodes = this.interest.get(e.network);
    if (!nodes) this.interest.set(e.network, nodes = new Map());
    const n = (nodes.get(e.node) ?? 0) + d;
    if (n <= 0) nodes.delete(e.node);
    else nodes.set(e.node, n);
    if (!nodes.size) this.interest.delete(e.network);
    return d === 1 ? n === 1 : n === 0;
  }

  /** One JSON line to a node's session on this manager (none: dropped, it resyncs on reconnect). */
  send(nodeId: string, m: unknown): void {
    const conn = this.to.conn(nodeId);
    if (!conn) return;
    const text = JSON.stringify(m);
    this.bytesSent += text.length + 1;
    conn.sendText(text);
  }

  /**
   * Deltas go out in batches: what one read of the watch brings (many revisions under load) is one
   * message per node, not one per revision, and the local data plane is reprogrammed once.
   */
  private queue(nodeId: string, d: Delta): void {
    if (nodeId === this.records.localNodeId) this.localDirty = true;
    else {
      let p = this.pending.get(nodeId);
      if (!p) this.pending.set(nodeId, p = new PendingDelta());
      p.add(d);
    }
    this.flushTimer ??= setTimeout(() => this.flush(), DELTA_BATCH_MS);
  }

  private flush(): void {
    this.flushTimer = undefined;
    for (const [node, p] of this.pending) this.send(node, p.toDelta());
    this.pending.clear();
    if (this.localDirty) {
      this.localDirty = false;
      this.pushLocal();
    }
  }

  /** A full snapshot to a node (it replaces any delta still pending for it). */
  sendSnapshot(nodeId: string): void {
    // The snapshot has everything a pending delta would bring.
    this.pending.delete(nodeId);
    this.send(nodeId, { type: "snapshot", snapshot: this.snapshotFor(nodeId) });
  }

  /**
   * A node's session starts: what changed since the revision it has (`hello.rev`, with the
   * network ids it holds in `hello.have`), or a full snapshot when it has none, is of another
   * swarm, or the store no longer has the deletions since then (etcd compacted).
   */
  async resync(nodeId: string, hello: Record<string, any>): Promise<void> {
    this.pending.delete(nodeId);
    const rev = Number(hello.rev);
    const deleted = hello.cluster === this.records.cluster.id && Number.isInteger(rev) && rev > 0
      ? await this.state.deletedSince(rev)
      : null;
    if (!deleted || !Array.isArray(hello.have)) return this.sendSnapshot(nodeId);
    const have = new Set<string>(hello.have.map(String));
    const mine = new Set(this.netsOf(nodeId));
    const d: Delta = { type: "delta", rev: this.state.revision };
    const relevant = this.peersOf(nodeId);
    const changedNodes = this.state.all<NodeRecord>("node").filter((n) =>
      (n.role === "manager" || relevant.has(n.id)) && Math.max(
            this.state.modRev("node", n.id),
            this.state.modRev("down", n.id),
            this.state.modRev("manager", n.id),
            this.state.modRev("leader", "leader"),
          ) > rev ||
      deleted.has(`down/${n.id}`) || deleted.has(`manager/${n.id}`) || deleted.has("leader/leader")
    );
    d.nodes = changedNodes.map((n) => this.records.view(n));
    d.nodesGone = [...deleted].filter((k) => k.startsWith("node/")).map((k) => k.slice(5));
    d.networks = [];
    d.endpoints = [];
    for (const netId of mine) {
      const net = this.state.get<NetworkRecord>("network", netId);
      if (!net) continue;
      const fresh = !have.has(netId);
      if (fresh || this.state.modRev("network", netId) > rev) d.networks.push(net);
      for (const [id, e, r] of this.state.entries<EndpointRecord>("endpoint")) {
        if (e.network === netId && (fresh || r > rev)) d.endpoints.push(e);
        void id;
      }
      const ring = this.keys.ring(netId);
      if (ring && (fresh || this.state.modRev("netkey", netId) > rev)) (d.keys ??= {})[netId] = ring;
      for (const [, a, r] of this.state.entries<SaAnnouncement>("sa")) {
        if (a.network === netId && (fresh || r > rev)) (d.sas ??= []).push(a);
      }
    }
    const sasGone = [...deleted].filter((k) => k.startsWith("sa/")).map((k) => k.slice(3));
    if (sasGone.length) d.sasGone = sasGone;
    d.networksGone = [...have].filter((n) => !mine.has(n));
    d.endpointsGone = [...deleted].filter((k) => k.startsWith("endpoint/")).map((k) => k.slice(9));
    this.send(nodeId, d);
  }

  /** A change from the store (this manager's or another's): deltas to the nodes it concerns,
   * queued (DELTA_BATCH_MS), and the interest index kept up to date. */
  onChange(changes: Change[], rev: number): void {
    const deltas = new Map<string, Delta>();
    const delta = (node: string) => {
      let d = deltas.get(node);
      if (!d) deltas.set(node, d = { type: "delta", rev });
      return d;
    };
    const changedNodes = new Set<string>();
    for (const c of changes) {
      switch (c.kind) {
        case "node":
        case "down":
        case "manager":
          changedNodes.add(c.id);
          break;
        case "leader":
          for (const v of [c.value, c.prev] as ({ id: string } | undefined)[]) if (v) changedNodes.add(v.id);
          break;
        case "network": {
          for (const node of this.interest.get(c.id)?.keys() ?? []) {
            const d = delta(node);
            if (c.value) (d.networks ??= []).push(c.value as NetworkRecord);
            else (d.networksGone ??= []).push(c.id);
          }
          break;
        }
        case "netkey": {
          // A ring (new, or rotated): to the nodes on the network; a removal goes with the network.
          const r = c.value as KeyRing | undefined;
          if (!r) break;
          for (const node of this.interest.get(c.id)?.keys() ?? []) (delta(node).keys ??= {})[c.id] = r.ring;
          break;
        }
        case "sa": {
          const a = (c.value ?? c.prev) as SaAnnouncement | undefined;
          if (!a) break;
          for (const node of this.interest.get(a.network)?.keys() ?? []) {
            const d = delta(node);
            if (c.value) (d.sas ??= []).push(c.value as SaAnnouncement);
            else (d.sasGone ??= []).push(c.id);
          }
          break;
        }
        case "endpoint":
          this.endpointChange(c, delta);
          break;
      }
    }
    if (changedNodes.size) {
      const everyone = [...this.to.sessionIds(), this.records.localNodeId];
      for (const id of changedNodes) {
        const n = this.state.get<NodeRecord>("node", id);
        if (!n) {
          if (!changes.some((c) => c.kind === "node" && c.id === id)) continue;
          for (const node of everyone) (delta(node).nodesGone ??= []).push(id);
          continue;
        }
        // A manager concerns everyone (failover list); a worker only the nodes it shares a network with.
        const v = this.records.view(n);
        for (const node of n.role === "manager" ? everyone : this.peersOf(id)) {
          (delta(node).nodes ??= []).push(v);
        }
      }
    }
    for (const [node, d] of deltas) this.queue(node, d);
  }

  /** An endpoint written or deleted: to the nodes on its network; a node's first endpoint on a
   * network brings it that network in full, and its VTEP to the others. */
  private endpointChange(c: Change, delta: (node: string) => Delta): void {
    const prev = c.prev as EndpointRecord | undefined, e = c.value as EndpointRecord | undefined;
    if (prev && this.addInterest(prev, -1)) (delta(prev.node).networksGone ??= []).push(prev.network);
    if (prev) {
      for (const node of this.interest.get(prev.network)?.keys() ?? []) {
        (delta(node).endpointsGone ??= []).push(prev.id);
      }
    }
    if (!e) return;
    const fresh = this.addInterest(e, 1);
    for (const node of this.interest.get(e.network)?.keys() ?? []) {
      if (fresh && node === e.node) continue;
      (delta(node).endpoints ??= []).push(e);
    }
    if (!fresh) return;
    // First endpoint of this node on the network: to it, the network, all its endpoints
    // and their nodes; to the others, this node (its VTEP address).
    const d = delta(e.node);
    const net = this.state.get<NetworkRecord>("network", e.network);
    if (net) (d.networks ??= []).push(net);
    (d.endpoints ??= []).push(...this.records.networkEndpoints(e.network));
    // An encrypted network's key ring and SAs come with it.
    const { keys, sas } = this.keys.forNetworks(new Set([e.network]));
    if (keys[e.network]) (d.keys ??= {})[e.network] = keys[e.network];
    if (sas.length) (d.sas ??= []).push(...sas);
    if (d.networksGone) d.networksGone = d.networksGone.filter((n) => n !== e.network);
    const owners = [...this.interest.get(e.network)!.keys()];
    const views = owners.map((id) => this.state.get<NodeRecord>("node", id)).filter((n) => n)
      .map((n) => this.records.view(n!));
    (d.nodes ??= []).push(...views);
    const mine = views.find((v) => v.id === e.node);
    if (mine) {
      for (const node of owners) if (node !== e.node) (delta(node).nodes ??= []).push(mine);
    }
  }
}
