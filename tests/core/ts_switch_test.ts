// The benchmark's TypeScript reference (tests/bench/ts_switch.ts) must switch exactly as the Wasm
// core does, or the comparison in `npm run bench:core` is not apples to apples. Each test feeds
// both the same bursts and compares verdicts, TX entries (slot-relative pointers, lengths,
// targets, source ports, RX indices), the bytes each TX entry points at, and the counters.

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { loadCore } from "../../cli/core/load.ts";
import {
  type CoreConfig,
  DEFAULT_CONFIG,
  PORT_UNDERLAY,
  VNET_HDR_LEN,
  type WeftCore,
} from "../../cli/core/mod.ts";
import { parseIp, parseMac } from "../../cli/core/addr.ts";
import { TsSwitch } from "../bench/ts_switch.ts";
import { configure, PEER, rng, VNI, workMac } from "../bench/core_bench.ts";
import { ethFrame, udpFrame, vxlan } from "./frames.ts";

type Pair = { core: WeftCore; ts: TsSwitch };
/** [frame, port, peer] — peer only for PORT_UNDERLAY. A null frame is a bad descriptor. */
type In = [Uint8Array | null, number, Uint8Array?];

const OTHER_VNI = 7;
const LOCAL_A = parseMac("02:42:0a:00:00:01"); // port 0
const LOCAL_B = parseMac("02:42:0a:00:00:02"); // port 1
const STRANGER = parseIp("203.0.113.9"); // not configured: learned as VTEP 8

async function pair(config: Partial<CoreConfig> = {}, learnMax?: number): Promise<Pair> {
  const full = { ...DEFAULT_CONFIG, fdbBits: 10, ...config };
  const p = { core: await loadCore(full), ts: new TsSwitch(full) };
  for (const sw of [p.core, p.ts]) {
    configure(sw);
    // PMTU replies are built in a region outside the frame slots, which the reference does not
    // model (tests/core/kernel_wire_test.ts covers them); the reference ignores `pmtu`.
    sw.addVni(VNI, { mtu: 1500, learnMax, pmtu: false });
    sw.addVni(OTHER_VNI, { learning: false, pmtu: false });
    sw.attachPort(2, OTHER_VNI);
    for (let k = 0; k < 16; k++) sw.addStatic(VNI, workMac(1, k), { vtep: k % 8 });
    sw.addStatic(VNI, workMac(2, 0), { port: 1 });
    sw.addStatic(OTHER_VNI, workMac(2, 1), { port: 2 });
  }
  return p;
}

/** Loads the burst into both, switches it, and checks they agree; returns the TX count. */
function step(p: Pair, burst: In[], now = 100, what = "burst"): number {
  for (const sw of [p.core, p.ts]) {
    burst.forEach(([frame, port, peer], i) => {
      if (frame) sw.load(i, frame, port, peer, 4789);
      else sw.describe(i, 0, 64, port); // outside the slots
    });
  }
  const n = p.core.process(burst.length, now);
  strictEqual(p.ts.process(burst.length, now), n, `${what}: TX count`);
  for (let i = 0; i < burst.length; i++) {
    strictEqual(p.ts.verdict(i), p.core.verdict(i), `${what}: verdict ${i}`);
  }
  for (let j = 0; j < n; j++) {
    deepStrictEqual(txEntry(p.ts, j), txEntry(p.core, j), `${what}: TX ${j}`);
    deepStrictEqual(p.ts.txBytes(j), p.core.txBytes(j), `${what}: bytes of TX ${j}`);
  }
  return n;
}

/** A TX entry with its pointer relative to the slots and its virtio_net_hdr as bytes. */
function txEntry(sw: WeftCore | TsSwitch, j: number) {
  const t = sw.tx(j);
  return {
    ...t,
    ptr: t.ptr - sw.slotBase,
    vnet: Array.from(sw.bytes.subarray(t.vnet, t.vnet + VNET_HDR_LEN)),
  };
}

function sameCounters(p: Pair): void {
  deepStrictEqual(p.ts.counters(VNI), p.core.counters(VNI), "VNI counters");
  deepStrictEqual(p.ts.counters(OTHER_VNI), p.core.counters(OTHER_VNI), "other VNI counters");
  deepStrictEqual(p.ts.counters(), p.core.counters(), "global counters");
  for (let port = 0; port < 3; port++) {
    deepStrictEqual(p.ts.portCounters(port), p.core.portCounters(port), `port ${port}`);
  }
  for (let v = 0; v < p.core.vtepCount; v++) {
    deepStrictEqual(p.ts.vtepCounters(v), p.core.vtepCounters(v), `VTEP ${v}`);
  }
  strictEqual(p.ts.vtepCount, p.core.vtepCount, "VTEPs");
  strictEqual(p.ts.fdbSize, p.core.fdbSize, "FDB entries");
}

// ── frames ─────────────────────────────────────────────────────────────────────────────────

const udp = (dst: Uint8Array, src: Uint8Array, size = 64, sport = 5000) =>
  udpFrame(dst, src, 0x0a000001, 0x0a000002, sport, 53, size);

function withProto(f: Uint8Array, proto: number, fragOff = 0): Uint8Array {
  const g = f.slice();
  g[14 + 9] = proto;
  g[14 + 6] = fragOff >> 8;
  g[14 + 7] = fragOff & 0xff;
  return g;
}

function ipv6(dst: Uint8Array, src: Uint8Array, next: number, payload = 24): Uint8Array {
  const ip = new Uint8Array(40 + payload);
  ip[0] = 0x60;
  ip[4] = payload >> 8;
  ip[5] = payload & 0xff;
  ip[6] = next;
  ip[7] = 64;
  for (let i = 8; i < 40; i++) ip[i] = i * 7;
  ip[40] = 0x13, ip[41] = 0x88, ip[42] = 0x00, ip[43] = 0x35;
  return ethFrame(dst, src, 0x86dd, ip);
}

function vlan(f: Uint8Array, type = 0x8100): Uint8Array {
  const g = new Uint8Array(f.length + 4);
  g.set(f.subarray(0, 12));
  g[12] = type >> 8, g[13] = type & 0xff, g[14] = 0x00, g[15] = 0x0a;
  g.set(f.subarray(12), 16);
  return g;
}

const arpRequest = (src: Uint8Array) =>
  ethFrame(
    new Uint8Array(6).fill(0xff),
    src,
    0x0806,
    Uint8Array.of(0, 1, 8, 0, 6, 4, 0, 1, ...src, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 9),
  );

const fromRemote = (
  inner: Uint8Array,
  peer = PEER,
  vni = VNI,
): In => [vxlan(vni, inner), PORT_UNDERLAY, peer];
const remote = (k: number) => workMac(1, k);
const BCAST = new Uint8Array(6).fill(0xff);

// ── the specifications ─────────────────────────────────────────────────────────────────────

Deno.test("TS reference encapsulates known unicast like the core, for every flow-hash path", async () => {
  const p = await pair();
  const n = step(p, [
    [udp(remote(0), LOCAL_A), 0],
    [udp(remote(1), LOCAL_A, 1500, 6000), 0],
    [withProto(udp(remote(2), LOCAL_A), 6), 0], // TCP
    [withProto(udp(remote(3), LOCAL_A), 17, 0x2001), 0], // a fragment: addresses only
    [withProto(udp(remote(4), LOCAL_A), 1), 0], // ICMP
    [ipv6(remote(5), LOCAL_A, 17), 0],
    [ipv6(remote(6), LOCAL_A, 58), 0],
    [vlan(udp(remote(7), LOCAL_A)), 0],
    [vlan(udp(remote(8), LOCAL_A), 0x88a8), 0],
    [ethFrame(remote(9), LOCAL_A, 0x88cc, new Uint8Array(50)), 0], // not IP: MAC hash
    [udp(remote(10), LOCAL_A, 1514), 0], // exactly MTU + header
    [vlan(udp(remote(11), LOCAL_A, 1514)), 0], // tagged, 4 more allowed
  ]);
  strictEqual(n, 12);
  sameCounters(p);
});

Deno.test("TS reference drops what the core drops, for the same reasons", async () => {
  const p = await pair();
  step(p, [[udp(BCAST, LOCAL_A), 0], [udp(BCAST, LOCAL_B), 1]], 100, "learn A and B");
  const group = Uint8Array.of(0x03, 0, 0, 0, 0, 1);
  step(
    p,
    [
      [null, 0], // bad descriptor
      [udp(remote(0), LOCAL_A).subarray(0, 10), 0], // runt
      [udp(remote(0), LOCAL_A, 1515), 0], // over MTU
      [vlan(udp(remote(0), LOCAL_A, 1515)), 0], // over MTU even tagged
      [udp(remote(0), group), 0], // group source
      [udp(remote(0), new Uint8Array(6)), 0], // zero source
      [udp(remote(0), LOCAL_A), 9], // unknown port
      [udp(LOCAL_A, LOCAL_A), 0], // same port
      [udp(LOCAL_B, LOCAL_A), 0], // to port 1
      [udp(workMac(2, 1), LOCAL_A), 2], // other VNI, static on port 2: same port
      [vxlan(VNI, udp(LOCAL_A, remote(1))).subarray(0, 20), PORT_UNDERLAY, PEER], // VXLAN runt
      [Uint8Array.of(0, 0, 0, 0, 0, 0, 42, 0, ...udp(LOCAL_A, remote(1))), PORT_UNDERLAY, PEER], // no I flag
      fromRemote(udp(LOCAL_A, remote(1)), PEER, 999), // unknown VNI
      fromRemote(udp(remote(2), remote(1))), // split horizon
      fromRemote(udp(LOCAL_A, remote(1), 1515)), // over MTU
      fromRemote(udp(LOCAL_A, group)), // group source
    ],
    100,
    "drops",
  );
  sameCounters(p);
});

Deno.test("TS reference decapsulates and learns like the core: new VTEP, move, static, flood", async () => {
  const p = await pair();
  step(p, [[udp(BCAST, LOCAL_A), 0], [udp(BCAST, LOCAL_B), 1], arpRequestIn()], 100, "local learning");
  step(
    p,
    [
      fromRemote(udp(LOCAL_A, workMac(3, 0))), // learn workMac(3,0) at VTEP 0
      fromRemote(udp(LOCAL_B, workMac(3, 1), 200), STRANGER), // learn VTEP 8 and the MAC behind it
      fromRemote(udp(workMac(9, 9), workMac(3, 2))), // unknown destination: local ports only
      fromRemote(udp(BCAST, workMac(3, 3))), // broadcast from remote
      fromRemote(udp(LOCAL_A, LOCAL_B)), // B moves from port 1 to VTEP 0
      fromRemote(udp(LOCAL_A, remote(5))), // static source: never moved
      fromRemote(udp(workMac(2, 0), workMac(3, 0), 1500)), // refresh, to a static local MAC
      fromRemote(udp(LOCAL_A, workMac(3, 0)), STRANGER), // workMac(3,0) moves to VTEP 8
    ],
    100,
    "decap",
  );
  step(
    p,
    [
      [udp(workMac(3, 1), LOCAL_A), 0], // to the learned VTEP 8
      [udp(LOCAL_B, LOCAL_A), 0], // B is remote now
      [udp(workMac(3, 0), LOCAL_A), 0],
    ],
    150,
    "back to the learned",
  );
  // Past the 300 s ageing time, learned entries miss and the frames flood.
  step(p, [[udp(workMac(3, 1), LOCAL_B), 1], [udp(workMac(3, 2), LOCAL_B), 1]], 500, "aged");
  sameCounters(p);
  const c = p.core.counters(VNI);
  strictEqual(p.core.vtepCount, 9, "the stranger was learned as a VTEP");
  ok(c.fdb_move >= 2 && c.fdb_learn >= 6 && c.fdb_miss >= 3 && c.dropped.split_horizon === 0, "paths taken");
});

function arpRequestIn(): In {
  return [arpRequest(LOCAL_A), 0];
}

Deno.test("TS reference floods to ports and VTEPs and runs out of TX entries like the core", async () => {
  const p = await pair({ txEntries: 20 });
  const n = step(p, [
    [udp(BCAST, LOCAL_A), 0],
    [udp(workMac(9, 1), LOCAL_A, 1500), 0], // unknown unicast
    [udp(BCAST, LOCAL_B), 1], // 9 copies each: the third is cut short
    [udp(BCAST, LOCAL_A), 0], // no room at all
    [udp(remote(0), LOCAL_A), 0],
  ]);
  strictEqual(n, 20);
  sameCounters(p);
});

Deno.test("TS reference stops learning at the VNI's limit but still forwards, like the core", async () => {
  const p = await pair({}, 3);
  const burst: In[] = [];
  for (let k = 0; k < 8; k++) burst.push(fromRemote(udp(LOCAL_A, workMac(4, k))));
  for (let k = 0; k < 4; k++) burst.push([udp(remote(k), workMac(5, k)), 0]);
  step(p, burst);
  sameCounters(p);
});

Deno.test("TS reference agrees with the core on random bursts of mutated frames", async () => {
  const p = await pair({ txEntries: 256 });
  const next = rng(7);
  const macs = [
    LOCAL_A,
    LOCAL_B,
    BCAST,
    workMac(2, 0),
    workMac(2, 1),
    ...Array.from({ length: 6 }, (_, k) => remote(k)),
    ...Array.from({ length: 6 }, (_, k) => workMac(6, k)),
  ];
  const peers = [PEER, STRANGER, parseIp("198.18.0.5"), parseIp("2001:db8::1")];
  const pick = <T>(xs: T[]) => xs[next() % xs.length];
  for (let b = 0; b < 200; b++) {
    const burst: In[] = [];
    const count = 1 + next() % 64;
    for (let i = 0; i < count; i++) {
      const kind = next() % 6;
      let f = kind === 0
        ? ipv6(pick(macs), pick(macs), pick([6, 17, 58]), next() % 64)
        : kind === 1
        ? vlan(udp(pick(macs), pick(macs), 64 + next() % 1400))
        : kind === 2
        ? arpRequest(pick(macs))
        : udp(pick(macs), pick(macs), 60 + next() % 1480, next() & 0xffff);
      if (next() % 4 === 0) {
        f = f.slice();
        for (let m = next() % 4; m >= 0; m--) f[next() % f.length] = next() & 0xff; // mutate
      }
      if (next() % 8 === 0) f = f.subarray(0, next() % f.length);
      const where = next() % 10;
      if (where < 4) burst.push([f, next() % 4]);
      else if (where < 9) {
        let d = vxlan(pick([VNI, VNI, OTHER_VNI, 5]), f);
        if (next() % 8 === 0) d = d.subarray(0, next() % d.length);
        if (next() % 16 === 0) d[0] = 0;
        burst.push([d, PORT_UNDERLAY, pick(peers)]);
      } else burst.push([null, 0]);
    }
    step(p, burst, 100 + b * 3, `random burst ${b}`);
  }
  sameCounters(p);
  // The bursts must reach most paths, or agreeing on them says little.
  const c = p.core.counters(VNI), g = p.core.counters();
  for (
    const n of ["encap", "decap", "flood", "fdb_hit", "fdb_miss", "fdb_learn", "fdb_move", "drops"] as const
  ) {
    ok(c[n] > 0, `no ${n}`);
  }
  const reasons = [c, g].flatMap((x) => Object.entries(x.dropped).filter(([, v]) => v > 0).map(([k]) => k));
  ok(new Set(reasons).size >= 8, `drop reasons seen: ${reasons}`);
});
