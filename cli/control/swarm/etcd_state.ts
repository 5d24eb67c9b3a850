// The etcd backend (--cluster-store etcd://…): any number of managers share it. The mirror is
// loaded with one range read and kept by a watch from the next revision; conditions are etcd's
// compares, so two managers can never both win; ephemeral kinds (EPHEMERAL) are put with this
// manager's lease (LEASE_TTL_S), kept alive every KEEPALIVE_MS, and vanish when it dies.

import {
  Etcd,
  type EtcdConfig,
  EtcdError,
  EtcdUnreachableError,
  type TxnOp,
  type WatchEvent,
} from "./etcd.ts";
import {
  type Change,
  type Cond,
  EPHEMERAL,
  LEASE_TTL_S,
  type Op,
  StoreUnavailableError,
  SwarmState,
} from "./swarm_state.ts";

/** Milliseconds between two lease keep-alives (a third of LEASE_TTL_S). */
const KEEPALIVE_MS = 1000;
/** Every key weft writes in etcd is under this prefix ("/weft/<kind>/<id>"). */
const PREFIX = "/weft/";

/** SwarmState on etcd (`config`: parseClusterStore's result). */
export class EtcdState extends SwarmState {
  /** The client (the last manager to leave deletes the prefix through it). */
  readonly etcd: Etcd;
  private lease = "";
  private readonly abort = new AbortController();
  private keepalive?: ReturnType<typeof setInterval>;
  private problem?: string;
  private renewing?: Promise<void>;
  private watchDown?: string;
  private readonly waiters: { rev: number; resolve: () => void }[] = [];
  /** Deletions seen by the watch since start; earlier ones are asked of etcd's history. */
  private readonly tombstones = new Map<string, number>();
  private floor = 0;
  private readonly history = new Map<number, Promise<Set<string> | null>>();

  constructor(readonly config: EtcdConfig) {
    super();
    this.etcd = new Etcd(config);
  }

  /** The store as a message names it: the --cluster-store URL (SwarmState.describe). */
  get describe(): string {
    return this.config.url;
  }

  private static split(key: string): [string, string] {
    const k = key.slice(PREFIX.length);
    const i = k.indexOf("/");
    return i < 0 ? [k, ""] : [k.slice(0, i), k.slice(i + 1)];
  }

  /**
   * Loads the mirror, takes a lease and starts the watch.
   * @throws EtcdUnreachableError when no member answers.
   */
  override async start(): Promise<void> {
    await this.load();
    this.lease = await this.etcd.leaseGrant(LEASE_TTL_S);
    this.keepalive = setInterval(() => this.renew(), KEEPALIVE_MS);
    this.watchFrom(this.revision + 1);
  }

  private async load(): Promise<void> {
    const r = await this.etcd.range(PREFIX);
    this.tables.clear();
    for (const kv of r.kvs) {
      const [kind, id] = EtcdState.split(kv.key);
      this.table(kind).set(id, { value: JSON.parse(kv.value), modRev: kv.modRevision });
    }
    this.revision = r.revision;
    this.floor = r.revision;
    this.tombstones.clear();
    this.history.clear();
  }

  private watchFrom(rev: number): void {
    this.etcd.watch(
      PREFIX,
      rev,
      (events, revision) => this.onEvents(events, revision),
      this.abort.signal,
      async () => {
        this.log(`etcd compacted past revision ${this.revision}: reloading the whole state`);
        for (;;) {
          try {
            await this.load();
            break;
          } catch {
            await new Promise((r) => setTimeout(r, 500));
          }
        }
        this.onReset();
        this.watchFrom(this.revision + 1);
      },
      (connected, why) => {
        this.watchDown = connected ? undefined : why;
        if (!connected && why) this.log(`etcd watch interrupted (${why}); resuming`);
      },
    ).catch((e) => this.log(`etcd watch stopped: ${e}`));
  }

  private onEvents(events: WatchEvent[], revision: number): void {
    let changes: Change[] = [];
    let rev = 0;
    const flush = () => {
      if (!changes.length) return;
      this.revision = rev;
      this.onChange(changes, rev);
      changes = [];
    };
    for (const e of events) {
      // One etcd transaction is one revision: its changes go out together.
      if (e.kv.modRevision !== rev) flush();
      rev = e.kv.modRevision;
      const [kind, id] = EtcdState.split(e.kv.key);
      const value = e.type === "PUT" ? JSON.parse(e.kv.value) : undefined;
      if (value === undefined) this.tombstones.set(`${kind}/${id}`, rev);
      else this.tombstones.delete(`${kind}/${id}`);
      changes.push(this.applyChange(kind, id, value, rev));
    }
    flush();
    if (revision > this.revision) this.revision = revision;
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i].rev <= this.revision) this.waiters.splice(i, 1)[0].resolve();
    }
  }

  /** One renewal at a time (the keepalive timer and a write that found the lease gone). */
  private renew(): Promise<void> {
    return this.renewing ??= this.renewOnce().finally(() => this.renewing = undefined);
  }

  private async renewOnce(): Promise<void> {
    try {
      const alive = await this.etcd.leaseKeepAlive(this.lease);
      if (!alive) {
        this.log("this manager's etcd lease expired: taking a new one");
        this.lease = await this.etcd.leaseGrant(LEASE_TTL_S);
        this.problem = undefined;
        this.onLeaseRenewed();
        return;
      }
      this.problem = undefined;
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      if (!this.problem) this.log(why);
      this.problem = why;
    }
  }

  override unhealthy(): string | undefined {
    return this.problem;
  }

  private waitFor(rev: number): Promise<void> {
    if (rev <= this.revision) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { rev, resolve };
      this.waiters.push(w);
      setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i < 0) return;
        this.waiters.splice(i, 1);
        reject(
          new StoreUnavailableError(
            `etcd took the change (revision ${rev}) but its watch has not delivered it within 10 s${
              this.watchDown ? ` (${this.watchDown})` : ""
            }`,
          ),
        );
      }, 10000);
    });
  }

  override async txn(conds: Cond[], ops: Op[]): Promise<boolean> {
    const key = (k: [string, string]) => `${PREFIX}${k[0]}/${k[1]}`;
    const compare = conds.map((c) =>
      "absent" in c
        ? { key: key(c.absent), createRevision: 0 as const }
        : { key: key(c.unchanged), modRevision: c.rev }
    );
    const success = (): TxnOp[] =>
      ops.map((o) =>
        "put" in o
          ? {
            put: key(o.put),
            value: JSON.stringify(o.value),
            lease: EPHEMERAL.includes(o.put[0]) ? this.lease : undefined,
          }
          : { del: key(o.del) }
      );
    let r;
    try {
      r = await this.etcd.txn(compare, success());
    } catch (e) {
      // A request that timed out under load is this write's failure; whether etcd is reachable
      // at all is the keepalive's to say (unhealthy()), so a busy manager does not refuse nodes.
      if (e instanceof EtcdUnreachableError) throw new StoreUnavailableError(e.message);
      if (!(e instanceof EtcdError) || !/lease not found/.test(e.message)) throw e;
      // Our lease ran out before the keepalive got through: take a new one, write again.
      await this.renew();
      r = await this.etcd.txn(compare, success());
    }
    if (r.ok) await this.waitFor(r.revision);
    return r.ok;
  }

  override async sync(): Promise<void> {
    await this.waitFor(await this.etcd.revision());
  }

  override deletedSince(rev: number): Promise<Set<string> | null> {
    if (rev > this.revision) return Promise.resolve(null);
    const mine = () => {
      const out = new Set<string>();
      for (const [k, r] of this.tombstones) if (r > rev) out.add(k);
      return out;
    };
    if (rev >= this.floor) return Promise.resolve(mine());
    // Before this manager started: etcd's own history, read once per revision asked.
    let p = this.history.get(rev);
    if (!p) {
      p = this.replay(rev + 1, this.floor).then((s) => {
        if (s) { for (const k of mine()) s.add(k); }
        return s;
      });
      this.history.set(rev, p);
      p.then((s) => s === null && this.history.delete(rev));
    }
    return p;
  }

  /** Deleted keys in [from, to], from a watch that starts in the past; null if compacted. */
  private replay(from: number, to: number): Promise<Set<string> | null> {
    const out = new Set<string>();
    const ac = new AbortController();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        ac.abort();
        resolve(null);
      }, 10000);
      const done = (v: Set<string> | null) => {
        clearTimeout(timer);
        ac.abort();
        resolve(v);
      };
      if (from > to) return done(out);
      // etcd sends the past at once after creating the watch: 300 ms quiet (2 s before any event) means all sent.
      let idle = setTimeout(() => done(out), 2000);
      this.etcd.watch(
        PREFIX,
        from,
        (events, revision) => {
          clearTimeout(idle);
          idle = setTimeout(() => done(out), 300);
          for (const e of events) {
            if (e.kv.modRevision > to) return done(out);
            const [kind, id] = EtcdState.split(e.kv.key);
            if (e.type === "DELETE") out.add(`${kind}/${id}`);
            else out.delete(`${kind}/${id}`);
          }
          if (revision >= to) done(out);
        },
        ac.signal,
        () => done(null),
      ).catch(() => done(null)).finally(() => clearTimeout(idle));
    });
  }

  override async close(): Promise<void> {
    clearInterval(this.keepalive);
    this.abort.abort();
    if (this.lease) await this.etcd.leaseRevoke(this.lease);
    this.etcd.close();
  }
}
