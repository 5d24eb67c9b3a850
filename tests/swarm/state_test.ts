// SwarmState's contract on its embedded backend (cli/control/swarm/state.ts): conditional
// transactions as etcd's compare-and-swap, revisions, the change feed, and deletions since a
// revision for nodes that resume. No etcd and no root needed.

import assert from "node:assert/strict";
import { type Change, EmbeddedState } from "../../cli/control/swarm/state.ts";

async function withState(fn: (s: EmbeddedState, path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "weft-state-" });
  const s = new EmbeddedState(`${dir}/store.jsonl`);
  try {
    await s.start();
    await fn(s, `${dir}/store.jsonl`);
  } finally {
    await s.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("state: an absent condition lets one writer claim a key; the second loses and writes nothing", () =>
  withState(async (s) => {
    assert.equal(await s.txn([{ absent: ["vni", "4096"] }], [{ put: ["vni", "4096"], value: "a" }]), true);
    assert.equal(
      await s.txn([{ absent: ["vni", "4096"] }], [{ put: ["vni", "4096"], value: "b" }, {
        put: ["network", "b"],
        value: {},
      }]),
      false,
    );
    assert.equal(s.get("vni", "4096"), "a");
    assert.equal(s.get("network", "b"), undefined, "all or nothing");
  }));

Deno.test("state: an unchanged condition holds only at the key's last revision", () =>
  withState(async (s) => {
    await s.txn([], [{ put: ["network", "n"], value: { v: 1 } }]);
    const rev = s.modRev("network", "n");
    assert.equal(rev, s.revision);
    await s.txn([], [{ put: ["network", "n"], value: { v: 2 } }]);
    assert.equal(await s.txn([{ unchanged: ["network", "n"], rev }], [{ del: ["network", "n"] }]), false);
    const now = s.modRev("network", "n");
    assert.equal(await s.txn([{ unchanged: ["network", "n"], rev: now }], [{ del: ["network", "n"] }]), true);
    assert.equal(s.get("network", "n"), undefined);
  }));

Deno.test("state: every change reaches onChange with its previous value and revision", () =>
  withState(async (s) => {
    const seen: Change[] = [];
    s.onChange = (changes) => seen.push(...changes);
    await s.txn([], [{ put: ["node", "a"], value: 1 }]);
    await s.txn([], [{ put: ["node", "a"], value: 2 }, { del: ["node", "missing"] }]);
    await s.txn([], [{ del: ["node", "a"] }]);
    assert.deepEqual(
      seen.map((c) => [c.kind, c.id, c.value, c.prev]),
      [["node", "a", 1, undefined], ["node", "a", 2, 1], ["node", "a", undefined, 2]],
      "a delete of a missing key is no change",
    );
    assert.deepEqual(seen.map((c) => c.rev), [1, 2, 3]);
  }));

Deno.test("state: deletedSince names the keys deleted after a revision, null beyond the head", () =>
  withState(async (s) => {
    await s.txn([], [{ put: ["endpoint", "e1"], value: 1 }, { put: ["endpoint", "e2"], value: 2 }]);
    const rev = s.revision;
    await s.txn([], [{ del: ["endpoint", "e1"] }]);
    assert.deepEqual([...(await s.deletedSince(rev))!], ["endpoint/e1"]);
    assert.deepEqual([...(await s.deletedSince(s.revision))!], []);
    assert.equal(await s.deletedSince(s.revision + 1), null, "a revision the store has not reached");
  }));

Deno.test("state: ephemeral keys (manager, leader, session) do not survive a restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-state-" });
  try {
    const a = new EmbeddedState(`${dir}/store.jsonl`);
    await a.start();
    await a.txn([], [
      { put: ["leader", "leader"], value: { id: "m" } },
      { put: ["session", "w"], value: {} },
      { put: ["node", "w"], value: {} },
    ]);
    await a.close();
    const b = new EmbeddedState(`${dir}/store.jsonl`);
    await b.start();
    assert.equal(b.get("leader", "leader"), undefined);
    assert.equal(b.get("session", "w"), undefined);
    assert.deepEqual(b.get("node", "w"), {});
    await b.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
