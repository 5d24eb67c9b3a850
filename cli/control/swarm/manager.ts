// A manager: the swarm's state (a SwarmState: the embedded log for one manager, etcd for
// several), the CA, and the TLS listener on 2377 that nodes join through and keep a session on.
// Any manager serves every request and every node session; managers never talk to each other,
// only to the store:
//   - writes that must not race (names, subnets, VNIs, addresses) are store transactions with
//     conditions (etcd's compare-and-swap), retried against the fresh state when they lose (txn.ts);
//   - every change reaches every manager through the store's watch, with its revision, and each
//     sends its own sessions a delta (distribution.ts);
//   - a node that reconnects says which revision it has and gets what changed since (a full
//     snapshot only when that history is gone);
//   - one manager at a time holds the leader key (an etcd lease, LEASE_TTL_S): the leader marks
//     nodes without a session for HEARTBEAT_TIMEOUT_MS Down; when it dies another takes over
//     (leadership.ts).
// This file wires the parts: records.ts (reads), sessions.ts (listener, joins, heartbeats),
// distribution.ts (snapshots, deltas), networks.ts (networks, endpoints, IPAM; input checks in
// network_options.ts, VNIs from vni.ts), leadership.ts (presence, leader, role changes, node rm),
// netkeys.ts (encrypted networks), init.ts (swarm init), txn.ts (writes).

import { formatToken, issueCert, type KeyPairPem } from "./pki.ts";
import { createSwarm, type InitOptions } from "./init.ts";
import { KeyError, NetworkKeys } from "./netkeys.ts";
import type { SaAnnouncement } from "../../esp/keys.ts";
import type { Credentials } from "./agent.ts";
import { SwarmError } from "./errors.ts";
import { endpointDels, Records } from "./records.ts";
import { Sessions } from "./sessions.ts";
import { Distribution } from "./distribution.ts";
import { Networks } from "./networks.ts";
import { Leadership, NEEDS_CLUSTER_STORE } from "./leadership.ts";
import { VniAllocator } from "./vni.ts";
import { cas, write } from "./txn.ts";
import type {
  EndpointRecord,
  NetworkOptions,
  NetworkRecord,
  NodeRecord,
  NodeView,
  Snapshot,
  StoreConfig,
  SwarmRecord,
} from "./types.ts";
import { type Change, EmbeddedState, EtcdState, type Op, type SwarmState } from "./state.ts";

export { SwarmError };
export type { InitOptions };

/** Milliseconds between two rounds of tick(). */
const TICK_MS = 500;

/** A manager of the swarm: its store, CA, sessions and the operations nodes and the API ask for. */
export class Manager {
  private ca!: KeyPairPem;
  private server!: KeyPairPem;
  private timer?: ReturnType<typeof setInterval>;
  private stopped = false;
  private ticking = false;
  /** What this manager's own node should program, after every change that concerns it. */
  onLocalSnapshot: (s: Snapshot) => void = () => {};
  /** This manager was demoted: the daemon goes on as a worker with these credentials. */
  onDemoted: (creds: Credentials) => void = () => {};
  /** Where the manager reports (stderr by default). */
  log: (msg: string) => void = (m) => console.error(m);

  /** Key rings and SAs of encrypted networks (records of the state, like networks). */
  readonly keys: NetworkKeys;
  /** Reads of the mirror: nodes, networks, endpoints, their views. */
  readonly records: Records;
  /** The listener and node sessions. */
  readonly sessions: Sessions;
  /** Snapshots and deltas to the nodes. */
  readonly distribution: Distribution;
  /** Presence, the leader key, role changes. */
  readonly leadership: Leadership;
  private readonly nets: Networks;

  /** Store configuration a joining manager needs (etcd only). */
  storeConfig?: StoreConfig;

  private constructor(readonly state: SwarmState, readonly localNodeId: string) {
    this.keys = new NetworkKeys(state);
    this.records = new Records(state, localNodeId);
    const log = (m: string) => this.log(m);
    // The closures are called only once the manager runs, when every part exists.
    this.distribution = new Distribution(state, this.records, this.keys, {
      conn: (id) => this.sessions.conn(id),
      sessionIds: () => this.sessions.ids(),
      local: (s) => this.onLocalSnapshot(s),
    });
    this.sessions = new Sessions({
      state,
      records: this.records,
      distribution: this.distribution,
      caCert: () => this.ca.cert,
      storeConfig: () => this.storeConfig,
      request: (nodeId, op, args) => this.request(nodeId, op, args),
      removeNode: (id) => this.removeNode(id),
      promotion: (nodeId) => this.promotion(nodeId),
      log,
    });
    this.leadership = new Leadership(state, this.records, log);
    this.nets = new Networks(state, this.records, this.keys, new VniAllocator());
  }

  /** The swarm's record. */
  get cluster(): SwarmRecord {
    return this.records.cluster;
  }

  /** This manager's node record. */
  get self(): NodeRecord {
    return this.records.self;
  }

  /** Bytes of deltas and snapshots sent to nodes (bench:control reads it). */
  get bytesSent(): number {
    return this.distribution.bytesSent;
  }

  /**
   * A new swarm (createSwarm) in `state` (default: the embedded store under stateDir), and its
   * first manager.
   * @throws SwarmError (409) when the store already holds a swarm or another manager initialised
   * one at the same time; IpamError for a bad pool; StoreUnavailableError/EtcdError when the
   * store cannot be reached.
   */
  static async init(stateDir: string, o: InitOptions, state?: SwarmState): Promise<Manager> {
    state ??= new EmbeddedState(`${stateDir}/store.jsonl`);
    await state.start();
    const nodeId = await createSwarm(state, o);
    const m = new Manager(state, nodeId);
    await m.load();
    return m;
  }

  /**
   * This manager again, on a store that has its node record (`nodeId`; default: the first
   * manager's, for a single-manager store).
   * @throws SwarmError (409) when this node is no longer a manager there.
   */
  static async open(state: SwarmState, nodeId?: string): Promise<Manager> {
    await state.start();
    nodeId ??= state.all<NodeRecord>("node").find((n) => n.role === "manager")?.id;
    const node = nodeId ? state.get<NodeRecord>("node", nodeId) : undefined;
    // A manager demoted while it was down opens once more, to become a worker (becomeWorker()).
    if (!node || (node.role !== "manager" && node.secretHash !== "")) {
      await state.close();
      throw new SwarmError(
        `this node is no longer a manager of the swarm in ${state.describe}: leave and join again`,
        409,
      );
    }
    const m = new Manager(state, nodeId!);
    await m.load();
    return m;
  }

  private async load(): Promise<void> {
    this.ca = this.state.get<KeyPairPem>("ca", "ca")!;
    const c = this.cluster;
    const me = this.self;
    const [host] = this.records.listenOf(me);
    const ips = ["127.0.0.1", me.addr];
    if (host !== "0.0.0.0") ips.push(host);
    this.server = await issueCert(this.ca, `weft-manager-${c.id.slice(0, 12)}`, ips);
    this.distribution.rebuild();
    this.state.onChange = (changes, rev) => this.onChange(changes, rev);
    this.state.onReset = () => {
      this.distribution.rebuild();
      for (const id of this.sessions.ids()) this.distribution.sendSnapshot(id);
      this.distribution.pushLocal();
    };
    // A new lease (the old one expired while etcd was away): our presence and sessions again.
    this.state.onLeaseRenewed = () => {
      this.leadership.announce().catch(() => {});
      this.sessions.rewriteKeys();
    };
    this.state.log = (m) => this.log(m);
  }

  /**
   * The join token for a role (Docker's `swarm join-token`): WFTKN-1-<CA digest>-<secret>.
   * @throws SwarmError (409) for a manager token on a swarm without a cluster store.
   */
  token(role: "worker" | "manager" = "worker"): string {
    const c = this.cluster;
    if (role === "manager") {
      if (!c.managerSecret || this.state.describe === "embedded") {
        throw new SwarmError(NEEDS_CLUSTER_STORE, 409);
      }
      return formatToken({ digest: c.caDigest, secret: c.managerSecret });
    }
    return formatToken({ digest: c.caDigest, secret: c.workerSecret });
  }

  /** The address a join command names: this manager's control address. */
  joinAddress(): string {
    return this.records.controlAddr(this.self);
  }

  /** Listens for nodes, announces this manager and ticks every TICK_MS. */
  start(): void {
    const [hostname, port] = this.records.listenOf(this.self);
    this.sessions.listen(hostname, port, this.server);
    this.leadership.announce().catch((e) =>
      this.log(`cannot announce this manager: ${e instanceof Error ? e.message : e}`)
    );
    this.timer = setInterval(() => {
      // One tick at a time: under load a tick's writes can take longer than TICK_MS.
      if (this.ticking) return;
      this.ticking = true;
      this.tick().catch(() => {}).finally(() => this.ticking = false);
    }, TICK_MS);
  }

  /** `swarm update --key-rotation-interval` (ms), kept in the cluster record (every manager reads it).
   * @throws SwarmError (503) when every CAS attempt lost. */
  async setKeyRotation(ms: number): Promise<void> {
    await cas(this.state, () => ({
      conds: [{ unchanged: ["cluster", "cluster"], rev: this.state.modRev("cluster", "cluster") }],
      ops: [{ put: ["cluster", "cluster"], value: { ...this.cluster, keyRotationMs: ms } }],
      result: undefined,
    }));
    this.keys.rotationMs = ms;
  }

  /**
   * Rotates the key rings that are due at `now` (ms; the leader does, from its tick; a ring
   * changed meanwhile by another manager is left for the next tick). True when any did.
   */
  async rotateKeys(now = Date.now()): Promise<boolean> {
    const ms = this.cluster.keyRotationMs;
    if (ms) this.keys.rotationMs = ms;
    let any = false;
    for (const net of this.keys.due(now)) {
      const w = this.keys.rotateWrite(net, now);
      if (w && await write(this.state, w.conds, w.ops)) any = true;
    }
    return any;
  }

  /** Presence and, when free, the leader key at once (not a tick later): `weft swarm init`
   * then `weft node ls` shows this manager as Leader, as Docker does. */
  async ready(): Promise<void> {
    if (this.state.unhealthy()) return;
    await this.leadership.announce();
    await this.leadership.claim();
  }

  /** Closes the listener and sessions and the store; idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.distribution.stop();
    this.sessions.stop();
    await this.state.close();
  }

  /** Every TICK_MS: silent sessions end; the leader key is taken if free; the leader rotates
   * keys and marks Down. */
  private async tick(): Promise<void> {
    const now = Date.now();
    this.sessions.expire(now);
    if (this.state.unhealthy()) return;
    if (this.state.get("manager", this.localNodeId) === undefined && this.self) {
      await this.leadership.announce();
    }
    await this.leadership.claim();
    if (!this.isLeader()) return;
    await this.rotateKeys().catch((e) => this.log(`key rotation: ${e instanceof Error ? e.message : e}`));
    await this.leadership.markDown(now);
  }

  /** True when this manager holds the leader key. */
  isLeader(): boolean {
    return this.leadership.isLeader();
  }

  /** A node, its endpoints, its SAs and its session, gone. */
  private async removeNode(id: string): Promise<void> {
    const ops: Op[] = [{ del: ["node", id] }, { del: ["down", id] }, { del: ["session", id] }];
    for (const e of this.state.all<EndpointRecord>("endpoint")) {
      if (e.node === id) ops.push(...endpointDels(e));
    }
    ops.push(...this.keys.removeNodeOps(id));
    await write(this.state, [], ops);
    this.sessions.close(id);
  }

  /** Deltas to the nodes, then what a node's role change means for its session or for this manager. */
  private onChange(changes: Change[], rev: number): void {
    this.distribution.onChange(changes, rev);
    for (const c of changes) {
      if (c.kind !== "node") continue;
      const now = c.value as NodeRecord | undefined, prev = c.prev as NodeRecord | undefined;
      // A session whose node was removed ends.
      if (!now) this.sessions.conn(c.id)?.close();
      else if (now.role === "manager" && prev?.role === "worker" && this.sessions.has(c.id)) {
        this.distribution.send(c.id, this.promotion(c.id));
      } else if (c.id === this.localNodeId && now.role === "worker" && prev?.role === "manager") {
        this.becomeWorker().catch((e) => this.log(`demotion: ${e instanceof Error ? e.message : e}`));
      }
    }
  }

  // Reads of the mirror the daemon makes (the rest: this.records).
  /** Every node's view. */
  nodes(): NodeView[] {
    return this.records.nodes();
  }
  /** Every network, oldest first. */
  networks(): NetworkRecord[] {
    return this.records.networks();
  }
  /** Every endpoint. */
  endpoints(): EndpointRecord[] {
    return this.records.endpoints();
  }
  /** A node's full snapshot (distribution.ts). */
  snapshotFor(nodeId: string): Snapshot {
    return this.distribution.snapshotFor(nodeId);
  }
  /** What this manager's own node programs (Down nodes' endpoints left out). */
  localSnapshot(): Snapshot {
    return this.distribution.localSnapshot();
  }

  /**
   * An operation from a node's session (or the local API, as this manager's node): `op` is one of
   * endpoint.create, endpoint.delete, node.leave, nodes, sa.announce; `a` its arguments.
   * @throws SwarmError for an unknown operation and as each operation does.
   */
  async request(nodeId: string, op: string, a: Record<string, any>): Promise<unknown> {
    switch (op) {
      case "endpoint.create":
        return await this.nets.createEndpoint(
          nodeId,
          String(a.network ?? ""),
          String(a.container ?? ""),
          a.ip ? String(a.ip) : undefined,
          a.ip6 ? String(a.ip6) : undefined,
          Array.isArray(a.aliases) ? a.aliases.map(String) : undefined,
        );
      case "endpoint.delete":
        return await this.nets.deleteEndpoint(nodeId, String(a.id ?? ""));
      case "node.leave":
        if (nodeId === this.localNodeId) throw new SwarmError("the manager cannot leave this way");
        await this.removeNode(nodeId);
        return { left: true };
      case "nodes":
        return this.nodes();
      case "sa.announce":
        return await this.announceSa(nodeId, a);
      default:
        throw new SwarmError(`unknown operation "${op.slice(0, 40)}"`);
    }
  }

  /** A node's SA for an encrypted network it has endpoints on, recorded for that network's nodes. */
  private async announceSa(nodeId: string, a: Record<string, any>): Promise<SaAnnouncement> {
    // Its endpoint may have been written through another manager, not yet in this mirror.
    if (!this.distribution.netsOf(nodeId).includes(String(a.network ?? ""))) await this.state.sync();
    return await cas(this.state, () => {
      try {
        const { rec, conds, ops } = this.keys.announce(nodeId, a, new Set(this.distribution.netsOf(nodeId)));
        return { conds, ops, result: rec };
      } catch (e) {
        if (e instanceof KeyError) throw new SwarmError(e.message);
        throw e;
      }
    });
  }

  /** `docker network create -d overlay` (Networks.create, which lists its rules and errors). */
  async createNetwork(o: NetworkOptions): Promise<NetworkRecord> {
    return await this.nets.create(o);
  }

  /** `docker network rm` (Networks.remove). @throws SwarmError (404, 409). */
  async removeNetwork(ref: string): Promise<NetworkRecord> {
    return await this.nets.remove(ref);
  }

  /**
   * `weft node rm`: a node that is Down (or any, with force) and its endpoints.
   * @throws SwarmError (404) unknown node, (409) this manager itself or a node not Down.
   */
  async removeNodeByRef(ref: string, force: boolean): Promise<NodeView> {
    const v = this.leadership.removable(ref, force);
    await this.removeNode(v.id);
    return v;
  }

  /** The last manager leaves with --force: the swarm's keys go from the store. */
  async destroy(): Promise<void> {
    if (this.state instanceof EtcdState) await this.state.etcd.txn([], [{ delPrefix: "/weft/" }]);
  }

  /** One of several managers leaves: its node record and presence go; the others go on. */
  async leave(): Promise<void> {
    await this.leadership.leave();
  }

  /** What a promoted worker is told: where the store is (over its authenticated session). */
  private promotion(nodeId: string) {
    return { type: "promote", nodeId, store: this.storeConfig };
  }

  /** `weft node promote` (Leadership.promote). */
  async promote(ref: string): Promise<NodeView> {
    return await this.leadership.promote(ref, this.storeConfig);
  }

  /** `weft node demote` (Leadership.demote). */
  async demote(ref: string): Promise<NodeView> {
    return await this.leadership.demote(ref);
  }

  /**
   * This manager was demoted: it goes on as a worker (Leadership.asWorker), its credentials
   * handed to onDemoted.
   * @throws SwarmError when no other manager is left.
   */
  async becomeWorker(): Promise<void> {
    this.onDemoted(await this.leadership.asWorker(this.ca.cert));
  }
}
