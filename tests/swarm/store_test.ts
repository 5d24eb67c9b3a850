// The embedded store's JSON-lines log (cli/control/swarm/store.ts): what is written survives a
// reopen, and a line torn by a crash mid-write is dropped, not fatal.

import assert from "node:assert/strict";
import { Store, STORE_MODE } from "../../cli/control/swarm/store.ts";

Deno.test("store: every put and del survives a reopen; a torn last line is ignored", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const s = new Store(`${dir}/store.jsonl`).open();
    s.put("network", "a", { name: "uber-net" });
    s.put("network", "b", { name: "other" });
    s.del("network", "b");
    s.close();
    Deno.writeTextFileSync(`${dir}/store.jsonl`, '{"op":"put","kind":"netw', { append: true });
    const r = new Store(`${dir}/store.jsonl`).open();
    assert.deepEqual(r.all("network"), [{ name: "uber-net" }]);
    assert.equal(r.replayed, 3);
    r.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("store: a txn is one revision; deletes leave tombstones at their revision", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const s = new Store(`${dir}/store.jsonl`).open();
    const r1 = s.txn([{ kind: "network", id: "a", value: 1 }, { kind: "vni", id: "4096", value: "a" }]);
    assert.equal(r1, 1, "two keys, one revision");
    assert.equal(s.table("vni").get("4096")?.modRev, 1);
    const r2 = s.txn([{ kind: "vni", id: "4096" }]);
    assert.equal(r2, 2);
    assert.equal(s.tombstones.get("vni/4096"), 2);
    s.put("vni", "4096", "b");
    assert.equal(s.tombstones.has("vni/4096"), false, "a key written again is no longer deleted");
    s.close();
    const r = new Store(`${dir}/store.jsonl`).open();
    assert.equal(r.revision, 3);
    assert.equal(r.get("vni", "4096"), "b");
    r.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("store: the log is its owner's only (0600), an older log with the umask's mode included", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const mode = (p: string) => Deno.statSync(p).mode! & 0o777;
    const s = new Store(`${dir}/store.jsonl`).open();
    s.put("netkey", "n1", { key: "secret" });
    s.close();
    assert.equal(mode(`${dir}/store.jsonl`), STORE_MODE);
    assert.equal(STORE_MODE, 0o600);
    Deno.chmodSync(`${dir}/store.jsonl`, 0o644);
    const again = new Store(`${dir}/store.jsonl`).open();
    again.close();
    assert.equal(mode(`${dir}/store.jsonl`), 0o600);
    assert.equal(again.replayed, 1);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
