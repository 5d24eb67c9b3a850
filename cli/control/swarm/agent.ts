// A worker's side of the control plane: joining with a token (the CA is fetched, checked against
// the token's digest, and only then trusted), and the session it keeps with a manager: heartbeats
// out, deltas and replies in. It knows every manager (from the join and from the node list) and
// when its manager goes away it tries the others, with exponential backoff and jitter, resuming
// from the revision it has (the manager then sends only what changed since).

import tls from "node:tls";
import { parseToken, tokenPinsCa } from "./pki.ts";
import { LineConn, withTimeout } from "./wire.ts";
import { NodeState } from "./node_state.ts";
import {
  type Delta,
  HEARTBEAT_INTERVAL_MS,
  HEARTBEAT_TIMEOUT_MS,
  type Snapshot,
  type StoreConfig,
  visibleSnapshot,
} from "./types.ts";
import { VXLAN_PORT } from "../../defaults.ts";

/** A join that failed: bad token or address, a CA that is not the token's, the manager's refusal. */
export class JoinError extends Error {
  override name = "JoinError";
}

/** The manager answered this node's hello with an error: it is not (or no longer) in the swarm. */
class RefusedError extends Error {
  override name = "RefusedError";
}

/** What a worker keeps after its join (in its state dir) to say hello again. */
export interface Credentials {
  nodeId: string;
  /** The node's secret (40 base36 characters); the manager stores only its sha256Hex. */
  nodeSecret: string;
  /** The manager joined through (tried first). */
  manager: { host: string; port: number };
  /** Every manager known at the join ("ip:port"); the node list adds later ones. */
  managers?: string[];
  /** The swarm CA (PEM) pinned by the token: the managers' certificates are checked against it. */
  caCert: string;
  /** UDP port of every VTEP in the swarm (VXLAN_PORT unless `--data-path-port`). */
  dataPathPort: number;
  /** The swarm's ESP port (ESP_PORT when absent: credentials from before --esp-port). */
  espPort?: number;
}

/** A join with a manager token: the node becomes a manager on the swarm's cluster store. */
export interface ManagerJoin {
  role: "manager";
  nodeId: string;
  cluster: string;
  caCert: string;
  store: StoreConfig;
}

const CONNECT_MS = 10000;
/** Longest wait between rounds over every manager (full jitter below it). */
const MAX_BACKOFF_MS = 5000;
/** How long a request waits for a session when there is none (a failover under way). */
const RPC_WAIT_MS = 10000;

/** The CA the manager presents, fetched over TLS whose certificate we cannot verify yet. */
function fetchCa(host: string, port: number): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve, reject) => {
      const s = tls.connect(
        { host, port, rejectUnauthorized: false },
        () => s.write(JSON.stringify({ type: "ca" }) + "\n"),
      );
      let buf = "";
      s.setEncoding("utf8");
      s.on("data", (d: string) => {
        buf += d;
        const nl = buf.indexOf("\n");
        if (nl < 0) return;
        s.destroy();
        try {
          const m = JSON.parse(buf.slice(0, nl));
          if (m.type === "ca" && typeof m.cert === "string") resolve(m.cert);
          else reject(new JoinError(`${host}:${port} did not answer like a weft manager`));
        } catch {
          reject(new JoinError(`${host}:${port} did not answer like a weft manager`));
        }
      });
      s.on(
        "error",
        (e: Error) => reject(new JoinError(`cannot reach the manager at ${host}:${port}: ${e.message}`)),
      );
      s.on("end", () => reject(new JoinError(`${host}:${port} closed the connection: not a weft manager?`)));
    }),
    CONNECT_MS,
    `connecting to ${host}:${port}`,
  );
}

async function connectVerified(host: string, port: number, caCert: string): Promise<LineConn> {
  const c = await withTimeout(
    Deno.connectTls({ hostname: host, port, caCerts: [caCert] }),
    CONNECT_MS,
    `connecting to ${host}:${port}`,
  );
  try {
    await withTimeout(c.handshake(), CONNECT_MS, "TLS handshake");
  } catch (e) {
    c.close();
    throw new JoinError(
      `TLS with the manager at ${host}:${port} failed: ${e instanceof Error ? e.message : e}`,
    );
  }
  return new LineConn(c);
}

/**
 * A manager address as `swarm join` takes it: IPv4[:PORT] (`defaultPort`, CONTROL_PORT, when none).
 * @throws JoinError for another shape or a port outside 1..65535.
 */
export function parseRemote(text: string, defaultPort: number): { host: string; port: number } {
  const m = /^([0-9.]+)(?::(\d+))?$/.exec(text);
  if (!m) throw new JoinError(`invalid manager address "${text}": expected IP[:PORT]`);
  const port = m[2] ? Number(m[2]) : defaultPort;
  if (port < 1 || port > 65535) throw new JoinError(`invalid port in "${text}"`);
  return { host: m[1], port };
}

/**
 * Joins the swarm: fetches the manager's CA, checks it against the token (tokenPinsCa: this
 * node's half of the token check; the manager's is tokenSecretRole), then presents the secret
 * over TLS verified with that CA. A worker token gives Credentials, a manager token a ManagerJoin.
 * @throws TokenError for a malformed token; JoinError for a CA that is not the token's, a
 * manager that cannot be reached (CONNECT_MS, 10 s) or refuses.
 */
export async function join(
  token: string,
  remote: { host: string; port: number },
  me: { hostname: string; addr: string; listen?: string; dataAddr?: string },
): Promise<Credentials & { role?: "worker" } | ManagerJoin> {
  const t = parseToken(token);
  const caCert = await fetchCa(remote.host, remote.port);
  // This node's half of the token check; the manager checks the secret (tokenSecretRole).
  if (!await tokenPinsCa(t, caCert)) {
    throw new JoinError(
      `the manager at ${remote.host}:${remote.port} presented a CA whose digest does not match the token: refusing to join (wrong token, or not the manager you think)`,
    );
  }
  const conn = await connectVerified(remote.host, remote.port, caCert);
  try {
    await conn.send({
      type: "join",
      secret: t.secret,
      hostname: me.hostname,
      addr: me.addr,
      listen: me.listen,
      dataAddr: me.dataAddr,
    });
    const m = await withTimeout(conn.read(), CONNECT_MS, "waiting for the manager");
    if (!m) throw new JoinError("the manager closed the connection");
    if (m.type === "error") throw new JoinError(`the manager refused: ${m.message}`);
    if (m.type === "welcome" && m.role === "manager" && m.store?.url) {
      return {
        role: "manager",
        nodeId: String(m.nodeId),
        cluster: String(m.cluster),
        caCert,
        store: m.store,
      };
    }
    if (m.type !== "welcome" || typeof m.nodeSecret !== "string") {
      throw new JoinError("unexpected answer from the manager");
    }
    return {
      nodeId: m.nodeId,
      nodeSecret: m.nodeSecret,
      manager: remote,
      managers: Array.isArray(m.managers) ? m.managers.map(String) : undefined,
      caCert,
      dataPathPort: Number(m.dataPathPort) || VXLAN_PORT,
      ...(m.espPort ? { espPort: Number(m.espPort) } : {}),
    };
  } finally {
    conn.close();
  }
}

/**
 * A worker's session with the managers: hello with its credentials, heartbeats every
 * HEARTBEAT_INTERVAL_MS, snapshots and deltas in; silence for HEARTBEAT_TIMEOUT_MS or a closed
 * connection fails over to the next manager (full-jitter backoff up to MAX_BACKOFF_MS, 5 s),
 * resuming from the revision it has.
 */
export class Agent {
  private conn?: LineConn;
  private stopped = false;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private hb?: ReturnType<typeof setInterval>;
  /** True while a session is up. */
  connected = false;
  private silent = false;
  /** The manager of the current (or last) session. */
  current: { host: string; port: number };
  /** Why the manager refused this node, once it has: the agent then stops trying. */
  refusal?: string;
  /** Everything this node was told (Down nodes' endpoints included), at its revision. */
  private known?: NodeState;
  /** Deltas and snapshots received. */
  received = { deltas: 0, snapshots: 0 };
  /** Called with what the data plane should program after every change (if set). */
  onSnapshot?: (s: Snapshot) => void;
  /** The node was promoted to manager: the store to serve from (the agent has stopped). */
  onPromote?: (store: StoreConfig) => void;
  /** Called with every delta (null: a full snapshot) as it arrives (bench:control). */
  onUpdate?: (d: Delta | null) => void;
  /** Where the agent reports (stderr by default). */
  log: (m: string) => void = (m) => console.error(m);

  constructor(readonly creds: Credentials, cached?: Snapshot) {
    this.current = creds.manager;
    if (cached && cached.nodeId === creds.nodeId) this.known = NodeState.from(cached);
  }

  /** Everything this node was told, as a snapshot (Down nodes' endpoints included). */
  get state(): Snapshot | undefined {
    return this.known?.snapshot();
  }

  /** The node's tables (bench:control reads them without building a snapshot). */
  get tables(): NodeState | undefined {
    return this.known;
  }

  /** Starts the session loop (in the background; it runs until stop() or a refusal). */
  start(): void {
    this.loop().catch((e) => this.log(`agent stopped: ${e}`));
  }

  /** Managers to try, the current one first: from the join and from the node list. */
  managers(): { host: string; port: number }[] {
    const seen = new Set<string>();
    const out: { host: string; port: number }[] = [];
    const add = (h: string, p: number) => {
      const k = `${h}:${p}`;
      if (!seen.has(k)) seen.add(k), out.push({ host: h, port: p });
    };
    add(this.current.host, this.current.port);
    add(this.creds.manager.host, this.creds.manager.port);
    const known = [
      ...(this.creds.managers ?? []),
      ...[...(this.known?.nodes.values() ?? [])].filter((n) => n.role === "manager" && n.control)
        .map((n) => n.control!),
    ];
    for (const a of known) {
      const i = a.lastIndexOf(":");
      add(a.slice(0, i), Number(a.slice(i + 1)));
    }
    return out;
  }

  private async loop(): Promise<void> {
    let backoff = 100;
    let next = 0;
    while (!this.stopped) {
      const list = this.managers();
      const m = list[next % list.length];
      this.current = m;
      try {
        await this.session(m);
        backoff = 100;
        next = 0;
      } catch (e) {
        if (this.stopped) break;
        const msg = e instanceof Error ? e.message : String(e);
        if (e instanceof RefusedError) {
          this.refusal = msg;
          this.log(`the manager refused this node: ${msg}`);
          return;
        }
        this.log(
          `manager ${m.host}:${m.port} unreachable: ${msg}; trying ${list.length > 1 ? "another" : "again"}`,
        );
        next++;
        // A full round over every manager failed: back off (with jitter, so a restarted manager
        // is not met by every node at once).
        if (next % list.length === 0) backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        else {
          await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
          continue;
        }
      }
      if (this.stopped) break;
      await new Promise((r) => setTimeout(r, backoff * Math.random()));
    }
  }

  private async session(m: { host: string; port: number }): Promise<void> {
    const { host, port } = m;
    const conn = await connectVerified(host, port, this.creds.caCert);
    this.conn = conn;
    try {
      const s = this.known;
      await conn.send({
        type: "hello",
        nodeId: this.creds.nodeId,
        nodeSecret: this.creds.nodeSecret,
        cluster: s?.clusterId,
        rev: s?.version,
        have: s ? [...s.networks.keys()] : undefined,
      });
      const w = await withTimeout(conn.read(), CONNECT_MS, "waiting for the manager");
      if (!w) throw new Error("the manager closed the connection");
      if (w.type === "error") {
        if (w.retry) throw new Error(String(w.message));
        throw new RefusedError(String(w.message));
      }
      if (w.type === "promote") return this.promoted(w.store);
      if (Array.isArray(w.managers)) this.creds.managers = w.managers.map(String);
      this.connected = true;
      this.log(`connected to the manager at ${host}:${port}`);
      let heard = Date.now();
      this.hb = setInterval(() => {
        // A manager behind a partition says nothing (TCP does not notice for minutes): go elsewhere.
        if (Date.now() - heard > HEARTBEAT_TIMEOUT_MS) {
          this.silent = true;
          conn.close();
        } else conn.send({ type: "hb" });
      }, HEARTBEAT_INTERVAL_MS);
      for (;;) {
        const msg = await conn.read().catch((e) => {
          if (this.silent) return null;
          throw e;
        });
        if (!msg) {
          if (this.silent) throw new Error(`no word from the manager for ${HEARTBEAT_TIMEOUT_MS} ms`);
          break;
        }
        heard = Date.now();
        if (msg.type === "snapshot") {
          this.received.snapshots++;
          this.known = NodeState.from(msg.snapshot as Snapshot);
          this.onUpdate?.(null);
          this.onSnapshot?.(visibleSnapshot(this.known.snapshot()));
        } else if (msg.type === "delta") {
          this.received.deltas++;
          if (!this.known) continue;
          this.known.apply(msg as Delta);
          this.onUpdate?.(msg as Delta);
          this.onSnapshot?.(visibleSnapshot(this.known.snapshot()));
        } else if (msg.type === "promote") {
          return this.promoted(msg.store);
        } else if (msg.type === "res") {
          const p = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (msg.ok) p?.resolve(msg.data);
          else p?.reject(new Error(msg.error));
        }
      }
    } finally {
      this.silent = false;
      this.connected = false;
      clearInterval(this.hb);
      conn.close();
      for (const p of this.pending.values()) p.reject(new Error("the connection to the manager was lost"));
      this.pending.clear();
    }
  }

  private promoted(store: StoreConfig): void {
    this.log("this node was promoted to manager");
    this.stopped = true;
    this.onPromote?.(store);
  }

  /**
   * A request to the manager of the session. Between sessions (a failover) it waits up to
   * RPC_WAIT_MS for the next one rather than fail at once.
   * @throws Error when the manager refused this node, none is reachable after RPC_WAIT_MS, the
   *   answer takes over 10 s (withTimeout), the connection is lost, or with the manager's message
   *   (a plain Error: its status does not cross the session)
   */
  async rpc<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const until = Date.now() + RPC_WAIT_MS;
    while (
      (!this.conn || !this.connected) && this.refusal === undefined && !this.stopped && Date.now() < until
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const { host, port } = this.current;
    if (this.refusal !== undefined) {
      throw new Error(`the manager at ${host}:${port} refused this node: ${this.refusal}`);
    }
    if (!this.conn || !this.connected) {
      throw new Error(`no manager is reachable (last tried ${host}:${port})`);
    }
    const id = this.nextId++;
    const p = new Promise<T>((resolve, reject) =>
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
    );
    this.conn.send({ type: "req", id, op, args });
    return await withTimeout(p, 10000, `request ${op}`);
  }

  /** Ends the session and the loop; pending requests are left to time out. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.hb);
    this.conn?.close();
  }
}
