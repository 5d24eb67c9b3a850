// The control plane's pieces without namespaces: store replay, IPAM, tokens and the CA digest, and
// a manager and an agent talking over loopback.

import assert from "node:assert/strict";
import { Store } from "../../cli/control/swarm/store.ts";
import { NodeState, PendingDelta } from "../../cli/control/swarm/node_state.ts";
import type { Delta, EndpointRecord, NetworkRecord } from "../../cli/control/swarm/types.ts";
import { Agent, type Credentials, join } from "../../cli/control/swarm/agent.ts";
import { Manager } from "../../cli/control/swarm/manager.ts";
import { waitFor } from "../../cli/lab/mod.ts";
import {
  allocateAddress,
  allocateSubnet,
  formatCidr,
  macFor,
  objectId,
  parseCidr,
} from "../../cli/control/swarm/ipam.ts";
import {
  caDigest,
  createCa,
  formatToken,
  parseToken,
  randomSecret,
  TokenError,
} from "../../cli/control/swarm/pki.ts";

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

Deno.test("ipam: /24s from 10.0.0.0/8 in order, skipping those in use; .1 is the gateway", () => {
  const pool = parseCidr("10.0.0.0/8");
  assert.equal(formatCidr(allocateSubnet(pool, 24, [])), "10.0.0.0/24");
  assert.equal(
    formatCidr(allocateSubnet(pool, 24, [parseCidr("10.0.0.0/24"), parseCidr("10.0.2.0/24")])),
    "10.0.1.0/24",
  );
  const s = parseCidr("10.0.0.0/24");
  assert.equal(allocateAddress(s, "10.0.0.1", new Set()), "10.0.0.2");
  assert.equal(allocateAddress(s, "10.0.0.1", new Set(["10.0.0.2"])), "10.0.0.3");
  assert.throws(
    () => allocateAddress(parseCidr("10.0.0.0/30"), "10.0.0.1", new Set(["10.0.0.2"])),
    /no free address/,
  );
  assert.throws(() => parseCidr("10.0.0.1/24"), /host bits/);
  assert.equal(macFor("10.0.0.2"), "02:42:0a:00:00:02");
  assert.match(objectId(), /^[a-z0-9]{25}$/);
});

Deno.test("token: WFTKN-1-<digest of the CA>-<secret>, and nothing else parses", async () => {
  const ca = await createCa("test");
  const digest = await caDigest(ca.cert);
  assert.match(digest, /^[0-9a-z]{50}$/);
  const t = formatToken({ digest, secret: randomSecret() });
  assert.deepEqual(parseToken(t).digest, digest);
  for (const bad of ["", "SWMTKN-1-abc-def", t + "x", t.replace("WFTKN-1", "WFTKN-2"), t.toUpperCase()]) {
    assert.throws(() => parseToken(bad), TokenError);
  }
  assert.notEqual(await caDigest((await createCa("other")).cert), digest);
});

Deno.test({
  name: "a node the manager no longer knows is told so: its agent stops and every request says why",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "weft-unit-" });
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const logs: string[] = [];
    const manager = await Manager.init(dir, {
      advertiseAddr: "127.0.0.1",
      listenAddr: "127.0.0.1",
      listenPort: port,
      dataPathPort: 4789,
      pool: "10.0.0.0/8",
      poolMaskLength: 24,
      hostname: "m1",
    });
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
