// The wire as the Linux kernel's VXLAN sends and takes it (issue 11, items 6–11), through the Wasm
// core and `weft pcap encap`: outer DF and UDP checksum, RFC 6040 ECN both ways, VNI 0, ARP/ND
// announcements never answered from the table, a VTEP's own echo dropped, and path MTU replies.
// Captures from ../shared/fixtures/field-cases; what weft writes is decoded by tshark.

import assert from "node:assert/strict";
import { loadCore } from "../../cli/core/load.ts";
import { PORT_UNDERLAY, TARGET_REMOTE, type WeftCore } from "../../cli/core/mod.ts";
import { PcapWriter, readPcap } from "../../cli/pcap/pcap.ts";
import { tsharkFields, weftPcap as weft, withTemp } from "../harness.ts";
import { arpFrame, eth, FIXTURES, ip, ipv4Frame, ipv6Frame, naFrame, onesSum, vxlan } from "./frames.ts";

const ECN_IN = new URL("field-cases/ecn-encap/inner-tos.pcap", FIXTURES).pathname;
const PMTU_IN = new URL("field-cases/pmtu-encap/container-mtu-1500.pcap", FIXTURES).pathname;
const ENCAP = ["encap", "--vni", "42", "--src", "198.18.0.1", "--dst", "198.18.0.2"];
const A = "02:42:0a:00:00:01", B = "02:42:0a:00:00:02", C = "02:42:0a:00:00:03";
const BCAST = "ff:ff:ff:ff:ff:ff";
const H1 = ip("198.18.0.1"), H2 = ip("198.18.0.2");
/** tshark's fields of every packet, the outer header's only (occurrence=f), not the inner's as well. */
const tshark = (file: string, fields: string[], args: string[] = []) =>
  tsharkFields(file, fields, { occurrence: "f", args });

/** Outer fields of every packet, with tshark checking the IPv4 and UDP checksums. */
const OUTER = ["ip.dsfield", "ip.flags.df", "ip.ttl", "udp.checksum", "udp.checksum.status", "vxlan.vni"];
const CHECKS = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"];

/** expected.txt of ecn-encap: "outer TOS = 0x00, 0x02, …". */
function expectedOuterTos(): string[] {
  const text = Deno.readTextFileSync(new URL("field-cases/ecn-encap/expected.txt", FIXTURES));
  const line = /outer TOS = ([0-9xA-Fa-f, ]+)/.exec(text)![1];
  return line.split(",").map((s) => `0x${s.trim().slice(2).padStart(2, "0").toLowerCase()}`);
}

// ── 6 + 7: DF, UDP checksum and ECN on encapsulation (`weft pcap encap`) ─────────────────────

Deno.test("pcap encap of ecn-encap: outer ECN follows the inner (CE as ECT(0)), DSCP 0, DF 0, TTL 64, a good UDP checksum", async () => {
  await withTemp(async (dir) => {
    const out = `${dir}/out.pcap`;
    const r = await weft(...ENCAP, ECN_IN, out);
    assert.equal(r.code, 0, r.stderr);
    const rows = await tshark(out, OUTER, CHECKS);
    const want = expectedOuterTos();
    assert.equal(want.length, 6);
    assert.deepEqual(rows.map((f) => f[0]), want, "outer TOS as expected.txt says");
    for (const [, df, ttl, csum, status, vni] of rows) {
      assert.deepEqual([df, ttl, vni], ["0", "64", "42"]);
      assert.notEqual(csum, "0x0000", "the kernel's default udpcsum: a checksum, not zero");
      assert.equal(status, "1", "tshark verifies the UDP checksum (1 = good)");
    }
  });
});

Deno.test("pcap encap --df set|inherit and --noudpcsum: DF and checksum as the kernel's df and noudpcsum options", async () => {
  await withTemp(async (dir) => {
    // ecn-encap's frames are IPv4 echoes with DF; build one without DF and one IPv6 frame too.
    const w = new PcapWriter();
    w.write(0, ipv4Frame({ df: true }));
    w.write(1, ipv4Frame({ df: false }));
    w.write(2, ipv6Frame());
    w.write(3, arpFrame(1, A, "10.0.0.1", "00:00:00:00:00:00", "10.0.0.2"));
    const input = `${dir}/in.pcap`;
    await Deno.writeFile(input, w.bytes());
    const dfOf = async (...opts: string[]) => {
      const r = await weft(...ENCAP, ...opts, input, `${dir}/o.pcap`);
      assert.equal(r.code, 0, r.stderr);
      return (await tshark(`${dir}/o.pcap`, ["ip.flags.df", "udp.checksum"])).map((f) => f[0]);
    };
    assert.deepEqual(await dfOf(), ["0", "0", "0", "0"], "default: df unset");
    assert.deepEqual(await dfOf("--df", "unset"), ["0", "0", "0", "0"]);
    assert.deepEqual(await dfOf("--df", "set"), ["1", "1", "1", "1"]);
    // vxlan_xmit_one(): inherit copies an inner IPv4 DF, sets DF for IPv6, not for ARP.
    assert.deepEqual(await dfOf("--df", "inherit"), ["1", "0", "1", "0"]);
    await weft(...ENCAP, "--noudpcsum", input, `${dir}/o.pcap`);
    const sums = await tshark(`${dir}/o.pcap`, ["udp.checksum"]);
    assert.deepEqual(sums.map((f) => f[0]), ["0x0000", "0x0000", "0x0000", "0x0000"], "noudpcsum: zero");
  });
});

Deno.test("pcap encap over IPv6: the outer traffic class carries the inner ECN", async () => {
  await withTemp(async (dir) => {
    const r = await weft(
      "encap",
      "--vni",
      "42",
      "--src",
      "2001:db8::1",
      "--dst",
      "2001:db8::2",
      ECN_IN,
      `${dir}/o.pcap`,
    );
    assert.equal(r.code, 0, r.stderr);
    const rows = await tshark(`${dir}/o.pcap`, ["ipv6.tclass", "udp.checksum.status"], CHECKS);
    assert.deepEqual(
      rows.map((f) => f[0]),
      expectedOuterTos().map((t) => `0x${t.slice(2).padStart(8, "0")}`),
    );
    assert.ok(rows.every((f) => f[1] === "1"), "good UDP checksums (status 1)");
  });
});

// ── 7: ECN on decapsulation (vxlan_ecn_decapsulate) ─────────────────────────────────────────

async function decapLab(): Promise<WeftCore> {
  const core = await loadCore({});
  core.addVni(42, { learning: true, suppress: false });
  core.attachPort(0, 42);
  return core;
}

/** Decapsulates `inner` that came with outer TOS `tos`; the delivered frame or undefined. */
function decap(core: WeftCore, inner: Uint8Array, tos: number, vni = 42): Uint8Array | undefined {
  const d = vxlan(vni, inner);
  const ptr = core.slotData(0);
  core.bytes.set(d, ptr);
  core.describe(0, ptr, d.length, PORT_UNDERLAY, H2, 4789, { tos });
  const n = core.process(1, 1);
  return n === 1 ? core.txBytes(0) : undefined;
}

Deno.test("ECN decap: an outer CE marks an ECT inner packet CE (IPv4 checksum patched, IPv6 traffic class)", async () => {
  const core = await decapLab();
  for (const ect of [1, 2]) {
    const got = decap(core, ipv4Frame({ tos: 0xb8 | ect, dmac: BCAST }), 0x03)!;
    assert.equal(got[15], 0xbb, `ECT(${ect === 2 ? 0 : 1}) + outer CE → CE, DSCP kept`);
    assert.equal(onesSum(got.subarray(14, 34)), 0xffff, "the IPv4 header checksum still verifies");
  }
  const v6 = decap(core, ipv6Frame({ tc: 0x02, dmac: BCAST }), 0x03)!;
  assert.equal(((v6[14] & 0x0f) << 4) | (v6[15] >> 4), 0x03, "IPv6 traffic class CE");
  assert.equal(core.counters(42).ecn_ce_marked, 3);
});

Deno.test("ECN decap: CE over a Not-ECT inner packet is dropped (ecn_not_ect); anything else passes unchanged", async () => {
  const core = await decapLab();
  assert.equal(decap(core, ipv4Frame({ tos: 0, dmac: BCAST }), 0x03), undefined);
  assert.equal(decap(core, ipv6Frame({ tc: 0, dmac: BCAST }), 0x03), undefined);
  assert.equal(core.counters(42).dropped.ecn_not_ect, 2);
  // Outer ECT over Not-ECT, outer Not-ECT over CE, and ARP under CE are passed as they came.
  for (
    const [inner, tos] of [
      [ipv4Frame({ tos: 0, dmac: BCAST }), 0x02],
      [ipv4Frame({ tos: 0x03, dmac: BCAST }), 0x00],
      [ipv4Frame({ tos: 0x01, dmac: BCAST }), 0x01],
      [arpFrame(1, B, "10.0.0.2", "00:00:00:00:00:00", "10.0.0.1"), 0x03],
    ] as const
  ) {
    assert.deepEqual(decap(core, inner, tos), inner);
  }
  assert.equal(core.counters(42).dropped.ecn_not_ect, 2);
});

Deno.test("ECN encap: TX entries carry the outer TOS (inner ECN, CE as ECT(0)) and whether the inner packet asks for DF", async () => {
  const core = await decapLab();
  core.addFlood(42, core.addVtep("198.18.0.2"));
  const cases: [Uint8Array, number, boolean][] = [
    [ipv4Frame({ tos: 0xbb, dmac: BCAST }), 0x02, true],
    [ipv4Frame({ tos: 0x01, df: false, dmac: BCAST }), 0x01, false],
    [ipv6Frame({ tc: 0x03, dmac: BCAST }), 0x02, true],
    [eth(BCAST, A, 0x0806), 0, false],
  ];
  for (const [frame, tos, innerDf] of cases) {
    core.load(0, frame, 0);
    assert.equal(core.process(1, 1), 1);
    const t = core.tx(0);
    assert.ok(t.target & TARGET_REMOTE);
    assert.deepEqual([t.tos, t.innerDf], [tos, innerDf]);
  }
});

// ── 8: VNI 0 ────────────────────────────────────────────────────────────────────────────────

Deno.test("VNI 0 is a VNI: the core switches it both ways; pcap encap --vni 0 writes it and decap reads it back", async () => {
  const core = await loadCore({});
  core.addVni(0);
  core.attachPort(0, 0);
  core.addFlood(0, core.addVtep("198.18.0.2"));
  core.load(0, eth(BCAST, A), 0);
  assert.equal(core.process(1, 1), 1);
  assert.equal(core.vtep(core.tx(0).target & ~TARGET_REMOTE).address, "198.18.0.2");
  assert.deepEqual([...core.txBytes(0).subarray(0, 8)], [8, 0, 0, 0, 0, 0, 0, 0]);
  assert.ok(decap(core, eth(BCAST, B), 0, 0), "a datagram of VNI 0 is delivered");
  assert.equal(core.counters(0).decap, 1);
  assert.equal(core.counters().dropped.unknown_vni, 0);
  await withTemp(async (dir) => {
    const r = await weft(
      "encap",
      "--vni",
      "0",
      "--src",
      "198.18.0.1",
      "--dst",
      "198.18.0.2",
      ECN_IN,
      `${dir}/o.pcap`,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^vni 0: 6 encapsulated, 0 dropped/m);
    assert.deepEqual((await tshark(`${dir}/o.pcap`, ["vxlan.vni"])).map((f) => f[0]), Array(6).fill("0"));
    const back = await weft("decap", `${dir}/o.pcap`, `${dir}/back.pcap`);
    assert.match(back.stdout, /^vni 0: 6 decapsulated, 0 dropped/m);
    const original = readPcap(await Deno.readFile(ECN_IN)).packets.map((p) => p.data);
    assert.deepEqual(readPcap(await Deno.readFile(`${dir}/back.pcap`)).packets.map((p) => p.data), original);
  });
});

// ── 9: ARP/ND announcements are flooded, never answered from the table ─────────────────────

async function suppressLab(): Promise<WeftCore> {
  const core = await loadCore({});
  core.addVni(42, { suppress: true });
  core.attachPort(0, 42);
  core.attachPort(1, 42);
  core.addFlood(42, core.addVtep("198.18.0.2"));
  core.addNeighbour(42, "10.0.0.2", B);
  core.addNeighbour(42, "fd00::2", B);
  return core;
}

/** Targets of one frame from port 0: "p0" is an answer back to the asker. */
function targets(core: WeftCore, frame: Uint8Array): string[] {
  core.load(0, frame, 0);
  const n = core.process(1, 1);
  return Array.from({ length: n }, (_, i) => {
    const t = core.tx(i).target;
    return t & TARGET_REMOTE ? `v${(t & ~TARGET_REMOTE) >>> 0}` : `p${t}`;
  });
}

Deno.test("ARP suppression answers a plain request, but floods gratuitous ARP and the owner's own probe (RFC 5227)", async () => {
  const core = await suppressLab();
  const Z = "00:00:00:00:00:00";
  assert.deepEqual(targets(core, arpFrame(1, A, "10.0.0.1", Z, "10.0.0.2")), ["p0"], "a request is answered");
  // 10.0.0.2 fails over to C and announces it: flooded to port 1 and the VTEP, not answered with B.
  assert.deepEqual(targets(core, arpFrame(1, C, "10.0.0.2", Z, "10.0.0.2")), ["p1", "v0"]);
  assert.deepEqual(targets(core, arpFrame(1, C, "10.0.0.2", BCAST, "10.0.0.2")), ["p1", "v0"]);
  assert.deepEqual(
    targets(core, arpFrame(2, C, "10.0.0.2", BCAST, "10.0.0.2")),
    ["p1", "v0"],
    "gratuitous reply",
  );
  // B probing its own address: answering as B would make B see a conflict with itself.
  assert.deepEqual(targets(core, arpFrame(1, B, "0.0.0.0", Z, "10.0.0.2")), ["p1", "v0"]);
  // Another host probing B's address: B would defend it, and so does the table.
  const probe = targets(core, arpFrame(1, C, "0.0.0.0", Z, "10.0.0.2"));
  assert.deepEqual(probe, ["p0"]);
  const reply = core.txBytes(0);
  assert.deepEqual([reply[21], [...reply.subarray(28, 32)]], [2, [10, 0, 0, 2]], "a reply from 10.0.0.2");
  assert.equal(core.counters(42).arp_reply, 2);
});

Deno.test("ND suppression floods unsolicited neighbour advertisements and DAD solicitations (RFC 4861 §7.2.6, RFC 4862)", async () => {
  const core = await suppressLab();
  // Unsolicited NA, override flag, to all-nodes: a new MAC for fd00::2.
  assert.deepEqual(targets(core, naFrame(C, "fd00::2", "ff02::1", "fd00::2", 0x20)), ["p1", "v0"]);
  assert.equal(core.counters(42).nd_reply, 0);
});

// ── 10: a VTEP never takes its own datagrams ────────────────────────────────────────────────

Deno.test("a datagram from one of this host's own VTEP addresses is dropped as self_vtep and never learned", async () => {
  const core = await decapLab();
  core.addLocalAddress("198.18.0.1");
  const d = vxlan(42, eth(BCAST, A));
  core.load(0, d, PORT_UNDERLAY, H1);
  assert.equal(core.process(1, 1), 0);
  assert.equal(core.counters(42).dropped.self_vtep, 1);
  assert.equal(core.fdb(1).length, 0, "the local MAC was not moved to 'remote self'");
  assert.equal(core.findVtep("198.18.0.1"), -1, "nor was this host learned as a VTEP");
  core.load(0, d, PORT_UNDERLAY, H2);
  assert.equal(core.process(1, 1), 1, "the same datagram from a peer is delivered");
});

// ── 11: path MTU (skb_tunnel_check_pmtu) ────────────────────────────────────────────────────

async function mtuLab(): Promise<WeftCore> {
  const core = await loadCore({});
  core.addVni(42, { mtu: 1450, suppress: false });
  core.attachPort(0, 42);
  core.addStatic(42, B, { vtep: core.addVtep("198.18.0.2") });
  return core;
}

Deno.test("pcap encap of pmtu-encap: 1 encapsulated, 1 dropped as over_mtu (expected.txt)", async () => {
  await withTemp(async (dir) => {
    const r = await weft(...ENCAP, "--mtu", "1450", PMTU_IN, `${dir}/o.pcap`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^vni 42: 1 encapsulated, 1 dropped \(over_mtu 1\)$/m);
  });
});

Deno.test("an over-MTU IPv4 packet with DF from a local port gets ICMP frag-needed with MTU 1450, which tshark decodes", async () => {
  const core = await mtuLab();
  const big = readPcap(await Deno.readFile(PMTU_IN)).packets[0].data;
  assert.equal(big.length, 1514);
  core.load(0, big, 0);
  assert.equal(core.process(1, 7), 1, "one TX entry: the reply");
  assert.equal(core.verdict(0), 3, "the frame itself is still dropped as over_mtu");
  const t = core.tx(0);
  assert.equal(t.target, 0, "back to the ingress port");
  assert.equal(core.counters(42).pmtu_icmp, 1);
  await withTemp(async (dir) => {
    const w = new PcapWriter();
    w.write(0, core.txBytes(0));
    await Deno.writeFile(`${dir}/icmp.pcap`, w.bytes());
    const [row] = await tshark(`${dir}/icmp.pcap`, [
      "eth.src",
      "eth.dst",
      "ip.src",
      "ip.dst",
      "ip.flags.df",
      "ip.checksum.status",
      "icmp.type",
      "icmp.code",
      "icmp.mtu",
      "icmp.checksum.status",
      "frame.len",
    ], ["-o", "ip.check_checksum:TRUE"]);
    // From the destination (10.0.0.2, its MAC) back to the sender, as iptunnel_pmtud_build_icmp.
    assert.deepEqual(row.slice(0, 4), ["02:00:00:00:00:02", "02:00:00:00:00:01", "10.0.0.2", "10.0.0.1"]);
    assert.deepEqual(
      row.slice(4),
      ["1", "1", "3", "4", "1450", "1", "590"],
      "DF, good checksums, 576 + 14 bytes",
    );
  });
});

Deno.test("an over-MTU IPv6 packet gets ICMPv6 packet-too-big with the MTU, quoting at most 1232 bytes", async () => {
  const core = await mtuLab();
  core.load(0, ipv6Frame({ payload: 1500, smac: A, dmac: B }), 0);
  assert.equal(core.process(1, 7), 1);
  await withTemp(async (dir) => {
    const w = new PcapWriter();
    w.write(0, core.txBytes(0));
    await Deno.writeFile(`${dir}/ptb.pcap`, w.bytes());
    const [row] = await tshark(`${dir}/ptb.pcap`, [
      "ipv6.src",
      "ipv6.dst",
      "icmpv6.type",
      "icmpv6.code",
      "icmpv6.mtu",
      "icmpv6.checksum.status",
      "frame.len",
    ]);
    assert.deepEqual(row, ["fd00::2", "fd00::1", "2", "0", "1450", "1", String(14 + 1280)]);
  });
});

Deno.test("no ICMP for IPv4 without DF, broadcast destinations or ICMP errors; replies are rate-limited per second", async () => {
  const core = await mtuLab();
  const none = [
    ipv4Frame({ size: 1480, df: false }),
    ipv4Frame({ size: 1480, dst: "255.255.255.255" }),
    ipv4Frame({ size: 1480, icmpType: 3 }),
    ipv4Frame({ size: 1480, dmac: BCAST }),
  ];
  for (const f of none) {
    core.load(0, f, 0);
    assert.equal(core.process(1, 1), 0);
  }
  assert.equal(core.counters(42).dropped.over_mtu, 4);
  assert.equal(core.counters(42).pmtu_icmp, 0);
  let sent = 0;
  for (let i = 0; i < 150; i++) {
    core.load(0, ipv4Frame({ size: 1480 }), 0);
    sent += core.process(1, 2);
  }
  assert.equal(sent, 100, "PMTU_ICMP_PER_SECOND");
  assert.equal(core.counters(42).pmtu_icmp_limited, 50);
  core.load(0, ipv4Frame({ size: 1480 }), 0);
  assert.equal(core.process(1, 3), 1, "a new second, a new budget");
});
