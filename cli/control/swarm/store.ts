// The manager's embedded store: an append-only JSON-lines log under the state dir, one line per
// transaction, each write fsync'ed (fdatasync) before the change is acknowledged. Replayed at
// start; a torn last line (crash mid-write) is ignored. A line is one revision (numbered from 1,
// as etcd's are), so nodes can resume from a revision with either store. Lines:
// {"op":"put","kind":K,"id":I,"value":V}, {"op":"del","kind":K,"id":I} (one change each) and
// {"op":"txn","ops":[{"kind","id","value"?}, …]} (several at once; no value = delete).

/** A table of the store ("network", "node", …): the first part of a key "kind/id". */
export type Kind = string;

interface LogRecord {
  op: "put" | "del" | "txn";
  kind?: Kind;
  id?: string;
  value?: unknown;
  ops?: { kind: Kind; id: string; value?: unknown }[];
}

/** A stored value and the revision that last wrote it. */
export interface Entry {
  value: unknown;
  /** Revision of the line that last wrote it. */
  modRev: number;
}

/** File mode of the log: read and write for its owner only. */
export const STORE_MODE = 0o600;

/** Deletions remembered for resuming nodes; older ones mean "fallen behind": resync in full. */
const MAX_TOMBSTONES = 100_000;

/** The embedded store: tables in memory, every write appended to the log at `path` first. */
export class Store {
  private readonly tables = new Map<Kind, Map<string, Entry>>();
  private file?: Deno.FsFile;
  private readonly enc = new TextEncoder();
  /** Records replayed at open (for tests and `weft daemon` logs). */
  replayed = 0;
  /** Revision of the last line. */
  revision = 0;
  /** Deleted keys ("kind/id") → revision of the deletion. */
  readonly tombstones = new Map<string, number>();
  /** Deletions before this revision were forgotten. */
  tombstoneFloor = 0;

  constructor(readonly path: string) {}

  /**
   * Replays the log (none yet: an empty store) and opens it for appending.
   * @throws Error "store … is corrupt at line N" for a bad line that is not the last; Deno
   * errors other than NotFound from reading or opening the file.
   */
  open(): this {
    let text = "";
    try {
      text = Deno.readTextFileSync(this.path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i]) continue;
      let r: LogRecord;
      try {
        r = JSON.parse(lines[i]);
      } catch {
        if (i >= lines.length - 2) break; // torn tail of a crash
        throw new Error(`store ${this.path} is corrupt at line ${i + 1}`);
      }
      this.applyRecord(r);
      this.replayed++;
    }
    // The log holds the CA's private key, join-token secrets and encrypted networks' keys in
    // clear: owner (root) only, also for a log an older weft created with the umask's mode.
    this.file = Deno.openSync(this.path, { append: true, create: true, mode: STORE_MODE });
    Deno.chmodSync(this.path, STORE_MODE);
    return this;
  }

  /** The live table of a kind (created empty on first use). */
  table(kind: Kind): Map<string, Entry> {
    let t = this.tables.get(kind);
    if (!t) this.tables.set(kind, t = new Map());
    return t;
  }

  private applyRecord(r: LogRecord): void {
    this.revision++;
    const ops = r.op === "txn"
      ? r.ops ?? []
      : [{ kind: r.kind!, id: r.id!, value: r.op === "put" ? r.value : undefined }];
    for (const o of ops) {
      const key = `${o.kind}/${o.id}`;
      if (o.value !== undefined) {
        this.table(o.kind).set(o.id, { value: o.value, modRev: this.revision });
        this.tombstones.delete(key);
      } else if (this.table(o.kind).delete(o.id)) {
        this.tombstones.set(key, this.revision);
        if (this.tombstones.size > MAX_TOMBSTONES) {
          const [oldest, rev] = this.tombstones.entries().next().value!;
          this.tombstones.delete(oldest);
          this.tombstoneFloor = rev;
        }
      }
    }
  }

  private write(r: LogRecord): number {
    if (!this.file) throw new Error("store is not open");
    const bytes = this.enc.encode(JSON.stringify(r) + "\n");
    let off = 0;
    while (off < bytes.length) off += this.file.writeSync(bytes.subarray(off));
    this.file.syncDataSync();
    this.applyRecord(r);
    return this.revision;
  }

  /** Several puts (value given) and deletes (value undefined) as one line: all or none survive.
   * @returns the new revision. @throws Error when the store is not open. */
  txn(ops: { kind: Kind; id: string; value?: unknown }[]): number {
    return this.write({ op: "txn", ops });
  }

  /** One put as one line (one revision). */
  put<T>(kind: Kind, id: string, value: T): void {
    this.write({ op: "put", kind, id, value });
  }

  /** One delete as one line; nothing is written for a key that is not there. */
  del(kind: Kind, id: string): void {
    if (this.table(kind).has(id)) this.write({ op: "del", kind, id });
  }

  /** The value of kind/id, or undefined. */
  get<T>(kind: Kind, id: string): T | undefined {
    return this.table(kind).get(id)?.value as T | undefined;
  }

  /** Every value of a kind, in insertion order. */
  all<T>(kind: Kind): T[] {
    return [...this.table(kind).values()].map((e) => e.value) as T[];
  }

  /** Closes the log file; open() again to write. */
  close(): void {
    this.file?.close();
    this.file = undefined;
  }
}
