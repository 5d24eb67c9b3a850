// What a manager tells which node (cli/control/swarm/distribution.ts), on an embedded store with
// no sockets: lazy extension (a node hears of a network once it has an endpoint on it), deltas
// batched per node, and resync from a revision.

import assert from "node:assert/strict";
import { DELTA_BATCH_MS, Distribution } from "../../cli/control/swarm/distribution.ts";
import { NetworkKeys } from "../../cli/control/swarm/netkeys.ts";
import { Records } from "../../cli/control/swarm/records.ts";
import { EmbeddedState } from "../../cli/control/swarm/state.ts";
import type { LineConn } from "../../cli/control/swarm/wire.ts";
import type {
  Delta,
  EndpointRecord,
  NetworkRecord,
  NodeRecord,
  Snapshot,
  SwarmRecord,
} from "../../cli/control/swarm/types.ts";

const node = (id: string, role: "manager" | "worker"): NodeRecord => ({
  id,
  hostname: id,
  addr: `198.18.0.${id.length}`,
  role,
  availability: "active",
  secretHash: "",
  joinedAt: "2026-01-01T00:00:00Z",
});
const network = (id: string, vni: number): NetworkRecord => ({
  id,
  name: id,
  driver: "overlay",
  scope: "swarm",
  subnet: "10.0.0.0/24",
  gateway: "10.0.0.1",
  vni,
  mtu: 1450,
  attachable: false,
  createdAt: `2026-01-01T00:00:0${vni % 10}Z`,
});
const endpoint = (id: string, net: string, on: string, ip: string): EndpointRecord => ({
  id,
  network: net,
  node: on,
  container: id,
  ip,
  mac: "02:42:0a:00:00:02",
});

/** A manager "m" with sessions of workers "w1" and "w22", whose lines are collected. */
async function lab(
  fn: (l: {
    state: EmbeddedState;
    d: Distribution;
    sent: Map<string, unknown[]>;
    local: Snapshot[];
  }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "weft-distribution-" });
  const state = new EmbeddedState(`${dir}/store.jsonl`);
  await state.start();
  await state.txn([], [
    { put: ["cluster", "cluster"], value: { id: "swarm", dataPathPort: 4789 } as SwarmRecord },
    { put: ["node", "m"], value: node("m", "manager") },
    { put: ["node", "w1"], value: node("w1", "worker") },
    { put: ["node", "w22"], value: node("w22", "worker") },
    { put: ["network", "blue"], value: network("blue", 4096) },
    { put: ["network", "red"], value: network("red", 4097) },
  ]);
  const sent = new Map<string, unknown[]>([["w1", []], ["w22", []]]);
  const local: Snapshot[] = [];
  const conn = (id: string) =>
    sent.has(id)
      ? {
        sendText: (t: string) => (sent.get(id)!.push(JSON.parse(t)), Promise.resolve()),
      } as unknown as LineConn
      : undefined;
  const records = new Records(state, "m");
  const d = new Distribution(state, records, new NetworkKeys(state), {
    conn,
    sessionIds: () => sent.keys(),
    local: (s) => local.push(s),
  });
  d.rebuild();
  state.onChange = (changes, rev) => d.onChange(changes, rev);
  try {
    await fn({ state, d, sent, local });
  } finally {
    d.stop();
    await state.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const settle = () => new Promise((r) => setTimeout(r, DELTA_BATCH_MS * 10));

Deno.test("distribution: a node hears of a network with its first endpoint there, with its peers", () =>
  lab(async ({ state, d, sent }) => {
    assert.deepEqual(d.snapshotFor("w1").networks, [], "no endpoint: no network");
    await state.txn([], [{ put: ["endpoint", "a"], value: endpoint("a", "blue", "w1", "10.0.0.2") }]);
    await settle();
    const [first] = sent.get("w1") as Delta[];
    assert.deepEqual(first.networks?.map((n) => n.id), ["blue"]);
    assert.deepEqual(first.endpoints?.map((e) => e.id), ["a"]);
    assert.deepEqual(sent.get("w22"), [], "w22 has nothing on blue: told nothing");
    await state.txn([], [{ put: ["endpoint", "b"], value: endpoint("b", "blue", "w22", "10.0.0.3") }]);
    await settle();
    const toW22 = sent.get("w22")![0] as Delta;
    assert.deepEqual(toW22.endpoints?.map((e) => e.id).sort(), ["a", "b"], "the network's endpoints");
    assert.ok(toW22.nodes?.some((n) => n.id === "w1"), "and the VTEP of the node already there");
    const toW1 = sent.get("w1")![1] as Delta;
    assert.deepEqual(toW1.endpoints?.map((e) => e.id), ["b"]);
    assert.ok(toW1.nodes?.some((n) => n.id === "w22"), "w1 learns w22's VTEP");
    assert.equal(toW1.networks, undefined, "w1 has blue already");
    assert.deepEqual(d.snapshotFor("w1").networks.map((n) => n.id), ["blue"], "never red");
  }));

Deno.test("distribution: a node's last endpoint gone, the network goes from it", () =>
  lab(async ({ state, sent }) => {
    await state.txn([], [{ put: ["endpoint", "a"], value: endpoint("a", "blue", "w1", "10.0.0.2") }]);
    await settle();
    await state.txn([], [{ del: ["endpoint", "a"] }]);
    await settle();
    const last = sent.get("w1")!.at(-1) as Delta;
    assert.deepEqual(last.networksGone, ["blue"]);
    assert.deepEqual(last.endpointsGone, undefined, "the node is no longer on blue: no endpoint news");
  }));

Deno.test("distribution: a burst of changes is one message per node", () =>
  lab(async ({ state, sent }) => {
    await state.txn([], [{ put: ["endpoint", "a"], value: endpoint("a", "blue", "w1", "10.0.0.2") }]);
    await settle();
    sent.get("w1")!.length = 0;
    for (let i = 0; i < 5; i++) {
      await state.txn([], [{
        put: ["endpoint", `x${i}`],
        value: endpoint(`x${i}`, "blue", "m", `10.0.0.${10 + i}`),
      }]);
    }
    await settle();
    assert.equal(sent.get("w1")!.length, 1);
    assert.deepEqual((sent.get("w1")![0] as Delta).endpoints?.map((e) => e.id), [
      "x0",
      "x1",
      "x2",
      "x3",
      "x4",
    ]);
  }));

Deno.test("distribution: resync from a revision sends what changed since; a foreign swarm gets a snapshot", () =>
  lab(async ({ state, d, sent }) => {
    await state.txn([], [{ put: ["endpoint", "a"], value: endpoint("a", "blue", "w1", "10.0.0.2") }]);
    const rev = state.revision;
    await state.txn([], [{ put: ["endpoint", "b"], value: endpoint("b", "blue", "m", "10.0.0.3") }]);
    await state.txn([], [{ del: ["endpoint", "b"] }, {
      put: ["endpoint", "c"],
      value: endpoint("c", "blue", "m", "10.0.0.4"),
    }]);
    await settle();
    sent.get("w1")!.length = 0;
    await d.resync("w1", { cluster: "swarm", rev, have: ["blue"] });
    const delta = sent.get("w1")![0] as Delta;
    assert.equal(delta.type, "delta");
    assert.deepEqual(delta.endpoints?.map((e) => e.id), ["c"], "only what was written after rev");
    assert.deepEqual(delta.endpointsGone, ["b"]);
    await d.resync("w1", { cluster: "another", rev, have: ["blue"] });
    assert.equal((sent.get("w1")![1] as { type: string }).type, "snapshot");
  }));
