// The bundle (build/weft-core.mjs, .wasm embedded) runs in plain Node 20 and forwards a real
// frame: the first ICMP echo request of the Linux kernel capture, encapsulated for VNI 42.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createCore } from "../../build/weft-core.mjs";
import { PORT_UNDERLAY_ETH, readPcap } from "../../build/weft-core.mjs";

const fixtures = new URL("../../../shared/fixtures/kernel-vxlan-vni42/", import.meta.url);

test("the bundled core encapsulates a kernel-captured frame exactly as the kernel did", async () => {
  const inner = readPcap(readFileSync(new URL("inner.pcap", fixtures))).packets;
  const outer = readPcap(readFileSync(new URL("outer.pcap", fixtures))).packets;
  const core = await createCore();
  core.addVni(42);
  core.attachPort(0, 42);
  core.addFlood(42, core.addVtep("198.18.0.2"));
  // Pick an outer packet sent by h1 whose VXLAN payload is a frame c1 sent (inner.pcap).
  const ping = inner.find((p) =>
    p.data[12] === 0x08 && p.data[13] === 0x00 && p.data[23] === 1 && p.data[34] === 8
  );
  assert.ok(ping, "the capture holds an ICMP echo request from c1");
  const wire = outer.find((p) => Buffer.from(p.data.subarray(50)).equals(Buffer.from(ping.data)));
  assert.ok(wire, "the kernel's outer capture carries that frame");
  core.load(0, ping.data, 0);
  assert.equal(core.process(1, 1), 1);
  const sent = core.txBytes(0);
  assert.deepEqual(
    Buffer.from(sent),
    Buffer.from(wire.data.subarray(42)),
    "VXLAN header + frame, byte for byte",
  );
});

test("the bundled core decapsulates a kernel-captured VXLAN packet to the frame c1 received", async () => {
  const outer = readPcap(readFileSync(new URL("outer.pcap", fixtures))).packets;
  const core = await createCore();
  core.addVni(42, { learning: false });
  core.attachPort(0, 42);
  const fromH2 = outer.find((p) => p.data[26] === 198 && p.data[29] === 2);
  core.load(0, fromH2.data, PORT_UNDERLAY_ETH);
  assert.equal(core.process(1, 1), 1);
  assert.equal(core.verdict(0), 0);
  assert.deepEqual(Buffer.from(core.txBytes(0)), Buffer.from(fromH2.data.subarray(50)));
});
