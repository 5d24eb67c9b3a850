// weft over an IPv6 underlay: 2001:2::/48 (RFC 5180's benchmarking range, the IPv6 sibling of
// 198.18.0.0/15) between two host namespaces. (Over IPv6 the outer UDP checksum is mandatory; the
// kernel's socket fills it — a capture on a veth shows it still partial, so it is not checked here.)

import assert from "node:assert/strict";
import { tcpTransfer, vtepFor } from "../../cli/lab/mod.ts";
import { capture, labTest, tsharkFields } from "../harness.ts";

labTest(
  "weft vtep over an IPv6 underlay: ping, TCP both ways with offloads, tshark decodes VXLAN over IPv6",
  {},
  async (lab) => {
    const h1 = await lab.netns("h1"), h2 = await lab.netns("h2");
    const c1 = await lab.netns("c1"), c2 = await lab.netns("c2");
    await lab.veth(h1, `${lab.prefix}u1`, undefined, h2, `${lab.prefix}u2`, undefined);
    for (const [ns, dev, addr] of [[h1, "u1", "2001:2::1/64"], [h2, "u2", "2001:2::2/64"]]) {
      // nodad: the address is usable at once instead of after duplicate detection.
      await lab.exec(ns, ["ip", "addr", "add", addr, "dev", `${lab.prefix}${dev}`, "nodad"], {
        check: true,
      });
    }
    const pcap = lab.tempPath("underlay6.pcap");
    const dump = await capture(lab, h2, `${lab.prefix}u2`, pcap, ["-s", "200", "-c", "200", "ip6 and udp"]);
    await vtepFor(lab, h1, c1, "t1", "10.0.0.1/24", "[2001:2::1]:4789", "[2001:2::2]:4789");
    await vtepFor(lab, h2, c2, "t2", "10.0.0.2/24", "[2001:2::2]:4789", "[2001:2::1]:4789");

    const ping = await lab.exec(c1, ["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.0.0.2"]);
    assert.equal(ping.code, 0, `c1 → c2 over IPv6: ${ping.stdout}${ping.stderr}`);
    // The default MTU leaves room for the 20 bytes more of an IPv6 outer header: 1500 − 70.
    const full = await lab.exec(c1, ["ping", "-M", "do", "-s", "1402", "-c", "1", "-W", "2", "10.0.0.2"]);
    assert.equal(full.code, 0, `a 1430-byte packet with DF passes: ${full.stdout}${full.stderr}`);
    const mtu = await lab.exec(c1, ["cat", `/sys/class/net/${lab.prefix}t1/mtu`]);
    assert.equal(mtu.stdout.trim(), "1430");
    const there = await tcpTransfer(lab, c1, c2, "10.0.0.2");
    const back = await tcpTransfer(lab, c2, c1, "10.0.0.1");
    console.log(`weft over IPv6: 20 MB TCP ${there.gbps.toFixed(2)} / ${back.gbps.toFixed(2)} Gbit/s`);
    await dump.stop();

    const fields = ["ipv6.src", "ipv6.dst", "udp.dstport", "vxlan.vni", "vxlan.flags"];

    const rows = (await tsharkFields(pcap, fields, { filter: "vxlan" })).map((r) => r.join("\t"));

    assert.ok(rows.length > 0, "tshark decoded no VXLAN over IPv6");
    const ends = new Set<string>();
    for (const r of rows) {
      // Outer first; an inner IPv6 packet (neighbour discovery) adds its addresses after a comma.
      const [src, dst, port, vni, flags] = r.split("\t").map((f) => f.split(",")[0]);
      ends.add(`${src} → ${dst}`);
      assert.deepEqual([port, vni, flags], ["4789", "42", "0x0800"], r);
    }
    assert.deepEqual([...ends].sort(), ["2001:2::1 → 2001:2::2", "2001:2::2 → 2001:2::1"]);
  },
);
