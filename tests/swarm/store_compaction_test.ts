// The embedded store's compaction (issue #13, keys at rest): the log is rewritten as one snapshot
// line at open, as it grows, and when a network key ring is replaced, so that a copy of the file
// holds no rotated-out key, while revisions and "fallen behind → resync in full" stay exactly what
// replaying the uncompacted log gives. Pure: temp files only.

import assert from "node:assert/strict";
import {
  COMPACT_FACTOR,
  COMPACT_SLACK,
  COMPACT_SUFFIX,
  Store,
  STORE_MODE,
  type StoreOptions,
} from "../../cli/control/swarm/store.ts";
import { EmbeddedState } from "../../cli/control/swarm/state.ts";
import { NetworkKeys } from "../../cli/control/swarm/netkeys.ts";

function withDir(f: (dir: string) => void | Promise<void>): () => Promise<void> {
  return async () => {
    const dir = Deno.makeTempDirSync({ prefix: "weft-store-" });
    try {
      await f(dir);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  };
}

/** A fresh 32-byte key as hex, as a ring generation would hold one. */
function secret(): string {
  return [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

function fileText(path: string): string {
  return Deno.readTextFileSync(path);
}

function lineCount(path: string): number {
  return fileText(path).split("\n").filter(Boolean).length;
}

/** Deterministic PRNG (mulberry32), so a failing sequence can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

type LineOp = { kind: string; id: string; value?: unknown };

/** A random mix of puts, overwrites, deletes and multi-key transactions over a few keys. */
function randomOps(seed: number, n: number): LineOp[][] {
  const r = rng(seed);
  const kinds = ["network", "endpoint", "netkey"];
  const out: LineOp[][] = [];
  for (let i = 0; i < n; i++) {
    const len = r() < 0.8 ? 1 : 2 + Math.floor(r() * 3);
    const txn: LineOp[] = [];
    for (let j = 0; j < len; j++) {
      const kind = kinds[Math.floor(r() * kinds.length)];
      const id = `k${Math.floor(r() * 12)}`;
      txn.push(r() < 0.35 ? { kind, id } : { kind, id, value: { i, j, s: r().toString(36) } });
    }
    out.push(txn);
  }
  return out;
}

/** Everything a resuming node or the manager's mirror can observe of a store. */
function observe(s: Store) {
  const kinds = ["network", "endpoint", "netkey"];
  return {
    revision: s.revision,
    floor: s.tombstoneFloor,
    tombstones: [...s.tombstones],
    tables: kinds.map((k) => [k, [...s.table(k)].map(([id, e]) => [id, e.modRev, e.value])]),
  };
}

/** The same transactions, one store never compacting (the log as before) and one compacting. */
function twin(dir: string, compacting: StoreOptions, maxTombstones: number) {
  const plain = new Store(`${dir}/plain.jsonl`, { compact: false, maxTombstones }).open();
  const compact = new Store(`${dir}/compact.jsonl`, { ...compacting, maxTombstones }).open();
  return { plain, compact };
}

Deno.test(
  "store: after 40 rotations of a netkey ring the log holds only the current generation, open or reopened",
  withDir((dir) => {
    const path = `${dir}/store.jsonl`;
    let s = new Store(path).open();
    s.put("network", "n1", { name: "secure", encrypted: true });
    const keys: string[] = [];
    for (let gen = 1; gen <= 40; gen++) {
      keys.push(secret());
      s.put("netkey", "n1", { network: "n1", ring: [{ gen, key: keys.at(-1) }] });
      s.put("endpoint", `e${gen}`, { network: "n1" }); // unrelated writes in between
      const text = fileText(path);
      assert.ok(text.includes(keys.at(-1)!), `generation ${gen} is in the log`);
      for (const [g, k] of keys.slice(0, -1).entries()) {
        assert.ok(!text.includes(k), `rotated-out generation ${g + 1} is gone after rotation ${gen}`);
      }
    }
    s.close();
    s = new Store(path).open();
    const text = fileText(path);
    assert.ok(text.includes(keys.at(-1)!));
    assert.equal(keys.filter((k) => text.includes(k)).length, 1);
    // Deleting the ring (the network removed) scrubs its last generation too.
    s.del("netkey", "n1");
    assert.ok(!fileText(path).includes(keys.at(-1)!));
    s.close();
  }),
);

Deno.test(
  "store: without scrub kinds, values overwritten more than the bound's worth of lines ago are gone",
  withDir((dir) => {
    const path = `${dir}/store.jsonl`;
    const s = new Store(path, { scrubKinds: new Set(), compactSlack: 20 }).open();
    const values: string[] = [];
    for (let i = 0; i < 200; i++) {
      values.push(secret());
      s.put("netkey", "n1", { key: values.at(-1) });
    }
    // Bound: COMPACT_FACTOR × 1 live entry + 20 lines after the snapshot.
    const text = fileText(path);
    const kept = values.filter((v) => text.includes(v)).length;
    assert.ok(kept >= 1 && kept <= COMPACT_FACTOR + 20 + 1, `${kept} values kept`);
    assert.ok(!text.includes(values[0]) && !text.includes(values[100]));
    s.close();
  }),
);

Deno.test(
  "store: revisions, modRevs, tombstones and their floor match the uncompacted log's, across reopens",
  withDir((dir) => {
    // compactFactor 0 and compactSlack 0: a compaction after every write, the hardest case.
    for (const compacting of [{ compactFactor: 0, compactSlack: 0 }, { compactSlack: 7 }]) {
      let { plain, compact } = twin(dir, compacting, 5);
      const ops = randomOps(13, 200);
      let last = 0;
      let compactions = 0;
      for (const [i, txn] of ops.entries()) {
        // Deletes of absent keys only: an empty txn is still a line and a revision.
        const a = plain.txn(txn);
        const b = compact.txn(txn);
        assert.equal(b, a);
        assert.ok(b > last, "revisions increase");
        last = b;
        if (i % 50 === 49) {
          compactions += compact.compactions;
          plain.close();
          compact.close();
          ({ plain, compact } = twin(dir, compacting, 5));
          assert.equal(lineCount(`${dir}/compact.jsonl`), 1, "open leaves one snapshot line");
        }
        assert.deepEqual(observe(compact), observe(plain), `after line ${i + 1}`);
      }
      assert.ok(plain.tombstoneFloor > 0, "the sequence forgot deletions (fallen-behind case covered)");
      assert.ok(compactions > 0);
      const rev = compact.revision;
      compact.close();
      compact = new Store(`${dir}/compact.jsonl`, { ...compacting, maxTombstones: 5 }).open();
      compact.put("network", "after", { x: 1 });
      assert.equal(compact.revision, rev + 1, "the next write after a reopen takes the next revision");
      assert.equal(compact.table("network").get("after")?.modRev, rev + 1);
      plain.close();
      compact.close();
      Deno.removeSync(`${dir}/plain.jsonl`);
      Deno.removeSync(`${dir}/compact.jsonl`);
    }
  }),
);

Deno.test(
  "store: a node resuming from any old revision is told 'fallen behind' (null) exactly as without compaction",
  withDir(async (dir) => {
    // EmbeddedState.deletedSince is what a resuming node's session asks; its Store is given small
    // limits so that deletions are forgotten within a short run.
    async function state(file: string, options: StoreOptions): Promise<EmbeddedState> {
      const st = new EmbeddedState(`${dir}/${file}`);
      (st as { store: Store }).store = new Store(`${dir}/${file}`, { ...options, maxTombstones: 6 });
      await st.start();
      return st;
    }
    async function answers(st: EmbeddedState): Promise<(string[] | null)[]> {
      const out = [];
      for (let rev = 0; rev <= st.revision + 1; rev++) {
        const d = await st.deletedSince(rev);
        out.push(d && [...d].sort());
      }
      return out;
    }
    let plain = await state("plain.jsonl", { compact: false });
    let compact = await state("compact.jsonl", { compactFactor: 1, compactSlack: 3 });
    for (const [i, txn] of randomOps(7, 160).entries()) {
      const ops = txn.map((o) =>
        o.value === undefined ? { del: [o.kind, o.id] as [string, string] } : {
          put: [o.kind, o.id] as [string, string],
          value: o.value,
        }
      );
      await plain.txn([], ops);
      await compact.txn([], ops);
      if (i % 40 === 39) {
        await plain.close();
        await compact.close();
        plain = await state("plain.jsonl", { compact: false });
        compact = await state("compact.jsonl", { compactFactor: 1, compactSlack: 3 });
      }
    }
    const want = await answers(plain);
    assert.ok(want.some((a) => a === null) && want.some((a) => a !== null && a.length > 0));
    assert.deepEqual(await answers(compact), want);
    assert.equal(compact.revision, plain.revision);
    await plain.close();
    await compact.close();
  }),
);

Deno.test(
  "store: a stray temp file of a crash mid-compaction is ignored and removed; the old log stands",
  withDir((dir) => {
    const path = `${dir}/store.jsonl`;
    const s = new Store(path, { compact: false }).open();
    s.put("network", "a", { name: "kept" });
    s.put("network", "b", { name: "also" });
    s.close();
    const leaked = secret();
    // A crash after writing the temp file and before the rename (even a half-written one).
    Deno.writeTextFileSync(
      path + COMPACT_SUFFIX,
      `{"op":"snap","rev":99,"floor":0,"tables":[["netkey",[["n",1,"${leaked}"]]]],"tombst`,
    );
    const r = new Store(path).open();
    assert.deepEqual(r.all("network"), [{ name: "kept" }, { name: "also" }]);
    assert.equal(r.revision, 2);
    assert.equal(r.get("netkey", "n"), undefined);
    assert.throws(() => Deno.statSync(path + COMPACT_SUFFIX), Deno.errors.NotFound);
    r.close();
    // Also when the log needs no compaction at open (it is one snapshot already).
    Deno.writeTextFileSync(path + COMPACT_SUFFIX, leaked);
    const again = new Store(path).open();
    assert.equal(again.compactions, 0);
    assert.throws(() => Deno.statSync(path + COMPACT_SUFFIX), Deno.errors.NotFound);
    assert.deepEqual(again.all("network"), [{ name: "kept" }, { name: "also" }]);
    again.close();
  }),
);

Deno.test(
  "store: a torn last line is ignored, and the next write is not glued to it and lost",
  withDir((dir) => {
    const path = `${dir}/store.jsonl`;
    const s = new Store(path).open();
    s.put("network", "a", { name: "one" });
    s.close();
    Deno.writeTextFileSync(path, '{"op":"put","kind":"netw', { append: true });
    const r = new Store(path).open();
    assert.deepEqual(r.all("network"), [{ name: "one" }]);
    r.put("network", "b", { name: "two" });
    r.close();
    const again = new Store(path).open();
    assert.deepEqual(again.all("network"), [{ name: "one" }, { name: "two" }]);
    assert.equal(again.revision, 2);
    again.close();
  }),
);

Deno.test(
  "store: the log is 0600 when created, after a compaction, and when an older weft left it 0644",
  withDir((dir) => {
    const mode = (p: string) => Deno.statSync(p).mode! & 0o777;
    const path = `${dir}/store.jsonl`;
    const s = new Store(path, { compactSlack: 2, compactFactor: 0 }).open();
    assert.equal(mode(path), STORE_MODE);
    for (let i = 0; i < 5; i++) s.put("network", "a", { i });
    assert.ok(s.compactions > 0);
    assert.equal(mode(path), STORE_MODE);
    s.close();
    Deno.writeTextFileSync(`${dir}/old.jsonl`, '{"op":"put","kind":"network","id":"a","value":1}\n', {
      mode: 0o644,
    });
    Deno.chmodSync(`${dir}/old.jsonl`, 0o644);
    const old = new Store(`${dir}/old.jsonl`).open();
    assert.equal(mode(`${dir}/old.jsonl`), STORE_MODE);
    old.close();
  }),
);

Deno.test(
  "store: 2500 puts over 20 keys keep the log within COMPACT_FACTOR × 20 + COMPACT_SLACK lines",
  withDir((dir) => {
    const path = `${dir}/store.jsonl`;
    const s = new Store(path).open();
    const bound = COMPACT_FACTOR * 20 + COMPACT_SLACK + 1; // + the snapshot line
    let maxLines = 0;
    for (let i = 0; i < 2500; i++) {
      s.put("endpoint", `e${i % 20}`, { n: i, pad: "x".repeat(64) });
      if (i % 100 === 99) maxLines = Math.max(maxLines, lineCount(path));
    }
    assert.ok(maxLines <= bound, `${maxLines} lines > ${bound}`);
    assert.ok(Deno.statSync(path).size <= bound * 140, `${Deno.statSync(path).size} bytes`);
    assert.ok(s.compactions >= 2);
    assert.equal(s.revision, 2500);
    s.close();
  }),
);

Deno.test(
  "store: compact() before open() refuses rather than replace the log with an empty snapshot",
  withDir((dir) => {
    const path = `${dir}/store.jsonl`;
    const s = new Store(path).open();
    s.put("network", "a", { name: "kept" });
    s.close();
    const before = fileText(path);
    assert.throws(() => new Store(path).compact(), /store is not open/);
    assert.equal(fileText(path), before);
    assert.throws(() => s.compact(), /store is not open/);
    assert.equal(fileText(path), before);
  }),
);

Deno.test(
  "store: the manager's netkey writes leave only the ring's generations in store.jsonl, none once the network goes",
  withDir(async (dir) => {
    // The manager's own writes (netkeys.ts) through its EmbeddedState, rotation every second.
    const path = `${dir}/store.jsonl`;
    const state = new EmbeddedState(path);
    await state.start();
    const keys = new NetworkKeys(state, 1000);
    try {
      assert.ok(await state.txn([], keys.createOps("n1")));
      const seen = new Map<number, string>();
      const t0 = Date.parse(keys.ring("n1")![0].createdAt);
      for (let i = 1; i <= 6; i++) {
        for (const k of keys.ring("n1")!) seen.set(k.gen, k.key);
        const w = keys.rotateWrite("n1", t0 + 1000 * i)!;
        assert.ok(await state.txn(w.conds, w.ops));
      }
      const ring = keys.ring("n1")!;
      assert.equal(ring.length, 2, "current and previous generation");
      for (const k of ring) seen.set(k.gen, k.key);
      const text = fileText(path);
      for (const [gen, key] of seen) {
        const inRing = ring.some((k) => k.gen === gen);
        assert.equal(text.includes(key), inRing, `generation ${gen} ${inRing ? "kept" : "gone"}`);
      }
      assert.ok(await state.txn([], keys.removeOps("n1")));
      const after = fileText(path);
      for (const key of seen.values()) assert.ok(!after.includes(key));
    } finally {
      await state.close();
    }
  }),
);
