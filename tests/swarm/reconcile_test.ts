// The daemon's pure parts without namespaces: snapshot → data-plane actions (reconcile.ts), the
// MTU a network gets on a node, network references resolved as Docker does (records.ts), and
// the API's route table and error → status mapping (routes.ts).

import assert from "node:assert/strict";
import { desiredVni, networkMtu, type NodeState, reconcile } from "../../cli/control/daemon/reconcile.ts";
import { type Attachment, attachmentFor } from "../../cli/control/daemon/records.ts";
import { findNetwork } from "../../cli/control/swarm/records.ts";
import { match, ROUTES, statusOf } from "../../cli/control/daemon/routes.ts";
import { SwarmError } from "../../cli/control/swarm/manager.ts";
import { ApiError } from "../../cli/errors.ts";
import type { NetworkRecord, NodeView, Snapshot } from "../../cli/control/swarm/types.ts";
import { VXLAN_OVERHEAD_IPV4, VXLAN_OVERHEAD_IPV6 } from "../../cli/defaults.ts";
import { ESP_MTU_REDUCTION } from "../../cli/esp/esp.ts";

function net(id: string, vni: number, extra: Partial<NetworkRecord> = {}): NetworkRecord {
  return {
    id,
    name: `net-${id}`,
    driver: "overlay",
    scope: "swarm",
    subnet: "10.0.1.0/24",
    gateway: "10.0.1.1",
    vni,
    mtu: 1450,
    attachable: false,
    createdAt: "2026-01-01T00:00:00Z",
    ...extra,
  };
}

function node(id: string, addr: string, dataAddr?: string): NodeView {
  return { id, hostname: id, addr, dataAddr, role: "worker", availability: "active", status: "Ready" };
}

function att(network: string, vni: number, extra: Partial<Attachment> = {}): Attachment {
  return {
    network,
    networkName: `net-${network}`,
    vni,
    mtu: 1450,
    prefix: 24,
    endpointId: `ep-${network}`,
    ip: "10.0.1.2",
    mac: "02:42:0a:00:01:02",
    ifname: "eth0",
    ...extra,
  };
}

const snapshot: Snapshot = {
  version: 7,
  clusterId: "c",
  dataPathPort: 4789,
  nodeId: "me",
  nodes: [node("me", "198.18.0.1"), node("n2", "198.18.0.2"), node("n3", "198.18.0.3", "198.19.0.3")],
  networks: [net("a", 4096), net("b", 4097, { encrypted: true }), net("c", 4098)],
  endpoints: [
    { id: "e1", network: "a", node: "me", container: "x", ip: "10.0.1.2", mac: "02:00:00:00:00:01" },
    { id: "e2", network: "a", node: "n2", container: "y", ip: "10.0.1.3", mac: "02:00:00:00:00:02" },
    { id: "e3", network: "a", node: "n3", container: "z", ip: "10.0.1.4", mac: "02:00:00:00:00:03" },
    { id: "e4", network: "a", node: "n3", container: "w", ip: "10.0.1.5", mac: "02:00:00:00:00:04" },
    { id: "e5", network: "a", node: "gone", container: "v", ip: "10.0.1.6", mac: "02:00:00:00:00:05" },
    { id: "e6", network: "c", node: "n2", container: "u", ip: "10.0.1.7", mac: "02:00:00:00:00:06" },
  ],
};

function state(extra: Partial<NodeState> = {}): NodeState {
  return { me: "me", local: [att("a", 4096)], espPlans: new Map(), programmed: new Set(), ...extra };
}

Deno.test("desiredVni: other nodes' endpoints at their data address, one flood per node, never itself", () => {
  const want = desiredVni(4096, 1400, "a", snapshot, state());
  assert.deepEqual(want.remotes.map((r) => [r.mac, r.addr]), [
    ["02:00:00:00:00:02", "198.18.0.2"],
    ["02:00:00:00:00:03", "198.19.0.3"],
    ["02:00:00:00:00:04", "198.19.0.3"],
  ]);
  assert.deepEqual(want.floods, ["198.18.0.2", "198.19.0.3"]);
  assert.equal(want.mtu, 1400);
  assert.equal(want.esp, undefined);
});

Deno.test("desiredVni: an encrypted network without planned SAs gets an empty ESP plan (nothing crosses)", () => {
  assert.deepEqual(desiredVni(4097, 1400, "b", snapshot, state()).esp, { in: [] });
  const plan = { in: [{ spi: 9, keymat: [1] }] };
  const s = state({ espPlans: new Map([["b", plan as any]]) });
  assert.equal(desiredVni(4097, 1400, "b", snapshot, s).esp, plan);
  // Without a snapshot, a local attachment says whether the network is encrypted.
  const enc = state({ local: [att("q", 5000, { encrypted: true })] });
  assert.deepEqual(desiredVni(5000, 1400, "q", undefined, enc), {
    vni: 5000,
    mtu: 1400,
    remotes: [],
    floods: [],
    esp: { in: [] },
  });
});

Deno.test("reconcile: only networks with a local container are programmed; a missing one is ensured", () => {
  const local = [att("a", 4096), att("gone-net", 6000, { ifname: "eth2" })];
  const acts = reconcile(snapshot, state({ local, underlayMtu: 1500, vtepAddr: "198.18.0.1" }));
  assert.deepEqual(acts.map((a) => a.op), ["program", "ensure"]);
  assert.equal(acts[0].op === "program" && acts[0].want.vni, 4096);
  assert.equal(acts[0].op === "program" && acts[0].want.mtu, 1500 - VXLAN_OVERHEAD_IPV4);
  assert.equal(acts[1].op === "ensure" && acts[1].attachment.vni, 6000);
  // Already programmed: nothing to ensure.
  const again = reconcile(snapshot, state({ local, programmed: new Set([6000]) }));
  assert.deepEqual(again.map((a) => a.op), ["program"]);
});

Deno.test("reconcile: an encrypted network on a node that cannot encrypt is held down (fail closed)", () => {
  const local = [att("a", 4096), att("b", 4097, { encrypted: true, ifname: "eth2" })];
  const acts = reconcile(snapshot, state({ local, espError: "no AES-GCM" }));
  assert.deepEqual(acts.map((a) => a.op), ["program", "hold", "ensure"]);
  assert.equal(acts[1].op === "hold" && acts[1].reason, "no AES-GCM");
  const ok = reconcile(snapshot, state({ local }));
  assert.deepEqual(ok.map((a) => a.op), ["program", "program"]);
});

Deno.test("networkMtu: the option wins; else underlay minus VXLAN (and ESP) overhead; else the record's", () => {
  assert.equal(networkMtu(net("a", 1, { mtuOption: 1300 }), 9000, "198.18.0.1"), 1300);
  assert.equal(networkMtu(net("a", 1), 9000, "198.18.0.1"), 9000 - VXLAN_OVERHEAD_IPV4);
  assert.equal(networkMtu(net("a", 1), 9000, "fd00::1"), 9000 - VXLAN_OVERHEAD_IPV6);
  assert.equal(
    networkMtu(net("a", 1, { encrypted: true }), 1500, "198.18.0.1"),
    1500 - VXLAN_OVERHEAD_IPV4 - ESP_MTU_REDUCTION,
  );
  assert.equal(networkMtu(net("a", 1, { mtu: 1450 }), undefined, undefined), 1450);
});

Deno.test("findNetwork: name first, then full id, then an id prefix of at least 3 characters", () => {
  const nets = [net("abcdef", 1, { name: "front" }), net("123456", 2, { name: "abcdef" })];
  assert.equal(findNetwork(nets, "front")?.vni, 1);
  assert.equal(findNetwork(nets, "abcdef")?.vni, 2); // a name beats an id
  assert.equal(findNetwork(nets, "123456")?.vni, 2);
  assert.equal(findNetwork(nets, "123")?.vni, 2);
  assert.equal(findNetwork(nets, "12"), undefined);
  assert.equal(findNetwork(nets, "nope"), undefined);
});

Deno.test("attachmentFor: internal, encrypted and IPv6 only when the network has them", () => {
  const ep = { id: "e", network: "a", node: "me", container: "x", ip: "10.0.1.9", mac: "02:00:00:00:00:09" };
  const plain = attachmentFor(net("a", 4096), ep, 1450, "eth2");
  assert.deepEqual(plain, {
    network: "a",
    networkName: "net-a",
    vni: 4096,
    mtu: 1450,
    prefix: 24,
    endpointId: "e",
    ip: "10.0.1.9",
    mac: "02:00:00:00:00:09",
    ifname: "eth2",
  });
  const full = attachmentFor(
    net("a", 4096, { internal: true, encrypted: true, subnet6: "fd00:1::/64" }),
    { ...ep, ip6: "fd00:1::9" },
    1400,
    "eth0",
  );
  assert.deepEqual([full.internal, full.encrypted, full.ip6, full.prefix6], [true, true, "fd00:1::9", 64]);
});

Deno.test("routes: method and path pick one handler; :name segments become params", () => {
  assert.deepEqual(match("GET", ["containers", "web", "json"])?.params, { name: "web" });
  assert.equal(
    match("GET", ["containers", "web"])?.handler,
    ROUTES.find((r) => r[1] === "/containers/:name" && r[0] === "GET")![2],
  );
  assert.deepEqual(match("POST", ["nodes", "n2", "demote"])?.params, { node: "n2" });
  assert.equal(match("PUT", ["containers"]), undefined);
  assert.equal(match("GET", ["nope"]), undefined);
  // Every route is reachable: no earlier one shadows it.
  for (const [m, path, h] of ROUTES) {
    const segs = path.split("/").filter(Boolean).map((s) => s.startsWith(":") ? "x" : s);
    assert.equal(match(m, segs)?.handler, h, `${m} ${path}`);
  }
});

Deno.test("routes: one error → status mapping (Docker's codes); anything else is a 500", () => {
  assert.equal(statusOf(new ApiError("bad")), 400);
  assert.equal(statusOf(new ApiError("gone", 404)), 404);
  assert.equal(statusOf(new SwarmError("taken", 409)), 409);
  assert.equal(statusOf(new SwarmError("bad")), 400);
  // One hierarchy: a manager's refusal is an ApiError, with its own name for the log.
  assert.ok(new SwarmError("x") instanceof ApiError);
  assert.equal(new SwarmError("x").name, "SwarmError");
  assert.equal(statusOf(new Error("bug")), undefined);
});
