// Real captures through the core (not the CLI): the Linux kernel's VXLAN traffic and tcpdump's
// VXLAN test files. The kernel is the reference: what it sent, the core must decapsulate, and
// what c1 sent, the core must encapsulate into the very bytes the kernel put on the wire.

import assert from "node:assert/strict";
import { loadCore } from "../../cli/core/load.ts";
import {
  type CoreConfig,
  formatIp,
  formatMac,
  PORT_UNDERLAY_ETH,
  TARGET_REMOTE,
  verdictOf,
  type WeftCore,
} from "../../cli/core/mod.ts";
import { type PcapPacket, readPcap } from "../../cli/pcap/pcap.ts";
import { parseIp } from "../../cli/core/addr.ts";
import { encapsulate } from "../../cli/commands/pcap.ts";

const FIXTURES = new URL("../../../shared/fixtures/", import.meta.url);
const KERNEL = new URL("kernel-vxlan-vni42/", FIXTURES);
const TCPDUMP = new URL("tcpdump-tests/", FIXTURES);

const C1_MAC = "02:42:0a:00:00:01";

function packets(url: URL): PcapPacket[] {
  const pcap = readPcap(Deno.readFileSync(url));
  assert.equal(pcap.linkType, 1, `${url.pathname} is an Ethernet capture`);
  return pcap.packets;
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** Outer packet → its UDP header offset (no VLAN tags in these captures). */
function udpOffset(p: Uint8Array): number {
  const type = (p[12] << 8) | p[13];
  if (type === 0x0800) return 14 + (p[14] & 0x0f) * 4;
  if (type === 0x86dd) return 14 + 40;
  throw new Error(`outer EtherType 0x${type.toString(16)} is not IP`);
}

/** The UDP payload of an outer packet: VXLAN header + inner frame. */
function vxlanPayload(p: Uint8Array): Uint8Array {
  const u = udpOffset(p);
  const len = (p[u + 4] << 8) | p[u + 5];
  return p.subarray(u + 8, u + len);
}

interface Result {
  verdict: number;
  /** Underlay VNI as the core read it, or -1. */
  vni: number;
  /** Bytes of the first TX entry to a local port (decap) or to a VTEP (encap). */
  out?: Uint8Array;
  srcPort?: number;
  /** The sender's address and UDP port the core wrote into the descriptor (underlay input only). */
  peer?: string;
  peerPort?: number;
}

/** Runs frames through the core in bursts, all on one ingress port; one result per frame. */
function run(core: WeftCore, frames: Uint8Array[], port: number): Result[] {
  const results: Result[] = [];
  const burst = core.config.burst;
  for (let start = 0; start < frames.length; start += burst) {
    const chunk = frames.slice(start, start + burst);
    const vnis = chunk.map((f, i) => {
      core.load(i, f, port);
      return port === PORT_UNDERLAY_ETH ? core.exports.underlayVni(core.slotData(i), f.length) : -1;
    });
    const tx = core.process(chunk.length, 1);
    const batch: Result[] = chunk.map((_, i) => ({
      verdict: core.verdict(i),
      vni: vnis[i],
      peer: port === PORT_UNDERLAY_ETH ? formatIp(core.rxPeer(i)) : undefined,
      peerPort: port === PORT_UNDERLAY_ETH ? core.rxPeerPort(i) : undefined,
    }));
    for (let t = 0; t < tx; t++) {
      const e = core.tx(t);
      const remote = (e.target & TARGET_REMOTE) !== 0;
      if (remote === (port === PORT_UNDERLAY_ETH) || batch[e.rxIndex].out) continue;
      batch[e.rxIndex].out = core.txBytes(t);
      batch[e.rxIndex].srcPort = e.srcPort;
    }
    results.push(...batch);
  }
  return results;
}

/** A core with one VNI, port 0 attached, and (for encap) one flood VTEP. */
async function coreFor(vni: number, o: { mtu?: number; vtep?: string; config?: Partial<CoreConfig> } = {}) {
  const core = await loadCore(o.config);
  core.addVni(vni, { learning: false, suppress: false, mtu: o.mtu ?? 1450 });
  core.attachPort(0, vni);
  if (o.vtep) core.addFlood(vni, core.addVtep(o.vtep));
  return core;
}

/** outer.tshark.tsv as records keyed by column name. */
function readTsv(url: URL): Record<string, string>[] {
  const [head, ...rows] = Deno.readTextFileSync(url).trimEnd().split("\n");
  const names = head.split("\t");
  return rows.map((r) => Object.fromEntries(r.split("\t").map((v, i) => [names[i], v])));
}

// ── (1) kernel capture, decapsulation ────────────────────────────────────────────────────────

Deno.test("every VXLAN packet the kernel sent or received decapsulates to its payload minus 8 bytes", async () => {
  const outer = packets(new URL("outer.pcap", KERNEL));
  assert.equal(outer.length, 63);
  const core = await coreFor(42);
  const results = run(core, outer.map((p) => p.data), PORT_UNDERLAY_ETH);
  results.forEach((r, i) => {
    assert.equal(r.verdict, 0, `packet ${i + 1} forwarded`);
    assert.equal(r.vni, 42, `packet ${i + 1} carries VNI 42`);
    assert.deepEqual(r.out, vxlanPayload(outer[i].data).slice(8), `packet ${i + 1}: inner frame`);
  });
  const c = core.counters(42);
  assert.equal(c.decap, 63);
  assert.equal(c.drops, 0);
});

Deno.test("57 of the decapsulated frames are in c1's own capture, byte for byte (README)", async () => {
  const outer = packets(new URL("outer.pcap", KERNEL));
  const inner = new Set(packets(new URL("inner.pcap", KERNEL)).map((p) => hex(p.data)));
  const core = await coreFor(42);
  const results = run(core, outer.map((p) => p.data), PORT_UNDERLAY_ETH);
  const missing = results.filter((r) => !inner.has(hex(r.out!)));
  assert.equal(results.length - missing.length, 57);
  // The other six are h2's own ND/MLD frames, which c1's capture did not record.
  assert.equal(missing.length, 6);
  for (const r of missing) assert.equal(formatMac(r.out!.subarray(6, 12)), "ba:36:6b:60:9e:ba");
});

Deno.test("the core's decode of outer.pcap (VNI, I flag, sender address and port) agrees with tshark's", async () => {
  const outer = packets(new URL("outer.pcap", KERNEL));
  const rows = readTsv(new URL("outer.tshark.tsv", KERNEL));
  assert.equal(rows.length, outer.length);
  const core = await coreFor(42);
  const results = run(core, outer.map((p) => p.data), PORT_UNDERLAY_ETH);
  for (const row of rows) {
    const n = Number(row["frame.number"]);
    const r = results[n - 1];
    const at = `frame ${n}`;
    const first = (name: string) => row[name].split(",")[0]; // outer value; inner IP/UDP follow
    // Every value on the left is what the core read or did, never the capture's bytes.
    assert.equal(r.vni, Number(first("vxlan.vni")), `${at}: VNI`);
    // tshark's flags field is 16 bits; 0x0800 is the I flag alone. The core forwards only with I set.
    assert.equal(first("vxlan.flags"), "0x0800", `${at}: tshark reads the I flag alone`);
    assert.equal(r.verdict, 0, `${at}: the core took it as VXLAN with the I flag`);
    assert.equal(r.peer, first("ip.src"), `${at}: the sender's address`);
    assert.equal(r.peerPort, Number(first("udp.srcport")), `${at}: the sender's UDP port`);
    assert.equal(Number(first("udp.dstport")), 4789, `${at}: to the port the core listens on`);
    assert.equal(formatMac(r.out!.subarray(6, 12)), row["eth.src"].split(",")[1], `${at}: inner eth.src`);
    assert.equal(formatMac(r.out!.subarray(0, 6)), row["eth.dst"].split(",")[1], `${at}: inner eth.dst`);
  }
  // A control: the same packets to another UDP port are not VXLAN to the core.
  const moved = outer.map((p) => {
    const d = p.data.slice(), u = udpOffset(d);
    d[u + 2] = 0x20; // 4789 (0x12b5) becomes 8373
    d[u + 6] = d[u + 7] = 0; // no UDP checksum (IPv4 allows it), so only the port differs
    return d;
  });
  const refused = run(await coreFor(42), moved, PORT_UNDERLAY_ETH);
  assert.deepEqual(
    [...new Set(refused.map((r) => r.verdict))],
    [verdictOf("not_vxlan")],
    "another destination port: not_vxlan",
  );
});

// ── (2) kernel capture, encapsulation ────────────────────────────────────────────────────────

Deno.test("every frame c1 sent, encapsulated for VNI 42, is the kernel's VXLAN payload byte for byte", async () => {
  const outer = packets(new URL("outer.pcap", KERNEL)).map((p) => vxlanPayload(p.data));
  const byFrame = new Map(outer.map((v) => [hex(v.subarray(8)), v]));
  const sent = packets(new URL("inner.pcap", KERNEL)).filter((p) =>
    formatMac(p.data.subarray(6, 12)) === C1_MAC
  );
  const c1Rows = readTsv(new URL("inner.tshark.tsv", KERNEL)).filter((r) => r["eth.src"] === C1_MAC);
  assert.equal(sent.length, c1Rows.length, "as many frames from c1 as tshark counts");
  const core = await coreFor(42, { vtep: "198.18.0.2" });
  const results = run(core, sent.map((p) => p.data), 0);
  results.forEach((r, i) => {
    const wire = byFrame.get(hex(sent[i].data));
    assert.ok(wire, `c1's frame ${i + 1} is on the wire`);
    assert.equal(r.verdict, 0);
    assert.deepEqual(r.out, wire.slice(), `c1's frame ${i + 1}: VXLAN header + frame`);
  });
  assert.equal(core.counters(42).encap, sent.length);
});

Deno.test("outer headers the core writes (pcap encap) agree with the kernel's, field by field", async () => {
  // The kernel's packets from h1 that carry c1's frames, keyed by the inner frame.
  const kernel = new Map(
    packets(new URL("outer.pcap", KERNEL)).map((p) => p.data)
      .filter((p) => p[26] === 198 && p[29] === 1) // ip.src 198.18.0.1: sent by h1
      .map((p) => [hex(vxlanPayload(p).subarray(8)), p]),
  );
  const sent = packets(new URL("inner.pcap", KERNEL)).filter((p) =>
    formatMac(p.data.subarray(6, 12)) === C1_MAC
  );
  const first = [...kernel.values()][0];
  const ours: Uint8Array[] = [];
  const summary = await encapsulate(sent, {
    vni: 42,
    src: parseIp("198.18.0.1"),
    dst: parseIp("198.18.0.2"),
    dstPort: 4789,
    srcMac: first.slice(6, 12),
    dstMac: first.slice(0, 6),
    mtu: 1450,
  }, (_, packet) => ours.push(packet));
  assert.equal(summary.encapsulated, sent.length);
  assert.equal(ours.length, sent.length);
  const be16 = (b: Uint8Array, o: number) => (b[o] << 8) | b[o + 1];
  ours.forEach((o, i) => {
    const k = kernel.get(hex(sent[i].data))!;
    assert.ok(k, `c1's frame ${i + 1} went out through h1`);
    const at = `c1's frame ${i + 1}`;
    assert.equal(o.length, k.length, `${at}: packet length`);
    assert.deepEqual(o.subarray(0, 14), k.subarray(0, 14), `${at}: Ethernet header (MACs given, type IPv4)`);
    // IPv4: version/IHL, DSCP/ECN, total length, DF/MF + fragment offset, TTL, protocol, addresses
    // (DF 0: the kernel's default `df unset`, which weft follows). Not the ID (a counter each stack
    // keeps) nor the header checksum that covers it: that one must be valid instead.
    for (
      const [name, off, len] of [
        ["version/IHL", 14, 1],
        ["DSCP/ECN", 15, 1],
        ["total length", 16, 2],
        ["flags/fragment offset", 20, 2],
        ["TTL", 22, 1],
        ["protocol", 23, 1],
        ["addresses", 26, 8],
      ] as const
    ) {
      assert.deepEqual(o.subarray(off, off + len), k.subarray(off, off + len), `${at}: IPv4 ${name}`);
    }
    const fold = (sum: number) => {
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      return sum;
    };
    let sum = 0;
    for (let b = 14; b < 34; b += 2) sum += be16(o, b);
    assert.equal(fold(sum), 0xffff, `${at}: IPv4 header checksum valid`);
    // UDP checksum: present (the kernel's default `udpcsum`) and valid over the pseudo-header.
    assert.notEqual(be16(o, 40), 0, `${at}: UDP checksum present`);
    sum = 17 + (o.length - 34);
    for (let b = 26; b < 34; b += 2) sum += be16(o, b);
    for (let b = 34; b < o.length; b += 2) sum += b + 1 < o.length ? be16(o, b) : o[b] << 8;
    assert.equal(fold(sum), 0xffff, `${at}: UDP checksum valid`);
    // UDP: destination port and length as the kernel's; the source port is each stack's own hash
    // of the inner flow (RFC 7348 §5), checked against the core's own in tests/core/pcap_cli_test.ts.
    assert.equal(be16(o, 36), be16(k, 36), `${at}: UDP destination port`);
    assert.equal(be16(o, 38), be16(k, 38), `${at}: UDP length`);
    assert.ok(be16(o, 34) >= 1024, `${at}: UDP source port from the dynamic range`);
    assert.deepEqual(o.subarray(42), k.subarray(42), `${at}: VXLAN header and inner frame`);
  });
});

// ── (3) tcpdump's captures ───────────────────────────────────────────────────────────────────

/** tcpdump -e lines of the inner frames: "SRC > DST, ethertype NAME (0xTYPE), length N: …". */
function innerLines(url: URL) {
  return Deno.readTextFileSync(url).split("\n").filter((l) => /^[0-9a-f]{2}:/.test(l)).map((l) => {
    const m = /^(\S+) > (\S+), ethertype \S+ \((0x[0-9a-f]{4})\), length (\d+):/.exec(l);
    assert.ok(m, `parse "${l}"`);
    return { src: m[1], dst: m[2], type: m[3], length: Number(m[4]) };
  });
}

Deno.test("tcpdump's vxlan.pcap: 10 packets of VNI 100 decapsulate to the frames tcpdump decoded", async () => {
  const outer = packets(new URL("vxlan.pcap", TCPDUMP));
  assert.equal(outer.length, 10);
  const expected = innerLines(new URL("vxlan.out", TCPDUMP));
  assert.equal(expected.length, 10);
  const core = await coreFor(100);
  const results = run(core, outer.map((p) => p.data), PORT_UNDERLAY_ETH);
  results.forEach((r, i) => {
    const f = r.out!;
    assert.equal(r.verdict, 0, `packet ${i + 1}`);
    assert.equal(r.vni, 100);
    assert.equal(formatMac(f.subarray(6, 12)), expected[i].src, `packet ${i + 1}: source MAC`);
    assert.equal(formatMac(f.subarray(0, 6)), expected[i].dst, `packet ${i + 1}: destination MAC`);
    assert.equal(`0x${hex(f.subarray(12, 14))}`, expected[i].type, `packet ${i + 1}: EtherType`);
    assert.equal(f.length, expected[i].length, `packet ${i + 1}: length`);
  });
});

Deno.test("vxlan_port_8472.pcap decapsulates only once the VXLAN port is 8472", async () => {
  const frames = packets(new URL("vxlan_port_8472.pcap", TCPDUMP)).map((p) => p.data);
  assert.equal(frames.length, 10);
  const at4789 = await coreFor(100);
  for (const r of run(at4789, frames, PORT_UNDERLAY_ETH)) {
    assert.equal(r.verdict, verdictOf("not_vxlan"));
    assert.equal(r.vni, -1);
  }
  assert.equal(at4789.counters().dropped.not_vxlan, 10);
  assert.equal(at4789.counters(100).decap, 0);

  const at8472 = await coreFor(100);
  at8472.setVxlanPort(8472);
  const expected = innerLines(new URL("vxlan_port_8472.out", TCPDUMP));
  run(at8472, frames, PORT_UNDERLAY_ETH).forEach((r, i) => {
    assert.equal(r.verdict, 0);
    assert.equal(formatMac(r.out!.subarray(6, 12)), expected[i].src);
  });
  assert.equal(at8472.counters(100).decap, 10);
  assert.equal(at8472.counters().drops, 0);
});

// ── (4) GSO super-frames ─────────────────────────────────────────────────────────────────────

for (
  const [file, family, sender] of [
    ["gso-ipv4-vxlan-ipv4.pcap", 0x0800, "10.25.132.11"],
    ["gso-ipv6-vxlan-ipv6.pcap", 0x86dd, "2604:1380:4091:ce00::b"],
  ] as const
) {
  Deno.test(`${file}: the GSO super-frame is refused as over_mtu with MTU 1450, never passed on`, async () => {
    const [p] = packets(new URL(file, TCPDUMP));
    assert.equal((p.data[12] << 8) | p.data[13], family, "outer EtherType");
    assert.ok(p.data.length > 4000, `a super-frame (${p.data.length} bytes)`);
    // 16 KiB slots: the capture must reach the core whole to be judged by the MTU.
    const core = await coreFor(5001, { config: { slotSizeLog2: 14 } });
    const [r] = run(core, [p.data], PORT_UNDERLAY_ETH);
    assert.equal(r.vni, 5001, "the outer headers parse");
    assert.equal(r.peer, sender, "outer source address, as tcpdump decoded it");
    assert.equal(r.verdict, verdictOf("over_mtu"));
    assert.equal(r.out, undefined);
    const c = core.counters(5001);
    assert.equal(c.decap, 1);
    assert.equal(c.dropped.over_mtu, 1);
    assert.equal(c.tx_frames, 0);
  });
}

// ── (5) flow entropy ─────────────────────────────────────────────────────────────────────────

/** The inner flow as the core hashes it: L4 5-tuple, else L3 addresses, else MACs and type. */
function flowKey(f: Uint8Array): string {
  const type = (f[12] << 8) | f[13];
  if (type === 0x0800) {
    const ihl = (f[14] & 0x0f) * 4, proto = f[23];
    const frag = (((f[20] << 8) | f[21]) & 0x3fff) !== 0;
    const ports = (proto === 6 || proto === 17) && !frag ? hex(f.subarray(14 + ihl, 14 + ihl + 4)) : "";
    return `4 ${hex(f.subarray(26, 34))} ${proto} ${ports}`;
  }
  if (type === 0x86dd) {
    const nh = f[20];
    const ports = nh === 6 || nh === 17 ? hex(f.subarray(54, 58)) : "";
    return `6 ${hex(f.subarray(22, 54))} ${nh} ${ports}`;
  }
  return `l2 ${hex(f.subarray(0, 14))}`;
}

Deno.test("the UDP source port is a hash of the inner flow, within 32768..60999", async () => {
  const frames = [
    ...packets(new URL("inner.pcap", KERNEL)).map((p) => p.data),
    ...packets(new URL("outer.pcap", KERNEL)).map((p) => vxlanPayload(p.data).slice(8)),
    ...packets(new URL("vxlan.pcap", TCPDUMP)).map((p) => vxlanPayload(p.data).slice(8)),
  ];
  const core = await coreFor(42, { vtep: "198.18.0.2" });
  const results = run(core, frames, 0);
  const portOf = new Map<string, number>();
  results.forEach((r, i) => {
    assert.equal(r.verdict, 0);
    const port = r.srcPort!;
    assert.ok(port >= 32768 && port < 61000, `port ${port} in the ephemeral range`);
    const key = flowKey(frames[i]);
    if (!portOf.has(key)) portOf.set(key, port);
    assert.equal(port, portOf.get(key), `frame ${i + 1}: same flow, same port`);
  });
  // Different flows spread over different ports (entropy for ECMP/RSS).
  assert.ok(portOf.size >= 10, `${portOf.size} flows`);
  assert.ok(new Set(portOf.values()).size >= portOf.size - 1, "distinct flows get distinct ports");
  // The ICMP echoes of tcpdump's capture: one port for the requests, another for the replies.
  const icmp = results.slice(-10);
  const requests = new Set(icmp.filter((_, i) => [0, 4, 6, 8].includes(i)).map((r) => r.srcPort));
  const replies = new Set(icmp.filter((_, i) => [3, 5, 7, 9].includes(i)).map((r) => r.srcPort));
  assert.equal(requests.size, 1);
  assert.equal(replies.size, 1);
  assert.notDeepEqual([...requests], [...replies]);
});
