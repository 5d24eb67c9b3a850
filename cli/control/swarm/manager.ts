// A manager: the swarm's state (a SwarmState: the embedded log for one manager, etcd for
// several), the CA, and the TLS listener on 2377 that nodes join through and keep a session on.
// Any manager serves every request and every node session; managers never talk to each other,
// only to the store:
//   - writes that must not race (names, subnets, VNIs, addresses) are store transactions with
//     conditions (etcd's compare-and-swap), retried against the fresh state when they lose;
//   - every change reaches every manager through the store's watch, with its revision, and each
//     sends its own sessions a delta: only the nodes that have endpoints on the network changed
//     (lazy extension), so a change costs O(nodes on that network), not O(nodes × endpoints);
//   - a node that reconnects says which revision it has and gets what changed since (a full
//     snapshot only when that history is gone);
//   - one manager at a time holds the leader key (an etcd lease, LEASE_TTL_S): the leader marks
//     nodes without a session for HEARTBEAT_TIMEOUT_MS Down; when it dies another takes over.
//
// Nothing a peer sends can crash the manager: every connection has its own try/catch, a
// handshake and first-message deadline, a line-length bound, and gets one clear error line.

import {
  caDigest,
  createCa,
  formatToken,
  issueCert,
  type KeyPairPem,
  randomSecret,
  sameSecret,
  sha256Hex,
} from "./pki.ts";
import { LineConn, ProtocolError, withTimeout } from "./wire.ts";
import { KeyError, type KeyRing, NetworkKeys } from "./netkeys.ts";
import { ESP_MTU_REDUCTION } from "../../esp/esp.ts";
import type { SaAnnouncement } from "../../esp/keys.ts";
import { validAlias } from "../../dns/names.ts";
import type { Credentials } from "./agent.ts";
import { PendingDelta } from "./node_state.ts";
import {
  allocateAddress,
  allocateSubnet,
  type Cidr,
  contains,
  formatCidr,
  IpamError,
  ipToInt,
  macFor,
  objectId,
  overlaps,
  parseCidr,
} from "./ipam.ts";
import {
  allocateAddress6,
  bigToIp6,
  type Cidr6,
  contains6,
  formatCidr6,
  ip6ToBig,
  isIpv6Cidr,
  overlaps6,
  parseCidr6,
} from "./ipam6.ts";
import { FIRST_VNI } from "../../defaults.ts";
import {
  type SwarmRecord,
  DEFAULT_MTU,
  type Delta,
  type EndpointRecord,
  HEARTBEAT_TIMEOUT_MS,
  type NetworkOptions,
  type NetworkRecord,
  type NodeRecord,
  type NodeView,
  type Snapshot,
  type StoreConfig,
  validName,
  visibleSnapshot,
} from "./types.ts";
import {
  type Change,
  type SwarmState,
  type Cond,
  EmbeddedState,
  EtcdState,
  type Op,
  StoreUnavailableError,
} from "./state.ts";

/** A hello from a worker that was promoted meanwhile (not an error: it is answered "promote"). */
class PromotedSignal extends Error {
  constructor(readonly nodeId: string) {
    super("promoted");
  }
}

export class SwarmError extends Error {
  override name = "SwarmError";
  constructor(message: string, readonly status = 400) {
    super(message);
  }
}

// Generous: under load a slow handshake that completes beats a retry that starts another one.
const HANDSHAKE_MS = 15000;
const FIRST_MESSAGE_MS = 10000;
const TICK_MS = 500;
/** Milliseconds a delta waits for others to the same node (one message for a burst of changes). */
const DELTA_BATCH_MS = 2;
const SESSION_BATCH = 60;
const SESSION_BATCH_MS = 10;
/** Attempts of a conditional write that lost a race before giving up. */
const CAS_ATTEMPTS = 20;

export interface InitOptions {
  advertiseAddr: string;
  /** The VTEP's address when it differs from advertiseAddr. */
  dataPathAddr?: string;
  listenAddr: string;
  listenPort: number;
  dataPathPort: number;
  pool: string;
  poolMaskLength: number;
  hostname: string;
  /** `--key-rotation-interval` in ms (DEFAULT_KEY_ROTATION_MS when absent). */
  keyRotationMs?: number;
  /** `--esp-port` (ESP_PORT when absent). */
  espPort?: number;
}

interface Session {
  nodeId: string;
  conn: LineConn;
  lastSeen: number;
  /** Revision of this manager's session key: deleted at close only if still ours. */
  keyRev: number;
  /** Failed attempts to write the session key. */
  attempts: number;
}

/** The store keys an endpoint holds: its record and its address claims. */
function endpointDels(e: EndpointRecord): Op[] {
  const ops: Op[] = [{ del: ["endpoint", e.id] }, { del: ["ip", `${e.network}/${e.ip}`] }];
  if (e.ip6) ops.push({ del: ["ip6", `${e.network}/${e.ip6}`] });
  return ops;
}

export class Manager {
  private ca!: KeyPairPem;
  private server!: KeyPairPem;
  private listener?: Deno.TlsListener;
  private readonly sessions = new Map<string, Session>();
  /** Session secrets issued at join, handed over once in the welcome. */
  private readonly issued = new Map<string, string>();
  private timer?: ReturnType<typeof setInterval>;
  /** Leader's view: since when a worker has had no session anywhere. */
  private readonly absentSince = new Map<string, number>();
  /** network id → node id → endpoints that node has on it. */
  private readonly interest = new Map<string, Map<string, number>>();
  private stopped = false;
  private ticking = false;
  private readonly pending = new Map<string, PendingDelta>();
  private localDirty = false;
  private flushTimer?: ReturnType<typeof setTimeout>;
  private readonly sessionWrites = new Map<string, Session>();
  private sessionTimer?: ReturnType<typeof setTimeout>;
  /** "network/address" pairs this manager's pending endpoint writes claim. */
  private readonly inflight = new Set<string>();
  /** Bytes of deltas and snapshots sent to nodes (bench:control reads it). */
  bytesSent = 0;
  onLocalSnapshot: (s: Snapshot) => void = () => {};
  /** This manager was demoted: the daemon goes on as a worker with these credentials. */
  onDemoted: (creds: Credentials) => void = () => {};
  log: (msg: string) => void = (m) => console.error(m);

  /** Key rings and SAs of encrypted networks (records of the state, like networks). */
  readonly keys: NetworkKeys;

  private constructor(readonly state: SwarmState, readonly localNodeId: string) {
    this.keys = new NetworkKeys(state);
  }

  /** Store configuration a joining manager needs (etcd only). */
  storeConfig?: StoreConfig;

  get cluster(): SwarmRecord {
    return this.state.get<SwarmRecord>("cluster", "cluster")!;
  }

  get self(): NodeRecord {
    return this.state.get<NodeRecord>("node", this.localNodeId)!;
  }

  /**
   * A new swarm in `state` (default: the embedded store under stateDir).
   * @throws SwarmError when the store already holds a swarm; StoreUnavailableError/EtcdError
   * when it cannot be reached.
   */
  static async init(stateDir: string, o: InitOptions, state?: SwarmState): Promise<Manager> {
    state ??= new EmbeddedState(`${stateDir}/store.jsonl`);
    await state.start();
    const existing = state.get<SwarmRecord>("cluster", "cluster");
    if (existing) {
      await state.close();
      throw new SwarmError(
        `the cluster store ${state.describe} already holds swarm ${existing.id}: join it with a manager token ("weft swarm join-token manager" on one of its managers), or use another store`,
        409,
      );
    }
    parseCidr(o.pool);
    const id = objectId();
    const ca = await createCa(id);
    const nodeId = objectId();
    const cluster: SwarmRecord = {
      id,
      createdAt: new Date().toISOString(),
      advertiseAddr: o.advertiseAddr,
      listenAddr: o.listenAddr,
      listenPort: o.listenPort,
      dataPathPort: o.dataPathPort,
      pool: o.pool,
      poolMaskLength: o.poolMaskLength,
      caDigest: await caDigest(ca.cert),
      workerSecret: randomSecret(),
      managerSecret: randomSecret(),
      ...(o.keyRotationMs ? { keyRotationMs: o.keyRotationMs } : {}),
      ...(o.espPort ? { espPort: o.espPort } : {}),
    };
    const node: NodeRecord = {
      id: nodeId,
      hostname: o.hostname,
      addr: o.advertiseAddr,
      ...(o.dataPathAddr ? { dataAddr: o.dataPathAddr } : {}),
      role: "manager",
      availability: "active",
      secretHash: "",
      joinedAt: new Date().toISOString(),
      listen: `${o.listenAddr}:${o.listenPort}`,
    };
    const ok = await state.txn([{ absent: ["cluster", "cluster"] }], [
      { put: ["cluster", "cluster"], value: cluster },
      { put: ["ca", "ca"], value: ca },
      { put: ["node", nodeId], value: node },
    ]);
    if (!ok) {
      await state.close();
      throw new SwarmError(
        `another manager initialised a swarm in ${state.describe} at the same time`,
        409,
      );
    }
    const m = new Manager(state, nodeId);
    await m.load();
    return m;
  }

  /** This manager again, on a store that has its node record. */
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
    const [host] = this.listenOf(me);
    const ips = ["127.0.0.1", me.addr];
    if (host !== "0.0.0.0") ips.push(host);
    this.server = await issueCert(this.ca, `weft-manager-${c.id.slice(0, 12)}`, ips);
    this.rebuildInterest();
    this.state.onChange = (changes, rev) => this.onChange(changes, rev);
    this.state.onReset = () => {
      this.rebuildInterest();
      for (const id of this.sessions.keys()) this.sendSnapshot(id);
      this.pushLocal();
    };
    // A new lease (the old one expired while etcd was away): our presence and sessions again.
    this.state.onLeaseRenewed = () => {
      this.announce().catch(() => {});
      for (const s of this.sessions.values()) {
        this.state.txn([], [{ put: ["session", s.nodeId], value: { manager: this.localNodeId } }])
          .then(() => s.keyRev = this.state.modRev("session", s.nodeId)).catch(() => {});
      }
    };
    this.state.log = (m) => this.log(m);
  }

  /** host and port this manager listens on (older stores: the cluster record's). */
  private listenOf(n: NodeRecord): [string, number] {
    if (n.listen) {
      const i = n.listen.lastIndexOf(":");
      return [n.listen.slice(0, i), Number(n.listen.slice(i + 1))];
    }
    return [this.cluster.listenAddr, this.cluster.listenPort];
  }

  /** Where nodes reach a manager: its advertise address and its listen port. */
  controlAddr(n: NodeRecord): string {
    return `${n.addr}:${this.listenOf(n)[1]}`;
  }

  token(role: "worker" | "manager" = "worker"): string {
    const c = this.cluster;
    if (role === "manager") {
      if (!c.managerSecret || this.state.describe === "embedded") {
        throw new SwarmError(
          "this swarm keeps its state in the embedded store of its one manager: more managers need a cluster store (weft swarm init --cluster-store etcd://H1:2379,…)",
          409,
        );
      }
      return formatToken({ digest: c.caDigest, secret: c.managerSecret });
    }
    return formatToken({ digest: c.caDigest, secret: c.workerSecret });
  }

  joinAddress(): string {
    return this.controlAddr(this.self);
  }

  // ── listener ─────────────────────────────────────────────────────────────────────────────

  start(): void {
    const [hostname, port] = this.listenOf(this.self);
    this.listener = Deno.listenTls({ hostname, port, cert: this.server.cert, key: this.server.key });
    (async () => {
      for await (const conn of this.listener!) this.accept(conn).catch(() => {});
    })().catch(() => {});
    this.announce().catch((e) =>
      this.log(`cannot announce this manager: ${e instanceof Error ? e.message : e}`)
    );
    this.timer = setInterval(() => {
      // One tick at a time: under load a tick's writes can take longer than TICK_MS.
      if (this.ticking) return;
      this.ticking = true;
      this.tick().catch(() => {}).finally(() => this.ticking = false);
    }, TICK_MS);
  }

  /** `swarm update --key-rotation-interval`, kept in the cluster record (every manager reads it). */
  async setKeyRotation(ms: number): Promise<void> {
    await this.cas(() => ({
      conds: [{ unchanged: ["cluster", "cluster"], rev: this.state.modRev("cluster", "cluster") }],
      ops: [{ put: ["cluster", "cluster"], value: { ...this.cluster, keyRotationMs: ms } }],
      result: undefined,
    }));
    this.keys.rotationMs = ms;
  }

  /**
   * Rotates the key rings that are due (the leader does, from its tick; a ring changed meanwhile
   * by another manager is left for the next tick). True when any did.
   */
  async rotateKeys(now = Date.now()): Promise<boolean> {
    const ms = this.cluster.keyRotationMs;
    if (ms) this.keys.rotationMs = ms;
    let any = false;
    for (const net of this.keys.due(now)) {
      const w = this.keys.rotateWrite(net, now);
      if (w && await this.write(w.conds, w.ops)) any = true;
    }
    return any;
  }

  /** The leader key when no manager holds it (a conditional write: one manager wins). */
  private async claimLeader(): Promise<void> {
    if (this.state.get("leader", "leader") !== undefined || this.self?.role !== "manager") return;
    if (
      await this.state.txn([{ absent: ["leader", "leader"] }], [{
        put: ["leader", "leader"],
        value: { id: this.localNodeId },
      }])
    ) {
      this.log("this manager is now the leader");
      this.absentSince.clear();
    }
  }

  /** Presence and, when free, the leader key at once (not a tick later): `weft swarm init`
   * then `weft node ls` shows this manager as Leader, as Docker does. */
  async ready(): Promise<void> {
    if (this.state.unhealthy()) return;
    await this.announce();
    await this.claimLeader();
  }

  /** The manager's presence key (its lease keeps it): Reachable in `node ls`. */
  private async announce(): Promise<void> {
    await this.state.txn([], [{
      put: ["manager", this.localNodeId],
      value: { since: new Date().toISOString() },
    }]);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.flushTimer);
    clearTimeout(this.sessionTimer);
    try {
      this.listener?.close();
    } catch { /* closed */ }
    for (const s of this.sessions.values()) s.conn.close();
    this.sessions.clear();
    await this.state.close();
  }

  private async accept(tls: Deno.TlsConn): Promise<void> {
    const remote = `${(tls.remoteAddr as Deno.NetAddr).hostname}:${(tls.remoteAddr as Deno.NetAddr).port}`;
    const conn = new LineConn(tls);
    try {
      await withTimeout(tls.handshake(), HANDSHAKE_MS, "TLS handshake");
    } catch (e) {
      this.log(
        `refused ${remote}: no TLS handshake (${
          e instanceof Error ? e.message : e
        }); the control port speaks TLS only`,
      );
      conn.close();
      return;
    }
    let nodeId: string | undefined;
    let first: Record<string, any> | null;
    try {
      first = await withTimeout(conn.read(), FIRST_MESSAGE_MS, "first message");
      if (!first) return conn.close();
      if (first.type === "ca") {
        // Over a TLS session the client has not verified yet: it checks this against its token.
        await conn.send({ type: "ca", cert: this.ca.cert });
        return conn.close();
      }
      if (first.type === "join") {
        const joined = await this.join(first);
        if (joined.role === "manager") {
          await conn.send({
            type: "welcome",
            role: "manager",
            nodeId: joined.id,
            cluster: this.cluster.id,
            store: this.storeConfig,
          });
          return conn.close();
        }
        nodeId = joined.id;
      } else if (first.type === "hello") {
        try {
          nodeId = await this.hello(first);
        } catch (e) {
          if (!(e instanceof PromotedSignal)) throw e;
          await conn.send(this.promotion(e.nodeId));
          return conn.close();
        }
      } else {
        throw new SwarmError(
          `unexpected message "${String(first.type).slice(0, 40)}": expected join or hello`,
        );
      }
      this.writable();
    } catch (e) {
      const message =
        e instanceof SwarmError || e instanceof ProtocolError || e instanceof StoreUnavailableError
          ? e.message
          : `bad request: ${e instanceof Error ? e.message : e}`;
      this.log(`refused ${remote}: ${message}`);
      await conn.send({ type: "error", message, retry: e instanceof StoreUnavailableError });
      return conn.close();
    }
    const node = this.state.get<NodeRecord>("node", nodeId)!;
    this.sessions.get(nodeId)?.conn.close();
    const session: Session = { nodeId, conn, lastSeen: Date.now(), keyRev: 0, attempts: 0 };
    this.sessions.set(nodeId, session);
    await conn.send({
      type: "welcome",
      nodeId,
      cluster: this.cluster.id,
      dataPathPort: this.cluster.dataPathPort,
      espPort: this.cluster.espPort,
      nodeSecret: this.issued.get(nodeId),
      managers: this.managerAddrs(),
    });
    this.issued.delete(nodeId);
    this.log(`node ${node.hostname} (${nodeId.slice(0, 12)}) connected from ${remote}`);
    // The node's state first (from the mirror), then its session in the store.
    await this.resync(nodeId, first.type === "hello" ? first : {}).catch((e) => {
      this.log(`resync of ${node.hostname}: ${e instanceof Error ? e.message : e}`);
      this.sendSnapshot(nodeId);
    });
    this.recordSession(session);
    try {
      for (;;) {
        const m = await conn.read();
        if (!m) break;
        session.lastSeen = Date.now();
        // Answered, so a node behind a partition notices the silence and fails over.
        if (m.type === "hb") {
          conn.send({ type: "hb" });
          continue;
        }
        if (m.type === "req") {
          // Not awaited: a request waiting on the store must not hold up the heartbeats behind it.
          this.request(nodeId, String(m.op), m.args ?? {}).then(
            (data) => conn.send({ type: "res", id: m.id, ok: true, data }),
            (e) =>
              conn.send({
                type: "res",
                id: m.id,
                ok: false,
                error: e instanceof Error ? e.message : String(e),
              }),
          );
        }
      }
    } catch (e) {
      this.log(`session of ${node.hostname} ended: ${e instanceof Error ? e.message : e}`);
    } finally {
      if (this.sessions.get(nodeId) === session) {
        this.sessions.delete(nodeId);
        if (!this.stopped && session.keyRev) {
          this.state.txn([{ unchanged: ["session", nodeId], rev: session.keyRev }], [{
            del: ["session", nodeId],
          }])
            .catch(() => {});
        }
      }
      conn.close();
    }
  }

  /**
   * Session keys are written in batches (SESSION_BATCH nodes per etcd transaction, within etcd's
   * default 128 operations): a thousand nodes reconnecting at once are 16 writes, not 1,000.
   */
  private recordSession(s: Session): void {
    this.sessionWrites.set(s.nodeId, s);
    this.sessionTimer ??= setTimeout(() => this.flushSessions(), SESSION_BATCH_MS);
  }

  private async flushSessions(): Promise<void> {
    const batch = [...this.sessionWrites.values()].filter((s) => this.sessions.get(s.nodeId) === s)
      .slice(0, SESSION_BATCH);
    this.sessionWrites.clear();
    let failed = false;
    if (batch.length && !this.stopped) {
      const ops: Op[] = batch.flatMap((s): Op[] => [
        { put: ["session", s.nodeId], value: { manager: this.localNodeId } },
        { del: ["down", s.nodeId] },
      ]);
      try {
        await this.state.txn([], ops);
        for (const s of batch) s.keyRev = this.state.modRev("session", s.nodeId);
      } catch (e) {
        failed = true;
        this.log(`${batch.length} sessions not recorded yet: ${e instanceof Error ? e.message : e}`);
        for (const s of batch) {
          // Without its session key the leader would mark the node Down: in the end, let it reconnect.
          if (++s.attempts > 5) s.conn.close();
          else this.sessionWrites.set(s.nodeId, s);
        }
      }
    }
    this.sessionTimer = undefined;
    if (this.sessionWrites.size && !this.stopped) {
      this.sessionTimer = setTimeout(() => this.flushSessions(), failed ? 1000 : SESSION_BATCH_MS);
    }
  }

  private async join(m: Record<string, any>): Promise<{ id: string; role: "worker" | "manager" }> {
    this.writable();
    const c = this.cluster;
    const secret = typeof m.secret === "string" ? m.secret : "";
    const role = sameSecret(secret, c.workerSecret)
      ? "worker"
      : c.managerSecret && sameSecret(secret, c.managerSecret)
      ? "manager"
      : undefined;
    if (!role) {
      throw new SwarmError(
        'invalid join token: its secret is not this swarm\'s; get the current one with "weft swarm join-token worker" on a manager',
        401,
      );
    }
    if (role === "manager" && this.state.describe === "embedded") {
      throw new SwarmError("this swarm has one manager and no cluster store: more managers need one", 409);
    }
    const hostname = String(m.hostname ?? "").slice(0, 64);
    const addr = String(m.addr ?? "");
    try {
      ipToInt(addr);
    } catch {
      throw new SwarmError(`invalid advertise address "${addr.slice(0, 40)}": expected an IPv4 address`);
    }
    if (!hostname) throw new SwarmError("a joining node must send its hostname");
    const dataAddr = m.dataAddr === undefined || m.dataAddr === null ? undefined : String(m.dataAddr);
    if (dataAddr !== undefined) {
      try {
        ipToInt(dataAddr);
      } catch {
        throw new SwarmError(
          `invalid data path address "${dataAddr.slice(0, 40)}": expected an IPv4 address`,
        );
      }
    }
    let listen: string | undefined;
    if (role === "manager") {
      const l = String(m.listen ?? `0.0.0.0:${this.listenOf(this.self)[1]}`);
      if (!/^[0-9.]+:\d{1,5}$/.test(l)) throw new SwarmError(`invalid listen address "${l.slice(0, 40)}"`);
      listen = l;
    }
    const clash = this.state.all<NodeRecord>("node").find((n) => n.addr === addr);
    if (clash) {
      // The same host joining again (after a leave it did not announce): replace its record.
      if (clash.role === "manager" && this.state.get("manager", clash.id) !== undefined) {
        throw new SwarmError(`address ${addr} is a running manager's (${clash.hostname})`, 409);
      }
      await this.removeNode(clash.id);
    }
    const id = objectId();
    const nodeSecret = randomSecret(40);
    await this.write([{ absent: ["node", id] }], [{
      put: ["node", id],
      value: {
        id,
        hostname,
        addr,
        ...(dataAddr ? { dataAddr } : {}),
        role,
        availability: "active",
        secretHash: role === "worker" ? await sha256Hex(nodeSecret) : "",
        joinedAt: new Date().toISOString(),
        listen,
      } satisfies NodeRecord,
    }]);
    if (role === "worker") this.issued.set(id, nodeSecret);
    this.log(`node ${hostname} (${id.slice(0, 12)}) joined from ${addr} as a ${role}`);
    return { id, role };
  }

  private async hello(m: Record<string, any>): Promise<string> {
    const node = typeof m.nodeId === "string" ? this.state.get<NodeRecord>("node", m.nodeId) : undefined;
    if (
      node?.role === "manager" && typeof m.nodeSecret === "string" && node.secretHash &&
      sameSecret(await sha256Hex(m.nodeSecret), node.secretHash)
    ) {
      // Promoted while away: it is told so and becomes a manager (no session as a worker).
      throw new PromotedSignal(node.id);
    }
    if (
      !node || node.role === "manager" || typeof m.nodeSecret !== "string" ||
      !sameSecret(await sha256Hex(m.nodeSecret), node.secretHash)
    ) {
      throw new SwarmError(
        "unknown node or wrong node secret: this node is not (or no longer) part of the swarm; join again",
        401,
      );
    }
    return node.id;
  }

  /** Every half second: silent sessions end; the leader key is taken if free; the leader marks Down. */
  private async tick(): Promise<void> {
    const now = Date.now();
    for (const s of this.sessions.values()) {
      if (now - s.lastSeen > HEARTBEAT_TIMEOUT_MS) {
        this.log(
          `node ${s.nodeId.slice(0, 12)}: no heartbeat for ${HEARTBEAT_TIMEOUT_MS} ms; closing its session`,
        );
        s.conn.close();
      }
    }
    if (this.state.unhealthy()) return;
    if (this.state.get("manager", this.localNodeId) === undefined && this.self) await this.announce();
    await this.claimLeader();
    if (!this.isLeader()) return;
    await this.rotateKeys().catch((e) => this.log(`key rotation: ${e instanceof Error ? e.message : e}`));
    for (const n of this.state.all<NodeRecord>("node")) {
      if (n.role === "manager" || this.state.get("session", n.id) !== undefined) {
        this.absentSince.delete(n.id);
        continue;
      }
      if (this.state.get("down", n.id) !== undefined) continue;
      const since = this.absentSince.get(n.id) ?? now;
      this.absentSince.set(n.id, since);
      if (now - since > HEARTBEAT_TIMEOUT_MS) {
        const ok = await this.state.txn([{ absent: ["session", n.id] }], [{
          put: ["down", n.id],
          value: { since: new Date().toISOString() },
        }]);
        if (ok) {
          this.log(
            `node ${n.hostname} (${
              n.id.slice(0, 12)
            }) is Down: no session for ${HEARTBEAT_TIMEOUT_MS} ms; withdrawing its endpoints`,
          );
        }
      }
    }
  }

  isLeader(): boolean {
    return this.state.get<{ id: string }>("leader", "leader")?.id === this.localNodeId;
  }

  private async removeNode(id: string): Promise<void> {
    const ops: Op[] = [{ del: ["node", id] }, { del: ["down", id] }, { del: ["session", id] }];
    for (const e of this.state.all<EndpointRecord>("endpoint")) {
      if (e.node === id) ops.push(...endpointDels(e));
    }
    ops.push(...this.keys.removeNodeOps(id));
    await this.write([], ops);
    this.sessions.get(id)?.conn.close();
    this.sessions.delete(id);
  }

  // ── state ────────────────────────────────────────────────────────────────────────────────

  /** Refuses writes when the store cannot be reached (rather than diverge from it). */
  private writable(): void {
    const why = this.state.unhealthy();
    if (why) {
      throw new StoreUnavailableError(
        `this manager cannot reach its cluster store, so it takes no changes: ${why}`,
      );
    }
  }

  private async write(conds: Cond[], ops: Op[]): Promise<boolean> {
    this.writable();
    return await this.state.txn(conds, ops);
  }

  status(n: NodeRecord): "Ready" | "Down" {
    if (n.role === "manager") return this.state.get("manager", n.id) !== undefined ? "Ready" : "Down";
    return this.state.get("down", n.id) === undefined ? "Ready" : "Down";
  }

  managerStatus(n: NodeRecord): NodeView["managerStatus"] {
    if (n.role !== "manager") return undefined;
    if (n.id === this.localNodeId && this.state.unhealthy()) return "Unreachable";
    if (this.state.get<{ id: string }>("leader", "leader")?.id === n.id) return "Leader";
    return this.state.get("manager", n.id) !== undefined ? "Reachable" : "Unreachable";
  }

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

  nodes(): NodeView[] {
    return this.state.all<NodeRecord>("node").map((n) => this.view(n));
  }

  /** Managers nodes can reach, for their failover list. */
  managerAddrs(): string[] {
    return this.state.all<NodeRecord>("node").filter((n) => n.role === "manager").map((n) =>
      this.controlAddr(n)
    );
  }

  networks(): NetworkRecord[] {
    return this.state.all<NetworkRecord>("network").sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  endpoints(): EndpointRecord[] {
    return this.state.all<EndpointRecord>("endpoint");
  }

  findNetwork(ref: string): NetworkRecord | undefined {
    const all = this.networks();
    return all.find((n) => n.name === ref) ?? all.find((n) => n.id === ref) ??
      (ref.length >= 3 ? all.filter((n) => n.id.startsWith(ref)).at(0) : undefined);
  }

  private networkEndpoints(netId: string): EndpointRecord[] {
    return this.endpoints().filter((e) => e.network === netId);
  }

  private netsOf(nodeId: string): string[] {
    const out: string[] = [];
    for (const [net, nodes] of this.interest) if (nodes.has(nodeId)) out.push(net);
    return out;
  }

  /** Nodes that share a network with this one (and itself). */
  private peersOf(nodeId: string): Set<string> {
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
      .map((n) => this.view(n));
  }

  /**
   * What a node is told in full: the nodes it needs (nodesFor), and the networks it has
   * endpoints on with all their endpoints (Down nodes' too: the node leaves those out itself,
   * see visibleSnapshot()).
   */
  snapshotFor(nodeId: string): Snapshot {
    const mine = new Set(this.netsOf(nodeId));
    return {
      version: this.state.revision,
      clusterId: this.cluster.id,
      dataPathPort: this.cluster.dataPathPort,
      nodeId,
      nodes: this.nodesFor(nodeId),
      networks: this.networks().filter((n) => mine.has(n.id)),
      endpoints: this.endpoints().filter((e) => mine.has(e.network)),
      ...this.keys.forNetworks(mine),
    };
  }

  private rebuildInterest(): void {
    this.interest.clear();
    for (const e of this.endpoints()) this.addInterest(e, 1);
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

  private send(nodeId: string, m: unknown): void {
    const s = this.sessions.get(nodeId);
    if (!s) return;
    const text = JSON.stringify(m);
    this.bytesSent += text.length + 1;
    s.conn.sendText(text);
  }

  /**
   * Deltas go out in batches: what one read of the watch brings (many revisions under load) is one
   * message per node, not one per revision, and the local data plane is reprogrammed once.
   */
  private queue(nodeId: string, d: Delta): void {
    if (nodeId === this.localNodeId) this.localDirty = true;
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

  private sendSnapshot(nodeId: string): void {
    // The snapshot has everything a pending delta would bring.
    this.pending.delete(nodeId);
    this.send(nodeId, { type: "snapshot", snapshot: this.snapshotFor(nodeId) });
  }

  /** What this manager's own node programs (Down nodes' endpoints left out). */
  localSnapshot(): Snapshot {
    return visibleSnapshot(this.snapshotFor(this.localNodeId));
  }

  private pushLocal(): void {
    this.onLocalSnapshot(this.localSnapshot());
  }

  /** A node's session starts: what changed since the revision it has, or everything. */
  private async resync(nodeId: string, hello: Record<string, any>): Promise<void> {
    this.pending.delete(nodeId);
    const rev = Number(hello.rev);
    const deleted = hello.cluster === this.cluster.id && Number.isInteger(rev) && rev > 0
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
    d.nodes = changedNodes.map((n) => this.view(n));
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

  /** A change from the store (this manager's or another's): deltas to the nodes it concerns. */
  private onChange(changes: Change[], rev: number): void {
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
        case "endpoint": {
          const prev = c.prev as EndpointRecord | undefined, e = c.value as EndpointRecord | undefined;
          if (prev && this.addInterest(prev, -1)) (delta(prev.node).networksGone ??= []).push(prev.network);
          if (prev) {
            for (const node of this.interest.get(prev.network)?.keys() ?? []) {
              (delta(node).endpointsGone ??= []).push(prev.id);
            }
          }
          if (e) {
            const fresh = this.addInterest(e, 1);
            for (const node of this.interest.get(e.network)?.keys() ?? []) {
              if (fresh && node === e.node) continue;
              (delta(node).endpoints ??= []).push(e);
            }
            if (fresh) {
              // First endpoint of this node on the network: to it, the network, all its endpoints
              // and their nodes; to the others, this node (its VTEP address).
              const d = delta(e.node);
              const net = this.state.get<NetworkRecord>("network", e.network);
              if (net) (d.networks ??= []).push(net);
              (d.endpoints ??= []).push(...this.networkEndpoints(e.network));
              // An encrypted network's key ring and SAs come with it.
              const { keys, sas } = this.keys.forNetworks(new Set([e.network]));
              if (keys[e.network]) (d.keys ??= {})[e.network] = keys[e.network];
              if (sas.length) (d.sas ??= []).push(...sas);
              if (d.networksGone) d.networksGone = d.networksGone.filter((n) => n !== e.network);
              const owners = [...this.interest.get(e.network)!.keys()];
              const views = owners.map((id) => this.state.get<NodeRecord>("node", id)).filter((n) => n)
                .map((n) => this.view(n!));
              (d.nodes ??= []).push(...views);
              const mine = views.find((v) => v.id === e.node);
              if (mine) {
                for (const node of owners) if (node !== e.node) (delta(node).nodes ??= []).push(mine);
              }
            }
          }
          break;
        }
      }
    }
    if (changedNodes.size) {
      const everyone = [...this.sessions.keys(), this.localNodeId];
      for (const id of changedNodes) {
        const n = this.state.get<NodeRecord>("node", id);
        if (!n) {
          if (!changes.some((c) => c.kind === "node" && c.id === id)) continue;
          for (const node of everyone) (delta(node).nodesGone ??= []).push(id);
          continue;
        }
        // A manager concerns everyone (failover list); a worker only the nodes it shares a network with.
        const v = this.view(n);
        for (const node of n.role === "manager" ? everyone : this.peersOf(id)) {
          (delta(node).nodes ??= []).push(v);
        }
      }
    }
    for (const [node, d] of deltas) this.queue(node, d);
    for (const c of changes) {
      if (c.kind !== "node") continue;
      const now = c.value as NodeRecord | undefined, prev = c.prev as NodeRecord | undefined;
      // A session whose node was removed ends.
      if (!now) this.sessions.get(c.id)?.conn.close();
      else if (now.role === "manager" && prev?.role === "worker" && this.sessions.has(c.id)) {
        this.send(c.id, this.promotion(c.id));
      } else if (c.id === this.localNodeId && now.role === "worker" && prev?.role === "manager") {
        this.becomeWorker().catch((e) => this.log(`demotion: ${e instanceof Error ? e.message : e}`));
      }
    }
  }

  // ── operations (from the local API, or a node's session) ──────────────────────────────────

  async request(nodeId: string, op: string, a: Record<string, any>): Promise<unknown> {
    switch (op) {
      case "endpoint.create":
        return await this.createEndpoint(
          nodeId,
          String(a.network ?? ""),
          String(a.container ?? ""),
          a.ip ? String(a.ip) : undefined,
          a.ip6 ? String(a.ip6) : undefined,
          Array.isArray(a.aliases) ? a.aliases.map(String) : undefined,
        );
      case "endpoint.delete":
        return await this.deleteEndpoint(nodeId, String(a.id ?? ""));
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
    if (!this.netsOf(nodeId).includes(String(a.network ?? ""))) await this.state.sync();
    return await this.cas(() => {
      try {
        const { rec, conds, ops } = this.keys.announce(nodeId, a, new Set(this.netsOf(nodeId)));
        return { conds, ops, result: rec };
      } catch (e) {
        if (e instanceof KeyError) throw new SwarmError(e.message);
        throw e;
      }
    });
  }

  /** A conditional write retried against the refreshed mirror until it wins or `attempt` throws. */
  private async cas<T>(attempt: () => { conds: Cond[]; ops: Op[]; result: T }): Promise<T> {
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const { conds, ops, result } = attempt();
      if (await this.write(conds, ops)) return result;
      // Lost to another manager: its write reaches our mirror shortly.
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 30 * (i + 1)));
    }
    throw new SwarmError("the cluster store is too busy: the change lost every race; try again", 503);
  }

  /**
   * A network as `docker network create -d overlay` makes one: at most one IPv4 and (with
   * `ipv6`) one IPv6 --subnet; each --gateway and --ip-range goes to the subnet that contains it
   * (Docker: "no matching subnet for gateway …"); no IPv4 --subnet: the next free /poolMaskLength
   * of the default pool; gateway defaults to the subnet's first address. `mtu`: the
   * com.docker.network.driver.mtu option (68..65535); without it each node derives its own from
   * its underlay (NetworkRecord.mtu is then DEFAULT_MTU, what older nodes use).
   * An explicit subnet may overlap another network's: each overlay is its own L2 domain, kept
   * apart by its VNI (Docker refuses that); only pool allocation avoids subnets in use, and only
   * a pool subnet is claimed in the store (`subnet/<cidr>`, CAS against other managers), as are
   * the name and the VNI. `encrypted`: ESP between nodes, a key ring (netkey/<network>) written in
   * the same transaction (netkeys.ts); its MTU gives up ESP_MTU_REDUCTION.
   * @throws SwarmError (400) for bad input, (409) for a name in use; nothing is stored then
   */
  async createNetwork(o: NetworkOptions): Promise<NetworkRecord> {
    if (!validName(o.name)) {
      throw new SwarmError(`invalid network name "${o.name}": letters, digits, "_", "." and "-", up to 63`);
    }
    const list = (v: string | string[] | undefined) =>
      (v === undefined ? [] : Array.isArray(v) ? v : [v]).map(String);
    const subnets = list(o.subnet), gateways = list(o.gateway), ranges = list(o.ipRange);
    // Everything but the pool subnet depends on the input only: checked once, before any write.
    const v4: { subnet?: Cidr; gateway?: string; range?: Cidr } = {};
    const v6: { subnet?: Cidr6; gateway?: string; range?: Cidr6 } = {};
    try {
      for (const t of subnets) {
        if (isIpv6Cidr(t)) {
          if (v6.subnet) {
            throw new IpamError(`only one IPv6 --subnet per network, got ${formatCidr6(v6.subnet)} and ${t}`);
          }
          v6.subnet = parseCidr6(t);
          if (v6.subnet.bits > 124) throw new IpamError(`subnet ${t} is too small: at most /124`);
        } else {
          if (v4.subnet) {
            throw new IpamError(`only one IPv4 --subnet per network, got ${formatCidr(v4.subnet)} and ${t}`);
          }
          v4.subnet = parseCidr(t);
          if (v4.subnet.bits > 30) throw new IpamError(`subnet ${t} is too small: at most /30`);
        }
      }
      if (v6.subnet && !o.ipv6) throw new IpamError(`IPv6 subnet ${formatCidr6(v6.subnet)} needs --ipv6`);
      if (o.ipv6 && !v6.subnet) {
        throw new IpamError(
          "--ipv6 needs an IPv6 --subnet (weft has no default IPv6 pool), e.g. --subnet fd00:10::/64",
        );
      }
      for (const g of gateways) {
        if (g.includes(":")) {
          if (!v6.subnet || !contains6(v6.subnet, ip6ToBig(g))) {
            throw new IpamError(`no matching subnet for gateway ${g}`);
          }
          v6.gateway = bigToIp6(ip6ToBig(g));
        } else {
          // No explicit IPv4 subnet: a pool subnet cannot be known to contain it.
          if (!v4.subnet || !contains(v4.subnet, ipToInt(g))) {
            throw new IpamError(`no matching subnet for gateway ${g}`);
          }
          v4.gateway = g;
        }
      }
      for (const r of ranges) {
        if (isIpv6Cidr(r)) {
          const rr = parseCidr6(r);
          if (!v6.subnet || !contains6(v6.subnet, rr.base) || rr.bits < v6.subnet.bits) {
            throw new IpamError(`no matching subnet for range ${r}`);
          }
          v6.range = rr;
        } else {
          const rr = parseCidr(r);
          if (!v4.subnet || !contains(v4.subnet, rr.base) || rr.bits < v4.subnet.bits) {
            throw new IpamError(`no matching subnet for range ${r}`);
          }
          v4.range = rr;
        }
      }
      if (o.mtu !== undefined && (!Number.isInteger(o.mtu) || o.mtu < 68 || o.mtu > 65535)) {
        throw new IpamError(`com.docker.network.driver.mtu must be an integer in 68..65535, got ${o.mtu}`);
      }
    } catch (e) {
      if (e instanceof IpamError) throw new SwarmError(e.message);
      if (e instanceof Error && !(e instanceof SwarmError)) throw new SwarmError(e.message);
      throw e;
    }
    return await this.cas(() => {
      if (this.findNetwork(o.name)?.name === o.name || this.state.get("name", `network/${o.name}`)) {
        throw new SwarmError(`network with name ${o.name} already exists`, 409);
      }
      const c = this.cluster;
      // Docker refuses a subnet that overlaps another network's ("Pool overlaps with other one on
      // this address space"): an address must name one container, whichever overlay it is on.
      for (const n of this.networks()) {
        let mine = "", theirs = "";
        if (v4.subnet && overlaps(v4.subnet, parseCidr(n.subnet))) {
          [mine, theirs] = [formatCidr(v4.subnet), n.subnet];
        } else if (v6.subnet && n.subnet6 && overlaps6(v6.subnet, parseCidr6(n.subnet6))) {
          [mine, theirs] = [formatCidr6(v6.subnet), n.subnet6];
        }
        if (mine) {
          throw new SwarmError(
            `Pool overlaps with other one on this address space: subnet ${mine} and network ${n.name}'s ${theirs}`,
            409,
          );
        }
      }
      let subnet: Cidr;
      try {
        if (v4.subnet) subnet = v4.subnet;
        else {
          // Pool subnets in use: every network's and every claim (one another manager is writing).
          const used = this.networks().map((n) => parseCidr(n.subnet));
          for (const [k] of this.state.entries("subnet")) used.push(parseCidr(k));
          subnet = allocateSubnet(parseCidr(c.pool), c.poolMaskLength, used);
        }
      } catch (e) {
        if (e instanceof IpamError) throw new SwarmError(e.message);
        throw e;
      }
      const gateway = v4.gateway ?? allocateAddress(subnet, "", new Set());
      const vnis = new Set(this.networks().map((n) => n.vni));
      let vni = FIRST_VNI;
      while (vnis.has(vni) || this.state.get("vni", String(vni))) vni++;
      const net: NetworkRecord = {
        id: objectId(),
        name: o.name,
        driver: "overlay",
        scope: "swarm",
        subnet: formatCidr(subnet),
        gateway,
        vni,
        mtu: (o.mtu ?? DEFAULT_MTU) - (o.encrypted && o.mtu === undefined ? ESP_MTU_REDUCTION : 0),
        attachable: o.attachable ?? false,
        internal: o.internal ?? false,
        createdAt: new Date().toISOString(),
      };
      if (v4.range) net.ipRange = formatCidr(v4.range);
      if (v6.subnet) {
        net.enableIPv6 = true;
        net.subnet6 = formatCidr6(v6.subnet);
        net.gateway6 = v6.gateway ?? bigToIp6(v6.subnet.base + 1n);
        if (v6.range) net.ipRange6 = formatCidr6(v6.range);
      }
      if (o.mtu !== undefined) net.mtuOption = o.mtu;
      if (o.labels && Object.keys(o.labels).length) net.labels = { ...o.labels };
      const conds: Cond[] = [{ absent: ["name", `network/${o.name}`] }, { absent: ["vni", String(vni)] }];
      const ops: Op[] = [
        { put: ["network", net.id], value: net },
        { put: ["name", `network/${o.name}`], value: net.id },
        { put: ["vni", String(vni)], value: net.id },
      ];
      if (!v4.subnet) {
        conds.push({ absent: ["subnet", net.subnet] });
        ops.push({ put: ["subnet", net.subnet], value: net.id });
      }
      if (o.encrypted) {
        // ESP between nodes: its first key generation in the same transaction as the network.
        net.encrypted = true;
        ops.push(...this.keys.createOps(net.id));
      }
      return { conds, ops, result: net };
    });
  }

  async removeNetwork(ref: string): Promise<NetworkRecord> {
    if (!this.findNetwork(ref)) await this.state.sync();
    const net = this.findNetwork(ref);
    if (!net) throw new SwarmError(`network ${ref} not found`, 404);
    const inUse = () => {
      const users = this.networkEndpoints(net.id);
      if (users.length) {
        throw new SwarmError(
          `network ${net.name} is in use by ${users.length} container(s): ${
            users.map((u) => u.container).join(", ")
          }; remove them first`,
          409,
        );
      }
    };
    inUse();
    // Two steps, so an endpoint another manager adds meanwhile is seen: mark the network (an
    // endpoint create requires it unchanged), then check again with the mirror at that revision.
    const rev = this.state.modRev("network", net.id);
    if (
      !await this.write([{ unchanged: ["network", net.id], rev }], [{
        put: ["network", net.id],
        value: { ...net, removing: true },
      }])
    ) {
      throw new SwarmError(`network ${net.name} changed meanwhile; try again`, 409);
    }
    try {
      inUse();
    } catch (e) {
      await this.write([], [{ put: ["network", net.id], value: net }]).catch(() => {});
      throw e;
    }
    await this.write([], [
      { del: ["network", net.id] },
      { del: ["name", `network/${net.name}`] },
      { del: ["vni", String(net.vni)] },
      // An explicit subnet is not claimed, and may overlap a pool subnet another network holds.
      ...(this.state.get("subnet", net.subnet) === net.id ? [{ del: ["subnet", net.subnet] } as Op] : []),
      ...this.keys.removeOps(net.id),
    ]);
    return net;
  }

  private async createEndpoint(
    nodeId: string,
    ref: string,
    container: string,
    ip?: string,
    ip6?: string,
    aliases?: string[],
  ): Promise<{ endpoint: EndpointRecord; network: NetworkRecord }> {
    const badAlias = aliases?.find((a) => !validAlias(a));
    if (badAlias !== undefined) {
      throw new SwarmError(`invalid --network-alias "${badAlias}": not a hostname`);
    }
    // A network just created through another manager may not have reached this one's mirror.
    if (!this.findNetwork(ref)) await this.state.sync();
    const wanted = ip, wanted6 = ip6;
    const claimed: string[] = [];
    try {
      return await this.cas(() => {
        const net = this.findNetwork(ref);
        if (!net || (net as { removing?: boolean }).removing) {
          throw new SwarmError(`network ${ref} not found`, 404);
        }
        const subnet = parseCidr(net.subnet);
        const mine = this.networkEndpoints(net.id);
        const used = new Set(mine.map((e) => e.ip));
        // Addresses this manager's other requests are writing now: not the same lowest free one.
        // Keys: "<net>/<ipv4>" and "<net>/6/<ipv6>".
        const used6 = new Set(mine.flatMap((e) => e.ip6 ? [e.ip6] : []));
        for (const k of this.inflight) {
          if (!k.startsWith(`${net.id}/`)) continue;
          const rest = k.slice(net.id.length + 1);
          if (rest.startsWith("6/")) used6.add(rest.slice(2));
          else used.add(rest);
        }
        let addr: string;
        if (wanted) {
          try {
            if (!contains(subnet, ipToInt(wanted))) {
              throw new IpamError(`address ${wanted} is not in ${net.name}'s subnet ${net.subnet}`);
            }
          } catch (e) {
            throw new SwarmError(e instanceof Error ? e.message : String(e));
          }
          if (wanted === net.gateway) {
            throw new SwarmError(`address ${wanted} is the gateway of ${net.name}`, 409);
          }
          if (used.has(wanted) || this.state.get("ip", `${net.id}/${wanted}`)) {
            throw new SwarmError(`address ${wanted} is already in use on ${net.name}`, 409);
          }
          addr = wanted;
        } else {
          try {
            addr = allocateAddress(
              subnet,
              net.gateway,
              used,
              net.ipRange ? parseCidr(net.ipRange) : undefined,
            );
          } catch (e) {
            throw new SwarmError(e instanceof Error ? e.message : String(e), 409);
          }
        }
        if (wanted6 && !net.subnet6) {
          throw new SwarmError(`network ${net.name} has no IPv6 subnet: --ip6 needs one`);
        }
        let addr6: string | undefined;
        if (net.subnet6) {
          const s6 = parseCidr6(net.subnet6);
          try {
            if (wanted6) {
              const n = ip6ToBig(wanted6);
              addr6 = bigToIp6(n);
              if (!contains6(s6, n)) {
                throw new IpamError(`address ${addr6} is not in ${net.name}'s subnet ${net.subnet6}`);
              }
              if (addr6 === net.gateway6) {
                throw new IpamError(`address ${addr6} is the gateway of ${net.name}`);
              }
              if (used6.has(addr6) || this.state.get("ip6", `${net.id}/${addr6}`)) {
                throw new IpamError(`address ${addr6} is already in use on ${net.name}`);
              }
            } else {
              for (const [k] of this.state.entries("ip6")) {
                if (k.startsWith(`${net.id}/`)) used6.add(k.slice(net.id.length + 1));
              }
              addr6 = allocateAddress6(
                s6,
                net.gateway6 ?? "",
                used6,
                net.ipRange6 ? parseCidr6(net.ipRange6) : undefined,
              );
            }
          } catch (e) {
            throw new SwarmError(e instanceof Error ? e.message : String(e));
          }
        }
        const endpoint: EndpointRecord = {
          id: objectId(),
          network: net.id,
          node: nodeId,
          container,
          ip: addr,
          mac: macFor(addr),
          ...(aliases?.length ? { aliases: [...new Set(aliases)] } : {}),
        };
        if (addr6) endpoint.ip6 = addr6;
        this.inflight.add(`${net.id}/${addr}`);
        claimed.push(`${net.id}/${addr}`);
        const conds: Cond[] = [
          { unchanged: ["network", net.id], rev: this.state.modRev("network", net.id) },
          { absent: ["ip", `${net.id}/${addr}`] },
        ];
        const ops: Op[] = [{ put: ["endpoint", endpoint.id], value: endpoint }, {
          put: ["ip", `${net.id}/${addr}`],
          value: endpoint.id,
        }];
        if (addr6) {
          // The IPv6 address is claimed like the IPv4 one: two managers cannot hand out the same.
          this.inflight.add(`${net.id}/6/${addr6}`);
          claimed.push(`${net.id}/6/${addr6}`);
          conds.push({ absent: ["ip6", `${net.id}/${addr6}`] });
          ops.push({ put: ["ip6", `${net.id}/${addr6}`], value: endpoint.id });
        }
        return { conds, ops, result: { endpoint, network: net } };
      });
    } finally {
      for (const k of claimed) this.inflight.delete(k);
    }
  }

  private async deleteEndpoint(nodeId: string, id: string): Promise<{ deleted: boolean }> {
    const e = this.state.get<EndpointRecord>("endpoint", id);
    if (!e) return { deleted: false };
    if (e.node !== nodeId) throw new SwarmError(`endpoint ${id} belongs to another node`, 403);
    await this.write([], endpointDels(e));
    return { deleted: true };
  }

  /** `weft node rm`: a node that is Down (or any, with force) and its endpoints. */
  async removeNodeByRef(ref: string, force: boolean): Promise<NodeView> {
    const n = this.findNode(ref);
    if (n.id === this.localNodeId) {
      throw new SwarmError('a manager cannot remove itself: use "weft swarm leave" on it', 409);
    }
    const v = this.view(n);
    if (!force && v.status !== "Down") {
      throw new SwarmError(
        `node ${n.hostname} is not down and can't be removed: stop it first or use --force`,
        409,
      );
    }
    await this.removeNode(n.id);
    return v;
  }

  findNode(ref: string): NodeRecord {
    const all = this.state.all<NodeRecord>("node");
    const n = all.find((x) => x.id === ref) ?? all.find((x) => x.hostname === ref) ??
      (ref.length >= 3 ? all.find((x) => x.id.startsWith(ref)) : undefined);
    if (!n) throw new SwarmError(`node ${ref} not found`, 404);
    return n;
  }

  /** The last manager leaves with --force: the swarm's keys go from the store. */
  async destroy(): Promise<void> {
    if (this.state instanceof EtcdState) await this.state.etcd.txn([], [{ delPrefix: "/weft/" }]);
  }

  /** One of several managers leaves: its node record and presence go; the others go on. */
  async leave(): Promise<void> {
    const ops: Op[] = [{ del: ["node", this.localNodeId] }, { del: ["manager", this.localNodeId] }];
    if (this.isLeader()) ops.push({ del: ["leader", "leader"] });
    await this.write([], ops);
  }

  /** What a promoted worker is told: where the store is (over its authenticated session). */
  private promotion(nodeId: string) {
    return { type: "promote", nodeId, store: this.storeConfig };
  }

  /**
   * `weft node promote`: a worker becomes a manager on the same store (Docker's node promote).
   * Its daemon hears it over its session and starts serving. Needs a cluster store.
   */
  async promote(ref: string): Promise<NodeView> {
    const n = this.findNode(ref);
    if (n.role === "manager") throw new SwarmError(`node ${n.hostname} is already a manager`, 409);
    if (this.state.describe === "embedded" || !this.storeConfig) {
      throw new SwarmError(
        "this swarm keeps its state in the embedded store of its one manager: more managers need a cluster store (weft swarm init --cluster-store etcd://H1:2379,…)",
        409,
      );
    }
    if (this.status(n) === "Down") {
      throw new SwarmError(`node ${n.hostname} is Down: promote it once it is back`, 409);
    }
    const promoted: NodeRecord = { ...n, role: "manager", listen: `0.0.0.0:${this.listenOf(this.self)[1]}` };
    if (
      !await this.write([{ unchanged: ["node", n.id], rev: this.state.modRev("node", n.id) }], [{
        put: ["node", n.id],
        value: promoted,
      }])
    ) {
      throw new SwarmError(`node ${n.hostname} changed meanwhile; try again`, 409);
    }
    return this.view(promoted);
  }

  /** `weft node demote`: a manager becomes a worker; the last one cannot. */
  async demote(ref: string): Promise<NodeView> {
    const n = this.findNode(ref);
    if (n.role !== "manager") throw new SwarmError(`node ${n.hostname} is already a worker`, 409);
    if (this.state.all<NodeRecord>("node").filter((x) => x.role === "manager").length < 2) {
      throw new SwarmError(
        `node ${n.hostname} is the last manager of the swarm: it cannot be demoted`,
        409,
      );
    }
    const demoted: NodeRecord = { ...n, role: "worker", secretHash: "", listen: undefined };
    const ops: Op[] = [{ put: ["node", n.id], value: demoted }, { del: ["manager", n.id] }];
    if (this.state.get<{ id: string }>("leader", "leader")?.id === n.id) {
      ops.push({ del: ["leader", "leader"] });
    }
    if (!await this.write([{ unchanged: ["node", n.id], rev: this.state.modRev("node", n.id) }], ops)) {
      throw new SwarmError(`node ${n.hostname} changed meanwhile; try again`, 409);
    }
    return this.view(demoted);
  }

  /** This manager was demoted: a node secret of its own, then credentials for a worker's session. */
  async becomeWorker(): Promise<void> {
    const me = this.self;
    const other = this.state.all<NodeRecord>("node").find((n) => n.role === "manager" && n.id !== me.id);
    if (!other) throw new SwarmError("no other manager to become a worker of");
    const nodeSecret = randomSecret(40);
    await this.state.txn([], [{
      put: ["node", me.id],
      value: { ...me, secretHash: await sha256Hex(nodeSecret) },
    }]);
    const [host, port] = this.controlAddr(other).split(":");
    this.log(`this node was demoted: it goes on as a worker of ${host}:${port}`);
    this.onDemoted({
      nodeId: me.id,
      nodeSecret,
      manager: { host, port: Number(port) },
      managers: this.managerAddrs(),
      caCert: this.ca.cert,
      dataPathPort: this.cluster.dataPathPort,
      espPort: this.cluster.espPort,
    });
  }
}
