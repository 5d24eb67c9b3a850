// The interface every store backend of the swarm offers a manager (state.ts has the overview):
// tables of records keyed "kind/id" mirrored locally for synchronous reads, each with the
// revision that last wrote it; conditional transactions; the change feed; deletions since a
// revision.

/** Kinds bound to the life of the manager that wrote them: presence, the leader key, sessions. */
export const EPHEMERAL = ["manager", "leader", "session"];

/** Seconds of this manager's etcd lease: its leadership and sessions outlive it by at most this. */
export const LEASE_TTL_S = 3;

/** One key's change, as the watch (or the embedded log) reports it. */
export interface Change {
  kind: string;
  id: string;
  /** undefined: deleted. */
  value?: unknown;
  /** The value before this change (undefined: it was created). */
  prev?: unknown;
  /** The store revision of the transaction that made it. */
  rev: number;
}

/** A transaction condition: the key does not exist, or its last write was at revision `rev`
 * (etcd's compare on create_revision = 0 / mod_revision). */
export type Cond =
  | { absent: [kind: string, id: string] }
  | { unchanged: [kind: string, id: string]; rev: number };

/** A transaction operation: put a value (JSON-serialisable) or delete the key. */
export type Op =
  | { put: [kind: string, id: string]; value: unknown }
  | { del: [kind: string, id: string] };

/** The store cannot be reached: writes are refused (a node told so retries later). */
export class StoreUnavailableError extends Error {
  override name = "StoreUnavailableError";
}

interface Entry {
  value: unknown;
  modRev: number;
}

/** A store backend as managers use it: reads from the local mirror, writes as transactions. */
export abstract class SwarmState {
  /** The store as a message names it: "embedded", or the --cluster-store URL. */
  abstract readonly describe: string;
  protected readonly tables = new Map<string, Map<string, Entry>>();
  /** The store revision the mirror has reached. */
  revision = 0;
  /** Every change, in revision order, whichever manager made it. */
  onChange: (changes: Change[], rev: number) => void = () => {};
  /** The mirror was reloaded in full (history compacted): every node needs a full resync. */
  onReset: () => void = () => {};
  /** The lease was lost and granted again: ephemeral keys must be written again. */
  onLeaseRenewed: () => void = () => {};
  /** Where the backend reports trouble (lease lost, watch restarted). */
  log: (m: string) => void = () => {};

  protected table(kind: string): Map<string, Entry> {
    let t = this.tables.get(kind);
    if (!t) this.tables.set(kind, t = new Map());
    return t;
  }

  /** The mirror's value of kind/id, or undefined. */
  get<T>(kind: string, id: string): T | undefined {
    return this.tables.get(kind)?.get(id)?.value as T | undefined;
  }

  /** The revision that last wrote kind/id (0: not there); what an `unchanged` Cond names. */
  modRev(kind: string, id: string): number {
    return this.tables.get(kind)?.get(id)?.modRev ?? 0;
  }

  /** Every value of a kind. */
  all<T>(kind: string): T[] {
    return [...(this.tables.get(kind)?.values() ?? [])].map((e) => e.value) as T[];
  }

  /** Every [id, value, modRev] of a kind. */
  entries<T>(kind: string): [string, T, number][] {
    return [...(this.tables.get(kind)?.entries() ?? [])].map(([id, e]) => [id, e.value as T, e.modRev]);
  }

  /** Why writes are refused now (the store is unreachable), or undefined when they are not. */
  abstract unhealthy(): string | undefined;
  /** Loads the mirror and starts following the store.
   * @throws StoreUnavailableError or the backend's error when it cannot be read. */
  abstract start(): Promise<void>;
  /** Stops following and gives up this manager's ephemeral keys (etcd: revokes the lease). */
  abstract close(): Promise<void>;
  /** All conditions hold → all ops, atomically; false when one did not hold (nothing written).
   * Resolves once the mirror has the write. @throws StoreUnavailableError when the store cannot
   * be reached (etcd: EtcdError for what etcd refuses). */
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
