// A worker's side of the control plane: joining with a token (the CA is fetched, checked against
// the token's digest, and only then trusted), and the session it keeps with the manager:
// heartbeats out, snapshots and replies in, reconnecting with backoff when the manager goes away.

import tls from "node:tls";
import { caDigest, parseToken } from "./pki.ts";
import { LineConn, withTimeout } from "./wire.ts";
import { HEARTBEAT_INTERVAL_MS, type Snapshot } from "./types.ts";
import { VXLAN_PORT } from "../../defaults.ts";

export class JoinError extends Error {
  override name = "JoinError";
}

/** The manager answered this node's hello with an error: it is not (or no longer) in the swarm. */
class RefusedError extends Error {
  override name = "RefusedError";
}

export interface Credentials {
  nodeId: string;
  nodeSecret: string;
  manager: { host: string; port: number };
  caCert: string;
  dataPathPort: number;
}

const CONNECT_MS = 5000;

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

export function parseRemote(text: string, defaultPort: number): { host: string; port: number } {
  const m = /^([0-9.]+)(?::(\d+))?$/.exec(text);
  if (!m) throw new JoinError(`invalid manager address "${text}": expected IP[:PORT]`);
  const port = m[2] ? Number(m[2]) : defaultPort;
  if (port < 1 || port > 65535) throw new JoinError(`invalid port in "${text}"`);
  return { host: m[1], port };
}

/** Joins the swarm: checks the manager's CA against the token, then presents the secret. */
export async function join(
  token: string,
  remote: { host: string; port: number },
  me: { hostname: string; addr: string; dataAddr?: string },
): Promise<Credentials> {
  const t = parseToken(token);
  const caCert = await fetchCa(remote.host, remote.port);
  if ((await caDigest(caCert)) !== t.digest) {
    throw new JoinError(
      `the manager at ${remote.host}:${remote.port} presented a CA whose digest does not match the token: refusing to join (wrong token, or not the manager you think)`,
    );
  }
  const conn = await connectVerified(remote.host, remote.port, caCert);
  try {
    await conn.send({ type: "join", secret: t.secret, hostname: me.hostname, addr: me.addr, dataAddr: me.dataAddr });
    const m = await withTimeout(conn.read(), CONNECT_MS, "waiting for the manager");
    if (!m) throw new JoinError("the manager closed the connection");
    if (m.type === "error") throw new JoinError(`the manager refused: ${m.message}`);
    if (m.type !== "welcome" || typeof m.nodeSecret !== "string") {
      throw new JoinError("unexpected answer from the manager");
    }
    return {
      nodeId: m.nodeId,
      nodeSecret: m.nodeSecret,
      manager: remote,
      caCert,
      dataPathPort: Number(m.dataPathPort) || VXLAN_PORT,
    };
  } finally {
    conn.close();
  }
}

export class Agent {
  private conn?: LineConn;
  private stopped = false;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private hb?: ReturnType<typeof setInterval>;
  connected = false;
  /** Why the manager refused this node, once it has: the agent then stops trying. */
  refusal?: string;
  onSnapshot: (s: Snapshot) => void = () => {};
  log: (m: string) => void = (m) => console.error(m);

  constructor(readonly creds: Credentials) {}

  start(): void {
    this.loop().catch((e) => this.log(`agent stopped: ${e}`));
  }

  private async loop(): Promise<void> {
    let backoff = 250;
    while (!this.stopped) {
      try {
        await this.session();
        backoff = 250;
      } catch (e) {
        if (this.stopped) break;
        const msg = e instanceof Error ? e.message : String(e);
        if (e instanceof RefusedError) {
          this.refusal = msg;
          this.log(`the manager refused this node: ${msg}`);
          return;
        }
        this.log(
          `manager ${this.creds.manager.host}:${this.creds.manager.port} unreachable: ${msg}; retrying`,
        );
      }
      if (this.stopped) break;
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 2000);
    }
  }

  private async session(): Promise<void> {
    const { host, port } = this.creds.manager;
    const conn = await connectVerified(host, port, this.creds.caCert);
    this.conn = conn;
    try {
      await conn.send({ type: "hello", nodeId: this.creds.nodeId, nodeSecret: this.creds.nodeSecret });
      const w = await withTimeout(conn.read(), CONNECT_MS, "waiting for the manager");
      if (!w) throw new Error("the manager closed the connection");
      if (w.type === "error") throw new RefusedError(String(w.message));
      this.connected = true;
      this.log(`connected to the manager at ${host}:${port}`);
      this.hb = setInterval(() => conn.send({ type: "hb" }), HEARTBEAT_INTERVAL_MS);
      for (;;) {
        const m = await conn.read();
        if (!m) break;
        if (m.type === "snapshot") this.onSnapshot(m.snapshot as Snapshot);
        else if (m.type === "res") {
          const p = this.pending.get(m.id);
          this.pending.delete(m.id);
          if (m.ok) p?.resolve(m.data);
          else p?.reject(new Error(m.error));
        }
      }
    } finally {
      this.connected = false;
      clearInterval(this.hb);
      conn.close();
      for (const p of this.pending.values()) p.reject(new Error("the connection to the manager was lost"));
      this.pending.clear();
    }
  }

  rpc<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const { host, port } = this.creds.manager;
    if (this.refusal !== undefined) {
      return Promise.reject(new Error(`the manager at ${host}:${port} refused this node: ${this.refusal}`));
    }
    if (!this.conn || !this.connected) {
      return Promise.reject(
        new Error(`the manager at ${host}:${port} is not reachable`),
      );
    }
    const id = this.nextId++;
    const p = new Promise<T>((resolve, reject) =>
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
    );
    this.conn.send({ type: "req", id, op, args });
    return withTimeout(p, 10000, `request ${op}`);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.hb);
    this.conn?.close();
  }
}
