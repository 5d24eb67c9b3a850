// Over two weft hosts, the underlay as the kernel's VXLAN would put it on the wire (issue 11):
// `ping -Q 2` (ECT(0)) leaves with outer ECN ECT(0), DF = 0 and a UDP checksum;
// a container whose MTU is larger than the overlay's gets ICMP "fragmentation needed" with MTU
// 1450, and its kernel lowers its path MTU, so TCP from it recovers instead of stalling; an underlay
// that marks CE reaches ECT inner packets and drops Not-ECT ones; `--df inherit` follows each packet.

import assert from "node:assert/strict";
import { pingDf, tcpTransfer, twoWeftHosts } from "../../cli/lab/mod.ts";
import { VXLAN_PORT } from "../../cli/defaults.ts";
import { capture, labTest, tsharkFields } from "../harness.ts";

/** Outer fields of the VXLAN packets in `file` that carry an ICMP echo request (first occurrence: the outer header). */
function outerOfEchoes(file: string): Promise<string[][]> {
  return tsharkFields(file, ["vxlan.vni", "ip.dsfield.ecn", "ip.flags.df", "udp.checksum"], {
    filter: "vxlan && icmp.type == 8",
    occurrence: "f",
  });
}

labTest(
  "two weft hosts on VNI 0: ping -Q 2 leaves with outer ECN ECT(0), DF 0 and a UDP checksum, as the kernel's VXLAN",
  {},
  async (lab) => {
    // VNI 0 on both hosts: valid to RFC 7348 and the kernel (`id 0`); the last --vni wins.
    const { c1 } = await twoWeftHosts(lab, ["--vni", "0"]);
    const h1 = `${lab.prefix}h1`;
    const file = lab.tempPath("underlay.pcap");
    const dump = await capture(lab, h1, `${lab.prefix}u1`, file, ["udp", "port", String(VXLAN_PORT)]);
    const ping = await lab.exec(c1, ["ping", "-Q", "2", "-c", "3", "-i", "0.2", "-W", "2", "10.0.0.2"]);
    assert.equal(ping.code, 0, `ping -Q 2 failed:\n${ping.stdout}${ping.stderr}`);
    const plain = await lab.exec(c1, ["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.0.0.2"]);
    assert.equal(plain.code, 0);
    await dump.stop();
    const rows = await outerOfEchoes(file);
    assert.equal(rows.length, 5, `5 echo requests on the underlay: ${JSON.stringify(rows)}`);
    // Captured on the sending host the checksum is the partial one the veth still owes (as in
    // fixture kernel-vxlan-vni42): present, not zero; pcap encap's is verified in tests/core.
    assert.ok(rows.every((r) => r[0] === "0"), `VNI 0 on the wire: ${JSON.stringify(rows)}`);
    const outer = rows.map(([, ecn, df, csum]) => [ecn, df, csum !== "0x0000"]);
    assert.deepEqual(outer.slice(0, 3), Array(3).fill(["2", "0", true]), "ECT(0), DF 0, a UDP checksum");
    assert.deepEqual(outer.slice(3), Array(2).fill(["0", "0", true]), "Not-ECT stays Not-ECT");
  },
);

labTest(
  "a container with MTU 1500 on a 1450 overlay gets ICMP frag-needed (mtu 1450); ping and TCP then fit",
  {},
  async (lab) => {
    const { c1, v1 } = await twoWeftHosts(lab, []);
    // The wrong MTU of moby/libnetwork#2661: the container's link says 1500, the overlay carries 1450.
    await lab.exec(c1, ["ip", "link", "set", "dev", `${lab.prefix}t1`, "mtu", "1500"], { check: true });
    const first = await pingDf(lab, c1, "10.0.0.2", 1472, { count: 1, waitS: 2 });
    assert.notEqual(first.code, 0, "a 1500-byte packet with DF does not cross a 1450 overlay");
    assert.match(
      first.stdout + first.stderr,
      /mtu\s*=\s*1450/i,
      `ICMP frag-needed with MTU 1450:\n${first.stdout}`,
    );
    const route = await lab.exec(c1, ["ip", "route", "get", "10.0.0.2"]);
    assert.match(route.stdout, /mtu 1450/, `c1's kernel learned the path MTU:\n${route.stdout}`);
    const fits = await pingDf(lab, c1, "10.0.0.2", 1422, { waitS: 2 });
    assert.equal(fits.code, 0, `1450 bytes pass:\n${fits.stdout}`);
    // TCP from c1 starts with MSS 1460 (TSO super-frames the core cannot cut to 1450): it recovers.
    const tcp = await tcpTransfer(lab, c1, `${lab.prefix}c2`, "10.0.0.2", {
      bytes: "5M",
      timeoutMs: 30000,
    });
    assert.ok(tcp.gbps > 0);
    const c = (await v1.stats()).vnis[0].counters;
    assert.ok(c.pmtu_icmp >= 1, JSON.stringify(c));
    assert.ok(c.dropped.over_mtu >= 1);
  },
);

labTest(
  "an underlay that marks CE: ECT pings arrive marked CE, Not-ECT ones are dropped as ecn_not_ect (RFC 6040 §4.2)",
  {},
  async (lab) => {
    const { c1, c2, v2 } = await twoWeftHosts(lab, []);
    const warm = await lab.exec(c1, ["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.0.0.2"]);
    assert.equal(warm.code, 0, `c1 → c2 before any marking:\n${warm.stdout}`);
    // h2's netfilter marks every arriving VXLAN datagram CE, as a congested router would.
    const h2 = `${lab.prefix}h2`, table = `${lab.prefix}ecn`;
    await lab.exec(h2, ["nft", "add", "table", "ip", table], { check: true });
    await lab.exec(h2, [
      "nft",
      "add",
      "chain",
      "ip",
      table,
      "pre",
      "{ type filter hook prerouting priority -150; }",
    ], {
      check: true,
    });
    await lab.exec(h2, [
      "nft",
      "add",
      "rule",
      "ip",
      table,
      "pre",
      "udp",
      "dport",
      "4789",
      "ip",
      "ecn",
      "set",
      "ce",
    ], {
      check: true,
    });
    const file = lab.tempPath("c2.pcap");
    const dump = await capture(lab, c2, `${lab.prefix}t2`, file, ["icmp"]);
    const ect = await lab.exec(c1, ["ping", "-Q", "2", "-c", "3", "-i", "0.2", "-W", "2", "10.0.0.2"]);
    assert.equal(ect.code, 0, `ECT(0) pings cross a CE-marking underlay:\n${ect.stdout}`);
    const notEct = await lab.exec(c1, ["ping", "-c", "2", "-i", "0.2", "-W", "1", "10.0.0.2"]);
    assert.notEqual(notEct.code, 0, "Not-ECT pings under an outer CE are dropped");
    await dump.stop();
    const ecn = (await tsharkFields(file, ["ip.dsfield.ecn"], { filter: "icmp.type == 8" })).map(([e]) => e);
    assert.deepEqual(ecn, ["3", "3", "3"], "c2 saw the 3 ECT(0) requests marked CE, and no Not-ECT one");
    const c = (await v2.stats()).vnis[0].counters;
    // The 2 pings, and any IPv6 ND/MLD chatter of c1 (Not-ECT too) that crossed meanwhile.
    assert.ok(c.dropped.ecn_not_ect >= 2, JSON.stringify(c.dropped));
    assert.ok(c.ecn_ce_marked >= 3, `ecn_ce_marked ${c.ecn_ce_marked}`);
  },
);

labTest(
  "weft vtep --df inherit: the outer DF follows the inner packet's (ping -M do / -M dont), per datagram",
  {},
  async (lab) => {
    const { c1 } = await twoWeftHosts(lab, ["--df", "inherit"]);
    const h1 = `${lab.prefix}h1`;
    const file = lab.tempPath("inherit.pcap");
    const dump = await capture(lab, h1, `${lab.prefix}u1`, file, ["udp", "port", String(VXLAN_PORT)]);
    for (const mode of ["do", "dont", "do"]) {
      const r = await lab.exec(c1, ["ping", "-M", mode, "-c", "2", "-i", "0.2", "-W", "2", "10.0.0.2"]);
      assert.equal(r.code, 0, `ping -M ${mode}:\n${r.stdout}${r.stderr}`);
    }
    await dump.stop();
    const df = (await outerOfEchoes(file)).map((f) => f[2]);
    assert.deepEqual(df, ["1", "1", "0", "0", "1", "1"], "outer DF as each inner packet asked");
  },
);
