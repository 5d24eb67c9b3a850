// The embedded backend: one manager, its JSON-lines log under the state dir (store.ts). The log
// is the mirror, so sync() has nothing to wait for and a transaction is checked and written in
// one step.

import { Store } from "./store.ts";
import { type Cond, EPHEMERAL, type Op, SwarmState } from "./swarm_state.ts";

/** SwarmState on the embedded log (`path`: the store.jsonl under the state dir). */
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
