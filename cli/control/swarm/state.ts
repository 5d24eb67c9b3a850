// The swarm's state as a manager sees it: tables of records keyed "kind/id", each with the
// revision that last wrote it, behind one interface with two backends:
//   EmbeddedState  the JSON-lines log under the state dir (store.ts): one manager, the default
//   EtcdState      etcd (--cluster-store etcd://…): any number of managers share it
// Reads come from a local mirror (synchronous); writes are transactions whose conditions are
// checked by the store itself (etcd's compare-and-swap), so two managers can never hand out the
// same name, subnet, VNI or address. A write resolves once the mirror has caught up with it, and
// every change reaches `onChange` with its revision, whichever manager made it.
//
// Ephemeral kinds (EPHEMERAL) are bound to this manager's life: with etcd to its lease (they
// vanish TTL seconds after it dies), in the embedded store they are dropped at the next start.

import { Store } from "./store.ts";
import {
  Etcd,
  type EtcdConfig,
  EtcdError,
  EtcdUnreachableError,
  type TxnOp,
  type WatchEvent,
} from "./etcd.ts";

export const EPHEMERAL = ["manager", "leader", "session"];

/** Seconds of this manager's etcd lease: its leadership and sessions outlive it by at most this. */
export const LEASE_TTL_S = 3;
const KEEPALIVE_MS = 1000;
const PREFIX = "/weft/";

export interface Change {
  kind: string;
  id: string;
  /** undefined: deleted. */
  value?: unknown;
  prev?: unknown;
  rev: number;
}

export type Cond =
  | { absent: [kind: string, id: string] }
  | { unchanged: [kind: string, id: string]; rev: number };

export type Op =
  | { put: [kind: string, id: string]; value: unknown }
  | { del: [kind: string, id: string] };

export class StoreUnavailableError extends Error {
  override name = "StoreUnavailableError";
}

interface Entry {
  value: unknown;
  modRev: number;
}

export abstract class SwarmState {
  abstract readonly describe: string;
  protected readonly tables = new Map<string, Map<string, Entry>>();
  revision = 0;
  onChange: (changes: Change[], rev: number) => void = () => {};
  /** The mirror was reloaded in full (history compacted): every node needs a full resync. */
  onReset: () => void = () => {};
  /** The lease was lost and granted again: ephemeral keys must be written again. */
  onLeaseRenewed: () => void = () => {};
  log: (m: string) => void = () => {};

  protected table(kind: string): Map<string, Entry> {
    let t = this.tables.get(kind);
    if (!t) this.tables.set(kind, t = new Map());
    return t;
  }

  get<T>(kind: string, id: string): T | undefined {
    return this.tables.get(kind)?.get(id)?.value as T | undefined;
  }

  modRev(kind: string, id: string): number {
    return this.tables.get(kind)?.get(id)?.modRev ?? 0;
  }

  all<T>(kind: string): T[] {
    return [...(this.tables.get(kind)?.values() ?? [])].map((e) => e.value) as T[];
  }

  entries<T>(kind: string): [string, T, number][] {
    return [...(this.tables.get(kind)?.entries() ?? [])].map(([id, e]) => [id, e.value as T, e.modRev]);
  }

  /** Why writes are refused now (the store is unreachable), or undefined when they are not. */
  abstract unhealthy(): string | undefined;
  abstract start(): Promise<void>;
  abstract close(): Promise<void>;
  /** All conditions hold → all ops, atomically; false when one did not hold (nothing written). */
  abstract txn(conds: Cond[], ops: Op[]): Promise<boolean>;
  /** Keys ("kind/id") deleted after `rev`, or null when that history is gone (resync in full). */
  abstract deletedSince(rev: number): Promise<Set<string> | null>;
  /** Returns once the mirror has every change made before the call (read-your-writes across managers). */
  abstract sync(): Promise<void>;

  /** Applies one change to the mirror and returns it with the previous value. */
  protected applyChange(kind: string, id: string, value: unknown, rev: number): Change {
    const t = this.table(kind);
    const prev = t.get(id)?.value;
    if (value === undefined) t.delete(id);
    else t.set(id, { value, modRev: rev });
    return { kind, id, value, prev, rev };
  }
}

export class EmbeddedState extends SwarmState {
  readonly describe = "embedded";
  readonly store: Store;

  constructor(path: string) {
    super();
    this.store = new Store(path);
  }

  override async start(): Promise<void> {
    this.store.open();
    for (const kind of this.store_kinds()) {
      for (const [id, e] of this.store.table(kind)) {
        this.table(kind).set(id, { value: e.value, modRev: e.modRev });
      }
    }
    this.revision = this.store.revision;
    // The previous run's ephemeral keys: as if its lease had expired.
    const stale = EPHEMERAL.flatMap((k) =>
      [...this.table(k).keys()].map((id) => ({ del: [k, id] as [string, string] }))
    );
    if (stale.length) await this.txn([], stale);
  }

  private store_kinds(): string[] {
    return [...(this.store as unknown as { tables: Map<string, unknown> }).tables.keys()];
  }

  override unhealthy(): string | undefined {
    return undefined;
  }

  override txn(conds: Cond[], ops: Op[]): Promise<boolean> {
    for (const c of conds) {
      if ("absent" in c && this.get(c.absent[0], c.absent[1]) !== undefined) return Promise.resolve(false);
      if ("unchanged" in c && this.modRev(c.unchanged[0], c.unchanged[1]) !== c.rev) {
        return Promise.resolve(false);
      }
    }
    const lineOps = ops.map((o) =>
      "put" in o ? { kind: o.put[0], id: o.put[1], value: o.value } : { kind: o.del[0], id: o.del[1] }
    ).filter((o) => o.value !== undefined || this.get(o.kind, o.id) !== undefined);
    if (!lineOps.length) return Promise.resolve(true);
    const rev = this.store.txn(lineOps);
    this.revision = rev;
    const changes = lineOps.map((o) => this.applyChange(o.kind, o.id, o.value, rev));
    this.onChange(changes, rev);
    return Promise.resolve(true);
  }

  override sync(): Promise<void> {
    return Promise.resolve(); // the log is the mirror
  }

  override deletedSince(rev: number): Promise<Set<string> | null> {
    if (rev < this.store.tombstoneFloor || rev > this.revision) return Promise.resolve(null);
    const out = new Set<string>();
    for (const [k, r] of this.store.tombstones) if (r > rev) out.add(k);
    return Promise.resolve(out);
  }

  override close(): Promise<void> {
    this.store.close();
    return Promise.resolve();
  }
}

export class EtcdState extends SwarmState {
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
