// The manager's embedded store: an append-only JSON-lines log under the state dir, one record per
// change, each write fsync'ed (fdatasync) before the change is acknowledged. Replayed at start;
// a torn last line (crash mid-write) is ignored. Records: {"op":"put","kind":K,"id":I,"value":V}
// and {"op":"del","kind":K,"id":I}.

export type Kind = "cluster" | "node" | "network" | "endpoint" | "netkey" | "sa";

interface LogRecord {
  op: "put" | "del";
  kind: Kind;
  id: string;
  value?: unknown;
}

export class Store {
  private readonly tables = new Map<Kind, Map<string, unknown>>();
  private file?: Deno.FsFile;
  private readonly enc = new TextEncoder();
  /** Records replayed at open (for tests and `weft daemon` logs). */
  replayed = 0;

  constructor(readonly path: string) {}

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
    this.file = Deno.openSync(this.path, { append: true, create: true });
    return this;
  }

  private table(kind: Kind): Map<string, unknown> {
    let t = this.tables.get(kind);
    if (!t) this.tables.set(kind, t = new Map());
    return t;
  }

  private applyRecord(r: LogRecord): void {
    if (r.op === "put") this.table(r.kind).set(r.id, r.value);
    else this.table(r.kind).delete(r.id);
  }

  private write(r: LogRecord): void {
    if (!this.file) throw new Error("store is not open");
    const bytes = this.enc.encode(JSON.stringify(r) + "\n");
    let off = 0;
    while (off < bytes.length) off += this.file.writeSync(bytes.subarray(off));
    this.file.syncDataSync();
    this.applyRecord(r);
  }

  put<T>(kind: Kind, id: string, value: T): void {
    this.write({ op: "put", kind, id, value });
  }

  del(kind: Kind, id: string): void {
    if (this.table(kind).has(id)) this.write({ op: "del", kind, id });
  }

  get<T>(kind: Kind, id: string): T | undefined {
    return this.table(kind).get(id) as T | undefined;
  }

  all<T>(kind: Kind): T[] {
    return [...this.table(kind).values()] as T[];
  }

  close(): void {
    this.file?.close();
    this.file = undefined;
  }
}
