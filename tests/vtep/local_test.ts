// One vtep with two TAPs switches between them locally (port ids 0 and 1), no peer needed, and
// --pcap records the frames it handles in a file tshark reads.

import assert from "node:assert/strict";
import { loneHost } from "../../cli/lab/mod.ts";
import { labTest, tsharkFields } from "../harness.ts";

labTest("two --tap ports in one vtep switch locally; --pcap records the frames", {}, async (lab) => {
  const h1 = await loneHost(lab, "h1", "198.18.0.1"),
    c1 = await lab.netns("c1"),
    c2 = await lab.netns("c2");
  const pcap = lab.tempPath("inner.pcap");
  const a = `${lab.prefix}a`, b = `${lab.prefix}b`;
  const v = await lab.vtep(h1, [
    "--vni",
    "7",
    "--listen",
    "198.18.0.1",
    "--tap",
    a,
    "--netns",
    c1,
    "--address",
    "10.0.0.1/24",
    "--tap",
    b,
    "--netns",
    c2,
    "--address",
    "10.0.0.2/24",
    "--pcap",
    pcap,
  ]);
  const p = await lab.exec(c1, ["ping", "-c", "3", "-i", "0.2", "-W", "1", "10.0.0.2"]);
  assert.equal(p.code, 0, `c1 → c2 through one vtep: ${p.stdout}`);
  const s = await v.stats();
  assert.ok(s.ports[0].rx_frames >= 3 && s.ports[1].tx_frames >= 3, JSON.stringify(s.ports));
  assert.equal(s.vnis[0].counters.encap, 0, "nothing left the host");

  const rows = (await tsharkFields(pcap, ["ip.src", "ip.dst", "icmp.type"], { filter: "icmp" }))
    .map((r) => r.join("\t"));
  assert.ok(
    rows.filter((r) => r === "10.0.0.1\t10.0.0.2\t8").length >= 3,
    `echo requests in the pcap: ${rows.join("\n")}`,
  );
  assert.ok(rows.filter((r) => r === "10.0.0.2\t10.0.0.1\t0").length >= 3, "echo replies in the pcap");
  const arp = await tsharkFields(pcap, ["arp.opcode"], { filter: "arp" });
  assert.ok(arp.length > 0, "ARP in the pcap");
});
