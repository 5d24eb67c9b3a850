// The manager's embedded store: an append-only JSON-lines log under the state dir, one line per
// transaction, each write fsync'ed (fdatasync) before the change is acknowledged. Replayed at
// start; a torn last line (crash mid-write) is ignored. A line is one revision (numbered from 1,
// as etcd's are), so nodes can resume from a revision with either store. Lines:
// {"op":"put","kind":K,"id":I,"value":V}, {"op":"del","kind":K,"id":I} (one change each) and
// {"op":"txn","ops":[{"kind","id","value"?}, …]} (several at once; no value = delete).
//
// Compaction rewrites the log as one snapshot line, {"op":"snap","rev":R,"floor":F,
// "tables":[[kind,[[id,modRev,value],…]],…],"tombstones":[[kind/id,rev],…]}: every live entry
// with its modRev, the revision, and the deletions resuming nodes still need, so that revisions and
// "fallen behind → resync in full" are exactly what replaying the whole log gave. The snapshot is
// not a revision. It goes to `<path>.compact` (0600), is fsync'ed, renamed over the log and the
// directory fsync'ed (the rename(2) recipe of ext4/XFS for atomic replace): a crash leaves the old log
// or the new one, never a mix. Without it, the log kept every value ever written, every generation of
// every network key included (issue #13).

/** A table of the store ("network", "node", …): the first part of a key "kind/id". */
export type Kind = string;

interface LogRecord {
  op: "put" | "del" | "txn" | "snap";
  kind?: Kind;
  id?: string;
  value?: unknown;
  ops?: { kind: Kind; id: string; value?: unknown }[];
}

/** The one line of a compacted log (see the top of this file). */
interface Snapshot {
  op: "snap";
  rev: number;
  floor: number;
  tables: [Kind, [string, number, unknown][]][];
  tombstones: [string, number][];
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

/**
 * The log is compacted once the lines after its snapshot exceed COMPACT_FACTOR × (live entries +
 * tombstones) + COMPACT_SLACK. A compaction writes one line per entry and tombstone, so with the
 * factor the cost is amortized O(1) per transaction, and the file stays within a constant factor of
 * the snapshot's size (plus COMPACT_SLACK lines for a small store).
 */
export const COMPACT_FACTOR = 4;
/** See COMPACT_FACTOR. */
export const COMPACT_SLACK = 1000;

/**
 * Kinds whose replaced or deleted values must not rest in the log: overwriting or deleting one of
 * them compacts at once. `netkey/<network>` (netkeys.ts) holds an encrypted network's key ring; a
 * rotated-out generation left in the file would decrypt captures of that generation (issue #13).
 * Rings rotate every `--key-rotation-interval` (default 12 h), so this is off the hot path.
 */
export const SCRUB_KINDS: ReadonlySet<Kind> = new Set(["netkey"]);

/** Suffix of the temporary file a compaction writes beside the log before renaming it over. */
export const COMPACT_SUFFIX = ".compact";

/** Limits of a Store; every field defaults to the constant of the same name. */
export interface StoreOptions {
  /** Default MAX_TOMBSTONES. */
  maxTombstones?: number;
  /** Default COMPACT_FACTOR. */
  compactFactor?: number;
  /** Default COMPACT_SLACK (lines). */
  compactSlack?: number;
  /** Default SCRUB_KINDS. */
  scrubKinds?: ReadonlySet<Kind>;
  /** false: never compact (the log as it was before compaction existed; for tests). Default true. */
  compact?: boolean;
}

/** The embedded store: tables in memory, every write appended to the log at `path` first. */
export class Store {
  private readonly tables = new Map<Kind, Map<string, Entry>>();
  private file?: Deno.FsFile;
  private readonly enc = new TextEncoder();
  private readonly maxTombstones: number;
  private readonly compactFactor: number;
  private readonly compactSlack: number;
  private readonly scrubKinds: ReadonlySet<Kind>;
  private readonly compaction: boolean;
  /** Lines of the log after its snapshot (all of them when it has none). */
  private lines = 0;
  /** Lines replayed at open, a snapshot counting as one (for tests and `weft daemon` logs). */
  replayed = 0;
  /** Revision of the last line. */
  revision = 0;
  /** Deleted keys ("kind/id") → revision of the deletion, oldest first. */
  readonly tombstones = new Map<string, number>();
  /** Deletions before this revision were forgotten. */
  tombstoneFloor = 0;
  /** Compactions done since construction (at open and as the log grew). */
  compactions = 0;
  /** Why the last compaction after a write failed (the write itself had succeeded), if it did. */
  compactionError?: Error;

  constructor(readonly path: string, options: StoreOptions = {}) {
    this.maxTombstones = options.maxTombstones ?? MAX_TOMBSTONES;
    this.compactFactor = options.compactFactor ?? COMPACT_FACTOR;
    this.compactSlack = options.compactSlack ?? COMPACT_SLACK;
    this.scrubKinds = options.scrubKinds ?? SCRUB_KINDS;
    this.compaction = options.compact ?? true;
  }

  /**
   * Replays the log (none yet: an empty store), compacts it unless it is one snapshot already, and
   * opens it for appending. A stray `<path>.compact` (a crash before its rename) is removed unread.
   * @throws Error "store … is corrupt at line N" for a bad line that is not the last; Deno
   * errors other than NotFound from reading, compacting or opening the file.
   */
  open(): this {
    let text = "";
    try {
      text = Deno.readTextFileSync(this.path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    removeIfThere(this.path + COMPACT_SUFFIX); // it may hold values the log no longer does
    const lines = text.split("\n");
    let torn = false;
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i]) continue;
      let r: LogRecord;
      try {
        r = JSON.parse(lines[i]);
      } catch {
        if (i >= lines.length - 2) {
          torn = true; // torn tail of a crash
          break;
        }
        throw new Error(`store ${this.path} is corrupt at line ${i + 1}`);
      }
      this.applyRecord(r);
      this.replayed++;
    }
    // A torn tail must go too: the next line appended would be glued to it and lost at replay.
    if (this.compaction && (this.lines > 0 || torn)) {
      this.rewrite();
      return this;
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

  /** Applies one line; true when it replaced or deleted a value of a kind in scrubKinds. */
  private applyRecord(r: LogRecord): boolean {
    if (r.op === "snap") {
      this.restore(r as unknown as Snapshot);
      return false;
    }
    this.lines++;
    this.revision++;
    let scrub = false;
    const ops = r.op === "txn"
      ? r.ops ?? []
      : [{ kind: r.kind!, id: r.id!, value: r.op === "put" ? r.value : undefined }];
    for (const o of ops) {
      const key = `${o.kind}/${o.id}`;
      const t = this.table(o.kind);
      if (o.value !== undefined) {
        if (t.has(o.id) && this.scrubKinds.has(o.kind)) scrub = true;
        t.set(o.id, { value: o.value, modRev: this.revision });
        this.tombstones.delete(key);
      } else if (t.delete(o.id)) {
        if (this.scrubKinds.has(o.kind)) scrub = true;
        this.tombstones.set(key, this.revision);
        if (this.tombstones.size > this.maxTombstones) {
          const [oldest, rev] = this.tombstones.entries().next().value!;
          this.tombstones.delete(oldest);
          this.tombstoneFloor = rev;
        }
      }
    }
    return scrub;
  }

  /** The state as one snapshot line: tables and tombstones in their Map order. */
  private snapshot(): Snapshot {
    const tables: Snapshot["tables"] = [];
    for (const [kind, t] of this.tables) {
      if (t.size) tables.push([kind, [...t].map(([id, e]) => [id, e.modRev, e.value])]);
    }
    return {
      op: "snap",
      rev: this.revision,
      floor: this.tombstoneFloor,
      tables,
      tombstones: [...this.tombstones],
    };
  }

  /** Replaces the whole state with a snapshot's. */
  private restore(s: Snapshot): void {
    this.tables.clear();
    for (const [kind, entries] of s.tables) {
      const t = this.table(kind);
      for (const [id, modRev, value] of entries) t.set(id, { value, modRev });
    }
    this.tombstones.clear();
    for (const [key, rev] of s.tombstones) this.tombstones.set(key, rev);
    this.revision = s.rev;
    this.tombstoneFloor = s.floor;
    this.lines = 0;
  }

  /**
   * Rewrites the log as one snapshot line (see the top of this file); later writes append to it.
   * @throws Error "store is not open" (before open() the state is not the log's: it would be lost);
   * Deno errors from writing, syncing or renaming, the old log then left as it was (an error from
   * fsync'ing the directory comes after the rename: the new log is in use).
   */
  compact(): void {
    if (!this.file) throw new Error("store is not open");
    this.rewrite();
  }

  private rewrite(): void {
    const tmp = this.path + COMPACT_SUFFIX;
    removeIfThere(tmp);
    // Opened for appending before the rename, so that after it nothing can fail that would leave
    // writes going to the old, unlinked file.
    const f = Deno.openSync(tmp, { append: true, createNew: true, mode: STORE_MODE });
    try {
      writeAll(f, this.enc.encode(JSON.stringify(this.snapshot()) + "\n"));
      f.syncSync();
      Deno.renameSync(tmp, this.path);
    } catch (e) {
      f.close();
      removeIfThere(tmp);
      throw e;
    }
    this.file?.close();
    this.file = f;
    this.lines = 0;
    this.compactions++;
    syncDir(this.path);
  }

  private write(r: LogRecord): number {
    if (!this.file) throw new Error("store is not open");
    writeAll(this.file, this.enc.encode(JSON.stringify(r) + "\n"));
    this.file.syncDataSync();
    const scrub = this.applyRecord(r);
    if (this.compaction && (scrub || this.lines > this.compactBound())) {
      // The write is durable and applied: a failed compaction must not fail it. Retried after
      // another bound's worth of lines (or the next scrub).
      try {
        this.rewrite();
        this.compactionError = undefined;
      } catch (e) {
        this.compactionError = e instanceof Error ? e : new Error(String(e));
        this.lines = 0;
      }
    }
    return this.revision;
  }

  /** Lines after the snapshot beyond which the log is compacted (COMPACT_FACTOR). */
  private compactBound(): number {
    let live = 0;
    for (const t of this.tables.values()) live += t.size;
    return this.compactFactor * (live + this.tombstones.size) + this.compactSlack;
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

function writeAll(f: Deno.FsFile, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += f.writeSync(bytes.subarray(off));
}

function removeIfThere(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** fsync(2) of the log's directory, so that the rename survives a crash (ext4 does not promise it). */
function syncDir(path: string): void {
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : ".";
  const d = Deno.openSync(dir, { read: true });
  try {
    d.syncSync();
  } finally {
    d.close();
  }
}
