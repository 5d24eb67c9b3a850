// The capture path from the bundle, as the browser page and Node use it: readCapture() and
// decapsulate() from build/weft-core.mjs, with the core the bundle embeds.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { createCore, decapsulate, PcapWriter, readCapture, readPcap } from "../../build/weft-core.mjs";

const cases = new URL("../../../shared/fixtures/field-cases/", import.meta.url);

test("the bundle reads an SLL2 capture and IPv6 outer fragments and decapsulates them as the CLI does", async () => {
  const expected = readFileSync(new URL("sll2-any/inner-expected.hex", cases), "utf8").trim();
  const reference = readPcap(readFileSync(new URL("outer-fragments/reference-unfragmented.pcap", cases)));
  const frames = [];
  for (const file of ["sll2-any/any-sll2.pcap", "outer-fragments/outer-ipv6-fragments.pcap"]) {
    const capture = readCapture(readFileSync(new URL(file, cases)));
    const summary = await decapsulate(
      capture.packets,
      { ports: [4789], mtu: 1500 },
      (_p, frame, origLen) => frames.push([Buffer.from(frame).toString("hex"), origLen]),
      (config) => createCore(config),
    );
    assert.equal(summary.vnis.get(42).decapsulated, 1, file);
  }
  assert.equal(frames[0][0], expected);
  const ref = reference.packets[0].data;
  assert.equal(frames[1][0], Buffer.from(ref.subarray(ref.length - 1514)).toString("hex"));
  assert.equal(frames[1][1], 1514);
});

test("the bundle's PcapWriter keeps the nanoseconds of a pcapng with if_tsresol 9", () => {
  const capture = readCapture(readFileSync(new URL("pcapng/capture-ns.pcapng", cases)));
  assert.equal(capture.nanos, true);
  const w = new PcapWriter(1, 262144, { nanos: true });
  for (const p of capture.packets) w.writeAt(p.seconds, p.nanos, p.data, p.origLen);
  assert.deepEqual(readPcap(w.bytes()).packets.map((p) => p.nanos), capture.packets.map((p) => p.nanos));
});
