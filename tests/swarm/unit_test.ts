// The control plane without namespaces: a manager and an agent talking over loopback, and the
// node's delta merging. The pure modules have their own tests beside them: store_test.ts,
// state_test.ts, ipam_test.ts, ipam6_test.ts, pki_test.ts, vni_test.ts, networks_test.ts,
// distribution_test.ts.

import assert from "node:assert/strict";
import { NodeState, PendingDelta } from "../../cli/control/swarm/node_state.ts";
import type { Delta, EndpointRecord, NetworkRecord } from "../../cli/control/swarm/types.ts";
import { Agent, type Credentials, join } from "../../cli/control/swarm/agent.ts";
import { type InitOptions, Manager } from "../../cli/control/swarm/manager.ts";
import { EmbeddedState } from "../../cli/control/swarm/state.ts";
import { waitFor } from "../../cli/lab/mod.ts";

/** A manager on 127.0.0.1 (a free control port) in a fresh state dir; `more`: further init options. */
async function loopbackManager(more: Partial<InitOptions> = {}) {
  const dir = await Deno.makeTempDir({ prefix: "weft-unit-" });
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const manager = await Manager.init(dir, {
    advertiseAddr: "127.0.0.1",
    listenAddr: "127.0.0.1",
    listenPort: port,
    dataPathPort: 4789,
    pool: "10.0.0.0/8",
    poolMaskLength: 24,
    hostname: "m1",
    ...more,
  });
  return { dir, port, manager };
}

Deno.test({
  name: "a node the manager no longer knows is told so: its agent stops and every request says why",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { dir, port, manager } = await loopbackManager();
    const logs: string[] = [];
    manager.log = () => {};
    manager.start();
    let agent: Agent | undefined;
    try {
      const remote = { host: "127.0.0.1", port };
      const first = await join(manager.token(), remote, { hostname: "w1", addr: "127.0.0.2" });
      // The same address joins again (the host was reinstalled): the manager drops the old node.
      await join(manager.token(), remote, { hostname: "w1", addr: "127.0.0.2" });
      agent = new Agent(first as Credentials);
      agent.log = (m) => logs.push(m);
      agent.start();
      const refused = agent;
      await waitFor("the manager's refusal", () => refused.refusal !== undefined, 10000, 50);
      assert.match(agent.refusal ?? "", /no longer\) part of the swarm; join again/);
      assert.equal(agent.connected, false);
      await assert.rejects(
        agent.rpc("network.ls"),
        /manager at 127\.0\.0\.1:\d+ refused this node: unknown node/,
      );
      assert.equal(logs.filter((l) => /refused this node/.test(l)).length, 1, "said once, not retried");
    } finally {
      agent?.stop();
      manager.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "--esp-port is the swarm's: kept in its record across a reopen, and told to every node that joins",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const first = await loopbackManager({ espPort: 4600 });
    const { dir, port } = first;
    let manager = first.manager;
    try {
      manager.log = () => {};
      manager.start();
      const creds = await join(manager.token(), { host: "127.0.0.1", port }, {
        hostname: "w1",
        addr: "127.0.0.2",
      });
      assert.equal((creds as Credentials).espPort, 4600);
      assert.equal((creds as Credentials).dataPathPort, 4789);
      await manager.stop();
      manager = await Manager.open(new EmbeddedState(`${dir}/store.jsonl`));
      assert.equal(manager.cluster.espPort, 4600);
    } finally {
      await manager.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("deltas merged for one send apply as the same deltas one by one would", () => {
  const net = (id: string) => ({ id, name: id, vni: 4096 }) as unknown as NetworkRecord;
  const ep = (id: string, network: string, ip: string) =>
    ({ id, network, node: "w", container: id, ip, mac: "" }) as EndpointRecord;
  const base = () =>
    NodeState.from({
      version: 1,
      clusterId: "c",
      dataPathPort: 4789,
      nodeId: "me",
      nodes: [],
      networks: [net("a"), net("b")],
      endpoints: [ep("a1", "a", "10.0.0.2"), ep("b1", "b", "10.0.1.2")],
    });
  const seq: Delta[] = [
    { type: "delta", rev: 2, endpoints: [ep("a2", "a", "10.0.0.3")] },
    { type: "delta", rev: 3, endpointsGone: ["a2"] }, // added then removed in one batch
    { type: "delta", rev: 4, networksGone: ["b"] },
    {
      type: "delta",
      rev: 5,
      networks: [net("b")],
      endpoints: [ep("b1", "b", "10.0.1.2"), ep("b2", "b", "10.0.1.3")],
    },
    { type: "delta", rev: 6, endpointsGone: ["a1"] },
    { type: "delta", rev: 7, endpoints: [ep("a3", "a", "10.0.0.4")], networks: [net("c")] },
    { type: "delta", rev: 8, networksGone: ["c"] }, // put then gone
  ];
  const one = base();
  for (const d of seq) one.apply(d);
  const merged = new PendingDelta();
  for (const d of seq) merged.add(d);
  const batched = base();
  batched.apply(merged.toDelta());
  const view = (n: NodeState) =>
    JSON.stringify([n.version, [...n.networks.keys()].sort(), [...n.endpoints.keys()].sort()]);
  assert.equal(view(batched), view(one));
  assert.equal(view(one), JSON.stringify([8, ["a", "b"], ["a3", "b1", "b2"]]));
});
