// weft against the Linux kernel's VXLAN (drivers/net/vxlan) on the same wire: h1 runs vx0 in a
// bridge with c1's veth, h2 runs weft. (bench:e2e measures kernel ↔ kernel for reference.)

import assert from "node:assert/strict";
import { kernelVtep, macOf, tcpTransfer, twoHosts, vtepFor, weft } from "../../cli/lab/mod.ts";
import { capture, labTest, tsharkFields } from "../harness.ts";

labTest("weft vtep interoperates with the kernel's vxlan both ways", {}, async (lab) => {
  const { h1, h2, c1, c2 } = await twoHosts(lab);
  // Weft is the peer: vx0 must put real checksums on the wire (see kernelVtep).
  await kernelVtep(lab, h1, c1, "198.18.0.1", "198.18.0.2", "10.0.0.1/24", { txChecksum: false });
  const t2 = `${lab.prefix}t2`;
  const pcap = lab.tempPath("underlay.pcap");
  const dump = await capture(lab, h2, `${lab.prefix}u2`, pcap, ["udp", "and", "src", "198.18.0.2"]);
  const v2 = await vtepFor(lab, h2, c2, "t2", "10.0.0.2/24", "198.18.0.2", "198.18.0.1");
  await new Promise((r) => setTimeout(r, 300));

  const p21 = await lab.exec(c2, ["ping", "-c", "3", "-i", "0.2", "-W", "1", "10.0.0.1"]);
  assert.equal(p21.code, 0, `weft → kernel ping failed:\n${p21.stdout}`);
  const p12 = await lab.exec(c1, ["ping", "-c", "3", "-i", "0.2", "-W", "1", "10.0.0.2"]);
  assert.equal(p12.code, 0, `kernel → weft ping failed:\n${p12.stdout}`);
  const toWeft = await tcpTransfer(lab, c1, c2, "10.0.0.2");
  const toKernel = await tcpTransfer(lab, c2, c1, "10.0.0.1");
  const gbps = (r: { gbps: number }) => r.gbps.toFixed(2);
  console.log(`kernel→weft: 20 MB TCP ${gbps(toWeft)} Gbit/s; weft→kernel ${gbps(toKernel)} Gbit/s`);
  const s2 = (await weft(["stats", "--control", v2.control, "--json"])).stdout;
  const c = JSON.parse(s2).vnis[0].counters;
  // weft's TAP handed it TSO super-frames; the kernel got plain MTU-sized VXLAN datagrams.
  assert.ok(c.gso_frames > 0, `weft cut super-frames for the kernel: ${s2.slice(0, 300)}`);
  await dump.stop();

  const fields = ["vxlan.flags", "vxlan.vni", "udp.srcport", "tcp.srcport", "tcp.dstport"];
  const rows = (await tsharkFields(pcap, fields, { filter: "vxlan" })).map((r) => r.join("\t"));
  assert.ok(rows.length > 0, "tshark decoded no VXLAN from weft");
  // RFC 7348 §5: the outer source port carries a hash of the inner flow, as the kernel's does:
  // one port per TCP connection, and not one port for all of them.
  const portOf = new Map<string, Set<string>>();
  for (const r of rows) {
    const [flags, vni, sport, tsrc, tdst] = r.split("\t");
    assert.match(`${flags}\t${vni}`, /^0x0*800\t42$/, `weft's VXLAN header as tshark reads it: ${r}`);
    if (!tsrc) continue;
    const flow = `${tsrc}-${tdst}`;
    portOf.set(flow, (portOf.get(flow) ?? new Set()).add(sport));
  }
  assert.ok(portOf.size >= 2, `TCP flows seen: ${[...portOf.keys()]}`);
  for (const [flow, ports] of portOf) {
    assert.equal(ports.size, 1, `flow ${flow} left from ports ${[...ports]}`);
  }
  const used = new Set([...portOf.values()].map((p) => [...p][0]));
  assert.ok(used.size >= 2, `different flows, different source ports: ${[...used]}`);

  const mac = macOf((await lab.exec(c2, ["ip", "link", "show", t2], { check: true })).stdout);
  const kfdb = (await lab.exec(h1, ["bridge", "fdb", "show", "dev", "vx0"], { check: true })).stdout;
  assert.match(kfdb, new RegExp(`^${mac} dst 198\\.18\\.0\\.2 `, "m"), `kernel learned ${mac}:\n${kfdb}`);
});
