// A manager's TLS listener (CONTROL_PORT, 2377) and the sessions nodes keep on it: a join with a
// token (the manager's half of the token check, tokenSecretRole) or a hello with the node's
// secret, then heartbeats and requests in, snapshots and deltas out. Each node's session is
// recorded in the store (`session/<node>`, batched) so the leader, whichever manager it is, can
// tell a node with no session anywhere.
//
// Nothing a peer sends can crash the manager: every connection has its own try/catch, a
// handshake and first-message deadline, a line-length bound (wire.ts), and gets one clear error line.

import type { Distribution } from "./distribution.ts";
import { SwarmError } from "./errors.ts";
import { ipToInt, objectId } from "./ipam.ts";
import { type KeyPairPem, randomSecret, sameSecret, sha256Hex, tokenSecretRole } from "./pki.ts";
import type { Records } from "./records.ts";
import { type Op, StoreUnavailableError, type SwarmState } from "./state.ts";
import { assertWritable, write } from "./txn.ts";
import { HEARTBEAT_TIMEOUT_MS, type NodeRecord, type StoreConfig } from "./types.ts";
import { LineConn, ProtocolError, withTimeout } from "./wire.ts";

// Generous: under load a slow handshake that completes beats a retry that starts another one.
/** Milliseconds a client has for its TLS handshake. */
export const HANDSHAKE_MS = 15000;
/** Milliseconds a client has, after the handshake, for its first line (ca, join or hello). */
export const FIRST_MESSAGE_MS = 10000;
/** Session keys written per store transaction (within etcd's default of 128 operations). */
export const SESSION_BATCH = 60;
/** Milliseconds session keys wait for others to write with. */
export const SESSION_BATCH_MS = 10;

/** What the sessions need from their manager. */
export interface SessionHost {
  readonly state: SwarmState;
  readonly records: Records;
  readonly distribution: Distribution;
  /** The swarm CA's certificate (PEM), sent to a client that asks before it trusts us. */
  caCert(): string;
  /** Where the store is, for a node that joins as a manager. */
  storeConfig(): StoreConfig | undefined;
  /** A request a node sends over its session (Manager.request). */
  request(nodeId: string, op: string, args: Record<string, any>): Promise<unknown>;
  /** A node and everything it holds, gone from the store (a host joining again replaces itself). */
  removeNode(id: string): Promise<void>;
  /** The message that tells a promoted worker to become a manager. */
  promotion(nodeId: string): unknown;
  log(msg: string): void;
}

interface Session {
  nodeId: string;
  conn: LineConn;
  /** Date.now() of its last line. */
  lastSeen: number;
  /** Revision of this manager's session key: deleted at close only if still ours. */
  keyRev: number;
  /** Failed attempts to write the session key. */
  attempts: number;
}

/** A hello from a worker that was promoted meanwhile (not an error: it is answered "promote"). */
class PromotedSignal extends Error {
  constructor(readonly nodeId: string) {
    super("promoted");
  }
}

/** The listener and the node sessions of one manager. */
export class Sessions {
  private listener?: Deno.TlsListener;
  private readonly sessions = new Map<string, Session>();
  /** Session secrets issued at join, handed over once in the welcome. */
  private readonly issued = new Map<string, string>();
  private readonly sessionWrites = new Map<string, Session>();
  private sessionTimer?: ReturnType<typeof setTimeout>;
  private stopped = false;

  constructor(private readonly host: SessionHost) {}

  /** Listens on hostname:port with the manager's certificate and serves every connection. */
  listen(hostname: string, port: number, cert: KeyPairPem): void {
    this.listener = Deno.listenTls({ hostname, port, cert: cert.cert, key: cert.key });
    (async () => {
      for await (const conn of this.listener!) this.accept(conn).catch(() => {});
    })().catch(() => {});
  }

  /** Closes the listener and every session (their store keys expire with the lease). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.sessionTimer);
    try {
      this.listener?.close();
    } catch { /* closed */ }
    for (const s of this.sessions.values()) s.conn.close();
    this.sessions.clear();
  }

  /** The connection of a node's session on this manager, if any. */
  conn(nodeId: string): LineConn | undefined {
    return this.sessions.get(nodeId)?.conn;
  }

  /** Node ids with a session on this manager. */
  ids(): IterableIterator<string> {
    return this.sessions.keys();
  }

  /** True when the node has a session on this manager. */
  has(nodeId: string): boolean {
    return this.sessions.has(nodeId);
  }

  /** Ends a node's session (the node was removed); it is forgotten here. */
  close(nodeId: string): void {
    this.sessions.get(nodeId)?.conn.close();
    this.sessions.delete(nodeId);
  }

  /** Closes the sessions silent for more than HEARTBEAT_TIMEOUT_MS (`now`: Date.now() ms). */
  expire(now: number): void {
    for (const s of this.sessions.values()) {
      if (now - s.lastSeen > HEARTBEAT_TIMEOUT_MS) {
        this.host.log(
          `node ${s.nodeId.slice(0, 12)}: no heartbeat for ${HEARTBEAT_TIMEOUT_MS} ms; closing its session`,
        );
        s.conn.close();
      }
    }
  }

  /** Every session key again (a new etcd lease: the old one's keys are gone). */
  rewriteKeys(): void {
    const { state } = this.host;
    for (const s of this.sessions.values()) {
      state.txn([], [{ put: ["session", s.nodeId], value: { manager: this.host.records.localNodeId } }])
        .then(() => s.keyRev = state.modRev("session", s.nodeId)).catch(() => {});
    }
  }

  private async accept(tls: Deno.TlsConn): Promise<void> {
    const { host } = this;
    const remote = `${(tls.remoteAddr as Deno.NetAddr).hostname}:${(tls.remoteAddr as Deno.NetAddr).port}`;
    const conn = new LineConn(tls);
    try {
      await withTimeout(tls.handshake(), HANDSHAKE_MS, "TLS handshake");
    } catch (e) {
      host.log(
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
        await conn.send({ type: "ca", cert: host.caCert() });
        return conn.close();
      }
      if (first.type === "join") {
        const joined = await this.join(first);
        if (joined.role === "manager") {
          await conn.send({
            type: "welcome",
            role: "manager",
            nodeId: joined.id,
            cluster: host.records.cluster.id,
            store: host.storeConfig(),
          });
          return conn.close();
        }
        nodeId = joined.id;
      } else if (first.type === "hello") {
        try {
          nodeId = await this.hello(first);
        } catch (e) {
          if (!(e instanceof PromotedSignal)) throw e;
          await conn.send(host.promotion(e.nodeId));
          return conn.close();
        }
      } else {
        throw new SwarmError(
          `unexpected message "${String(first.type).slice(0, 40)}": expected join or hello`,
        );
      }
      assertWritable(host.state);
    } catch (e) {
      const message =
        e instanceof SwarmError || e instanceof ProtocolError || e instanceof StoreUnavailableError
          ? e.message
          : `bad request: ${e instanceof Error ? e.message : e}`;
      host.log(`refused ${remote}: ${message}`);
      await conn.send({ type: "error", message, retry: e instanceof StoreUnavailableError });
      return conn.close();
    }
    const node = host.state.get<NodeRecord>("node", nodeId)!;
    this.sessions.get(nodeId)?.conn.close();
    const session: Session = { nodeId, conn, lastSeen: Date.now(), keyRev: 0, attempts: 0 };
    this.sessions.set(nodeId, session);
    const c = host.records.cluster;
    await conn.send({
      type: "welcome",
      nodeId,
      cluster: c.id,
      dataPathPort: c.dataPathPort,
      espPort: c.espPort,
      nodeSecret: this.issued.get(nodeId),
      managers: host.records.managerAddrs(),
    });
    this.issued.delete(nodeId);
    host.log(`node ${node.hostname} (${nodeId.slice(0, 12)}) connected from ${remote}`);
    // The node's state first (from the mirror), then its session in the store.
    await host.distribution.resync(nodeId, first.type === "hello" ? first : {}).catch((e) => {
      host.log(`resync of ${node.hostname}: ${e instanceof Error ? e.message : e}`);
      host.distribution.sendSnapshot(nodeId);
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
          host.request(nodeId, String(m.op), m.args ?? {}).then(
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
      host.log(`session of ${node.hostname} ended: ${e instanceof Error ? e.message : e}`);
    } finally {
      if (this.sessions.get(nodeId) === session) {
        this.sessions.delete(nodeId);
        if (!this.stopped && session.keyRev) {
          host.state.txn([{ unchanged: ["session", nodeId], rev: session.keyRev }], [{
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
        { put: ["session", s.nodeId], value: { manager: this.host.records.localNodeId } },
        { del: ["down", s.nodeId] },
      ]);
      try {
        await this.host.state.txn([], ops);
        for (const s of batch) s.keyRev = this.host.state.modRev("session", s.nodeId);
      } catch (e) {
        failed = true;
        this.host.log(`${batch.length} sessions not recorded yet: ${e instanceof Error ? e.message : e}`);
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

  /** A join: the token's secret gives the role (tokenSecretRole), the node gets a record (and,
   * a worker, a node secret for its hellos). */
  private async join(m: Record<string, any>): Promise<{ id: string; role: "worker" | "manager" }> {
    const { state, records } = this.host;
    assertWritable(state);
    const role = tokenSecretRole(typeof m.secret === "string" ? m.secret : "", records.cluster);
    if (!role) {
      throw new SwarmError(
        'invalid join token: its secret is not this swarm\'s; get the current one with "weft swarm join-token worker" on a manager',
        401,
      );
    }
    if (role === "manager" && state.describe === "embedded") {
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
      const l = String(m.listen ?? `0.0.0.0:${records.listenOf(records.self)[1]}`);
      if (!/^[0-9.]+:\d{1,5}$/.test(l)) throw new SwarmError(`invalid listen address "${l.slice(0, 40)}"`);
      listen = l;
    }
    const clash = state.all<NodeRecord>("node").find((n) => n.addr === addr);
    if (clash) {
      // The same host joining again (after a leave it did not announce): replace its record.
      if (clash.role === "manager" && state.get("manager", clash.id) !== undefined) {
        throw new SwarmError(`address ${addr} is a running manager's (${clash.hostname})`, 409);
      }
      await this.host.removeNode(clash.id);
    }
    const id = objectId();
    const nodeSecret = randomSecret(40);
    await write(state, [{ absent: ["node", id] }], [{
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
    this.host.log(`node ${hostname} (${id.slice(0, 12)}) joined from ${addr} as a ${role}`);
    return { id, role };
  }

  /** A hello: a worker back with its node id and secret (checked against its stored hash). */
  private async hello(m: Record<string, any>): Promise<string> {
    const node = typeof m.nodeId === "string" ? this.host.state.get<NodeRecord>("node", m.nodeId) : undefined;
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
}
