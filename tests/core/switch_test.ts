// The learning switch, as specified in DESIGN.md "Wire behaviour", through the Wasm core.
import assert from "node:assert/strict";
import { loadCore } from "../../cli/core/load.ts";
import { PORT_UNDERLAY, TARGET_REMOTE, type WeftCore } from "../../cli/core/mod.ts";
import { eth, fixture, hex, ip, onesSum, vxlan } from "./frames.ts";

const A = "02:42:0a:00:00:01", B = "02:42:0a:00:00:02", C = "02:42:0a:00:00:03";
const BCAST = "ff:ff:ff:ff:ff:ff";
const H2 = ip("198.18.0.2"), H3 = ip("198.18.0.3");

/** VNI 42 with local ports 0 and 1 and two VTEPs (198.18.0.2 = id 0, .3 = id 1) to flood to. */
async function lab(opts: Parameters<WeftCore["addVni"]>[1] = {}, config = {}) {
  const core = await loadCore(config);
  core.addVni(42, opts);
  core.attachPort(0, 42);
  core.attachPort(1, 42);
  const v2 = core.addVtep("198.18.0.2"), v3 = core.addVtep("198.18.0.3");
  core.addFlood(42, v2);
  core.addFlood(42, v3);
  return { core, v2, v3 };
}

/** Runs one frame; returns the targets it went to ("p0", "v1", …) in order. */
function send(core: WeftCore, frame: Uint8Array, port: number, now = 1, peer?: Uint8Array): string[] {
  core.load(0, frame, port, peer);
  const n = core.process(1, now);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const t = core.tx(i).target;
    out.push(t & TARGET_REMOTE ? `v${(t & ~TARGET_REMOTE) >>> 0}` : `p${t}`);
  }
  return out;
}

const fromRemote = (core: WeftCore, inner: Uint8Array, peer = H2, now = 1, vni = 42) =>
  send(core, vxlan(vni, inner), PORT_UNDERLAY, now, peer);

Deno.test("unknown unicast from a local port floods to the other local ports and every VTEP", async () => {
  const { core } = await lab();
  assert.deepEqual(send(core, eth(B, A), 0), ["p1", "v0", "v1"]);
  assert.equal(core.counters(42).flood, 1);
  assert.equal(core.counters(42).encap, 2);
});

Deno.test("flood copies share one frame: local copies the frame, remote copies 8 bytes earlier with the VXLAN header", async () => {
  const { core } = await lab();
  send(core, eth(BCAST, A), 0);
  const [local, r0, r1] = [core.tx(0), core.tx(1), core.tx(2)];
  assert.equal(r0.ptr, local.ptr - 8);
  assert.equal(r1.ptr, r0.ptr);
  assert.equal(r0.len, local.len + 8);
  assert.equal(hex(core.bytes.subarray(r0.ptr, r0.ptr + 8)), "080000000000" + "2a00");
  assert.equal(r0.srcPort, r1.srcPort, "one flow, one source port");
});

Deno.test("fdb learn() maps the inner source MAC of a datagram to the sending VTEP", async () => {
  const { core, v2 } = await lab();
  fromRemote(core, eth(BCAST, B), H2);
  const e = core.fdb(1).find((x) => x.mac === B);
  assert.deepEqual({ vtep: e?.vtep, static: e?.static }, { vtep: v2, static: false });
  // …and a reply to B now goes to that VTEP only.
  assert.deepEqual(send(core, eth(B, A), 0), ["v0"]);
  assert.equal(core.counters(42).fdb_hit, 1);
});

Deno.test("a VTEP never seen before is learned with the configured port, not the datagram's source port", async () => {
  const core = await loadCore();
  core.addVni(7);
  core.attachPort(0, 7);
  core.load(0, vxlan(7, eth(BCAST, B)), PORT_UNDERLAY, ip("198.18.0.9"), 51234);
  core.process(1, 1);
  const id = core.findVtep("198.18.0.9");
  assert.ok(id >= 0);
  assert.equal(core.vtep(id).port, 4789);
  assert.equal(core.vtepCounters(id).rx_frames, 1);
});

Deno.test("split horizon: what comes from a VTEP never goes back to VTEPs", async () => {
  const { core } = await lab();
  assert.deepEqual(fromRemote(core, eth(BCAST, B), H2), ["p0", "p1"], "flood to local ports only");
  fromRemote(core, eth(BCAST, C), H3); // C lives behind .3
  assert.deepEqual(fromRemote(core, eth(C, B), H2), [], "known on another VTEP: dropped");
  assert.equal(core.counters(42).dropped.split_horizon, 1);
});

Deno.test("known unicast between local ports stays local; to the ingress port it is dropped", async () => {
  const { core } = await lab();
  send(core, eth(BCAST, B), 1);
  assert.deepEqual(send(core, eth(B, A), 0), ["p1"]);
  send(core, eth(BCAST, A), 0);
  assert.deepEqual(send(core, eth(A, C), 0), []);
  assert.equal(core.counters(42).dropped.same_port, 1);
  assert.equal(core.portCounters(0).drops, 1);
});

Deno.test("fdb learn() moves a MAC to the new port or VTEP and counts the move", async () => {
  const { core, v3 } = await lab();
  send(core, eth(BCAST, A), 0);
  fromRemote(core, eth(BCAST, A), H3);
  assert.equal(core.fdb(1).find((e) => e.mac === A)?.vtep, v3);
  send(core, eth(BCAST, A), 1);
  assert.equal(core.fdb(1).find((e) => e.mac === A)?.port, 1);
  assert.equal(core.counters(42).fdb_move, 2);
  assert.equal(core.counters(42).fdb_learn, 1);
});

Deno.test("static entries are never moved by learning (Docker's stale-FDB bugs come from the opposite)", async () => {
  const { core, v2 } = await lab();
  core.addStatic(42, B, { vtep: v2 });
  fromRemote(core, eth(BCAST, B), H3);
  send(core, eth(BCAST, B), 1);
  const e = core.fdb(1).find((x) => x.mac === B);
  assert.deepEqual({ vtep: e?.vtep, static: e?.static, age: e?.age }, { vtep: v2, static: true, age: 0 });
  assert.deepEqual(send(core, eth(B, A), 0, 10_000), ["v0"], "and they never age");
});

Deno.test("the learn limit stops learning, not forwarding", async () => {
  const { core } = await lab({ learnMax: 2 });
  send(core, eth(BCAST, "02:00:00:00:00:01"), 0);
  send(core, eth(BCAST, "02:00:00:00:00:02"), 0);
  assert.deepEqual(send(core, eth(BCAST, "02:00:00:00:00:03"), 0), ["p1", "v0", "v1"]);
  assert.equal(core.verdict(0), 0);
  const c = core.counters(42);
  assert.equal(c.fdb_learn, 2);
  assert.equal(c.fdb_learn_limit, 1);
  assert.equal(core.fdb(1).length, 2);
  // A known MAC still refreshes: the limit counts entries, not frames.
  send(core, eth(BCAST, "02:00:00:00:00:01"), 0);
  assert.equal(core.counters(42).fdb_learn_limit, 1);
});

Deno.test("learned entries age: a stale entry is a miss, and age() removes it", async () => {
  const { core } = await lab({ ageing: 300 });
  send(core, eth(BCAST, B), 1, 1000);
  assert.deepEqual(send(core, eth(B, A), 0, 1300), ["p1"], "300 s later: still known");
  assert.deepEqual(send(core, eth(B, A), 0, 1301), ["p1", "v0", "v1"], "301 s: a miss, flooded");
  assert.equal(core.age(1301), 1, "only B: A was refreshed at 1301");
  assert.equal(core.counters(42).fdb_aged, 1);
  assert.deepEqual(core.fdb(1301).map((e) => e.mac), [A]);
});

Deno.test("age() with a budget scans part of the table per call and resumes where it stopped", async () => {
  const { core } = await lab({ ageing: 10 }, { fdbBits: 8 });
  for (let i = 1; i <= 50; i++) {
    send(core, eth(BCAST, `02:00:00:00:01:${i.toString(16).padStart(2, "0")}`), 0, 1);
  }
  let removed = 0, calls = 0;
  while (removed < 50 && calls < 100) {
    removed += core.age(100, 16);
    calls++;
  }
  assert.equal(removed, 50);
  assert.ok(calls >= 256 / 16 - 1, `took ${calls} calls of 16 buckets`);
  assert.equal(core.fdbSize, 0);
});

Deno.test("group and all-zero source MACs are dropped and never learned", async () => {
  const { core } = await lab();
  assert.deepEqual(send(core, eth(B, "01:00:5e:00:00:01"), 0), []);
  assert.deepEqual(fromRemote(core, eth(B, "00:00:00:00:00:00")), []);
  assert.equal(core.counters(42).dropped.bad_source_mac, 2);
  assert.equal(core.fdb(1).length, 0);
});

Deno.test("frames above MTU + 14 are dropped (+18 with an 802.1Q tag); never fragmented", async () => {
  const { core } = await lab({ mtu: 1450 });
  assert.deepEqual(send(core, eth(BCAST, A, 0x0800, 1464), 0), ["p1", "v0", "v1"]);
  assert.deepEqual(send(core, eth(BCAST, A, 0x0800, 1465), 0), []);
  assert.deepEqual(send(core, eth(BCAST, A, 0x8100, 1468), 0), ["p1", "v0", "v1"]);
  assert.deepEqual(send(core, eth(BCAST, A, 0x8100, 1469), 0), []);
  assert.deepEqual(fromRemote(core, eth(BCAST, B, 0x0800, 1465)), []);
  assert.equal(core.counters(42).dropped.over_mtu, 3);
});

Deno.test("datagrams without the I flag, for unknown VNIs, or too short are dropped and counted globally", async () => {
  const { core } = await lab();
  assert.deepEqual(send(core, vxlan(42, eth(BCAST, B), 0x00), PORT_UNDERLAY, 1, H2), []);
  assert.deepEqual(fromRemote(core, eth(BCAST, B), H2, 1, 43), []);
  assert.deepEqual(send(core, vxlan(42, new Uint8Array(13)), PORT_UNDERLAY, 1, H2), []);
  const g = core.counters();
  assert.deepEqual([g.dropped.vxlan_bad_flags, g.dropped.unknown_vni, g.dropped.vxlan_runt, g.drops], [
    1,
    1,
    1,
    3,
  ]);
  // VNI 0 is never configured; it must not match a free switch record.
  assert.deepEqual(fromRemote(core, eth(BCAST, B), H2, 1, 0), []);
  assert.equal(core.counters().dropped.unknown_vni, 2);
  // Reserved bits set besides I are ignored on receive (RFC 7348 §5).
  assert.deepEqual(send(core, vxlan(42, eth(BCAST, B), 0xff), PORT_UNDERLAY, 1, H2), ["p0", "p1"]);
});

Deno.test("VNIs are separate switches: the same MAC lives in both, unknown ports are refused", async () => {
  const { core } = await lab();
  core.addVni(43);
  core.attachPort(2, 43);
  send(core, eth(BCAST, A), 0);
  send(core, eth(BCAST, A), 2);
  const entries = core.fdb(1).filter((e) => e.mac === A).map((e) => [e.vni, e.port]);
  assert.deepEqual(entries.sort(), [[42, 0], [43, 2]]);
  assert.deepEqual(send(core, eth(BCAST, A), 3), []);
  assert.equal(core.counters().dropped.unknown_port, 1);
  assert.equal(core.counters(43).rx_frames, 1);
});

Deno.test("a flood with nobody to send to is dropped as no_recipient", async () => {
  const core = await loadCore();
  core.addVni(5);
  core.attachPort(0, 5);
  assert.deepEqual(send(core, eth(BCAST, A), 0), []);
  assert.equal(core.verdict(0), 1 + 10);
  assert.equal(core.counters(5).dropped.no_recipient, 1);
});

Deno.test("a full TX list drops the copies that do not fit and counts each", async () => {
  const core = await loadCore({ txEntries: 3 });
  core.addVni(5);
  for (let p = 0; p < 6; p++) core.attachPort(p, 5);
  assert.equal(send(core, eth(BCAST, A), 0).length, 3);
  assert.equal(core.verdict(0), 0, "some copies went out");
  assert.equal(core.counters(5).dropped.tx_full, 2);
});

Deno.test("a descriptor pointing outside the frame slots is refused", async () => {
  const core = await loadCore();
  core.addVni(5);
  core.attachPort(0, 5);
  core.describe(0, 16, 64, 0);
  core.describe(1, core.slotData(0) - 64, 64, 0);
  core.describe(2, core.slotData(0) + core.slotCapacity - 10, 64, 0);
  assert.equal(core.process(3, 1), 0);
  assert.equal(core.counters().dropped.bad_descriptor, 3);
});

Deno.test("removing a port forgets the MACs behind it; removing a VTEP from a VNI forgets its MACs", async () => {
  const { core, v2 } = await lab();
  send(core, eth(BCAST, A), 1);
  fromRemote(core, eth(BCAST, B), H2);
  core.detachPort(1);
  assert.deepEqual(core.fdb(1).map((e) => e.mac), [B]);
  assert.equal(core.forgetVtep(42, v2), 1);
  assert.equal(core.fdb(1).length, 0);
  assert.deepEqual(send(core, eth(BCAST, A), 0), ["v1"], "out of the flood list too");
  assert.throws(() => core.removeVni(42), /still in use/);
  core.detachPort(0);
  core.removeVni(42);
  assert.equal(core.hasVni(42), false);
});

// ── ARP/ND suppression, checked against what the Linux kernel's hosts actually answered ──────

const inner = fixture("kernel-vxlan-vni42/inner.pcap").map((p) => p.data);
const isArp = (f: Uint8Array, op: number) => f[12] === 0x08 && f[13] === 0x06 && f[21] === op;

Deno.test("an ARP request for a known address is answered locally, byte for byte as the real host did", async () => {
  const { core } = await lab();
  core.addNeighbour(42, "10.0.0.2", B);
  const request = inner.find((f) => isArp(f, 1) && hex(f.subarray(38, 42)) === "0a000002");
  const reply = inner.find((f) => isArp(f, 2) && hex(f.subarray(28, 32)) === "0a000002");
  assert.ok(request && reply, "the capture has c1's request for 10.0.0.2 and c2's reply");
  assert.deepEqual(send(core, request, 0), ["p0"], "back to the asker only, nothing flooded");
  assert.equal(hex(core.txBytes(0)), hex(reply));
  assert.equal(core.counters(42).arp_reply, 1);
});

Deno.test("an ARP request for an unknown address floods as usual", async () => {
  const { core } = await lab();
  core.addNeighbour(42, "10.0.0.9", C);
  const request = inner.find((f) => isArp(f, 1))!;
  assert.deepEqual(send(core, request, 0), ["p1", "v0", "v1"]);
});

const isIcmp6 = (f: Uint8Array, type: number) =>
  f[12] === 0x86 && f[13] === 0xdd && f[20] === 58 && f[54] === type;

Deno.test("a neighbour solicitation for a known address gets the advertisement the kernel sent, with S set and O clear as the bridge answers", async () => {
  const { core } = await lab();
  core.addNeighbour(42, "fd00::2", B);
  const ns = inner.find((f) => isIcmp6(f, 135) && hex(f.subarray(22, 24)) === "fd00" && f[77] === 2);
  const na = inner.find((f) => isIcmp6(f, 136) && hex(f.subarray(6, 12)) === "02420a000002" && f[77] === 2);
  assert.ok(ns && na, "the capture has c1's NS for fd00::2 and c2's NA");
  assert.deepEqual(send(core, ns, 0), ["p0"]);
  const got = core.txBytes(0);
  assert.equal(got.length, na.length);
  // The kernel host sets Override for its own address; a proxy answer must not (RFC 4861 §7.2.4).
  assert.equal(na[58] & 0xe0, 0x60);
  assert.equal(got[58] & 0xe0, 0x40);
  const cmp = (f: Uint8Array) => {
    const c = f.slice();
    c[56] = c[57] = 0;
    c[58] &= 0x1f;
    return hex(c);
  };
  assert.equal(cmp(got), cmp(na), "all else identical");
  const pseudo = onesSum(got.subarray(22, 54), got.length - 54 + 58);
  assert.equal(onesSum(got.subarray(54), pseudo), 0xffff, "ICMPv6 checksum valid");
  assert.equal(core.counters(42).nd_reply, 1);
});

Deno.test("a DAD probe (source ::) is flooded, never answered, so duplicate detection still works", async () => {
  const { core } = await lab();
  core.addNeighbour(42, "fd00::2", B);
  const ns = inner.find((f) => isIcmp6(f, 135) && f[77] === 2)!.slice();
  ns.fill(0, 22, 38); // source ::
  assert.deepEqual(send(core, ns, 0), ["p1", "v0", "v1"]);
});
