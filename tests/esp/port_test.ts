// The swarm's ESP port (cli/esp/port.ts) and the node-wide ESP counters: the rule `weft swarm init
// --esp-port` follows, and an unknown SPI moving the node's counter and no SA's. No root needed.
import assert from "node:assert/strict";
import { ESP_PORT, ESP_PORT_MAX, ESP_PORT_MIN, espPortProblem } from "../../cli/esp/port.ts";
import { ESP_HEADROOM, espCounters, EspInbound, EspOutbound } from "../../cli/esp/esp.ts";
import { InboundSad } from "../../cli/esp/sad.ts";
import { addressOf } from "../../cli/sys/libc.ts";
import { formatStats } from "../../cli/commands/stats.ts";
import { tsharkHint } from "../../cli/commands/esp.ts";
import type { StatsReply } from "../../cli/dataplane/protocol.ts";

const VXLAN_PORT = 4789;

Deno.test("esp port: Docker's data-path-port range, and never the VXLAN port", () => {
  assert.equal(espPortProblem(ESP_PORT, VXLAN_PORT), undefined);
  assert.equal(espPortProblem("4600", VXLAN_PORT), undefined);
  assert.equal(espPortProblem(ESP_PORT_MIN, VXLAN_PORT), undefined);
  assert.equal(espPortProblem(ESP_PORT_MAX, VXLAN_PORT), undefined);
  for (const bad of [ESP_PORT_MIN - 1, ESP_PORT_MAX + 1, 0, -1, 4600.5, "80", "4600x", "", "0x1200", null]) {
    assert.equal(
      espPortProblem(bad, VXLAN_PORT),
      `--esp-port must be in ${ESP_PORT_MIN}..${ESP_PORT_MAX}, got "${bad}"`,
      String(bad),
    );
  }
  assert.equal(
    espPortProblem("4789", VXLAN_PORT),
    "--esp-port must differ from the data path port (VXLAN), both are 4789",
  );
  assert.equal(
    espPortProblem(5000, 5000),
    "--esp-port must differ from the data path port (VXLAN), both are 5000",
  );
  assert.equal(espPortProblem(4789, 5000), undefined, "4789 is free when VXLAN is elsewhere");
});

Deno.test("esp port: `weft esp sa` tells how tshark decodes another port (udpencap, as on 4500)", () => {
  assert.equal(
    tsharkHint(4600),
    "# ESP in UDP is on port 4600 in this swarm: tshark -d udp.port==4600,udpencap",
  );
});

Deno.test("sad: a datagram of an unknown SPI counts node-wide; no SA's counters move", () => {
  const keymat = Uint8Array.from({ length: 20 }, (_, i) => i + 1);
  const counters = espCounters();
  const sad = new InboundSad();
  sad.add(new EspInbound(0x1000, keymat, counters));
  const out = new EspOutbound(0x2000, keymat, espCounters()); // an SPI this node has no SA for
  const bytes = new Uint8Array(512);
  const mem = new DataView(bytes.buffer);
  const ptr = BigInt(addressOf(bytes));
  try {
    bytes.fill(0x5a, 128, 128 + 64);
    const len = out.seal(mem, ptr, 128, 64, 50000, VXLAN_PORT);
    assert.ok(len > 0);
    const before = JSON.stringify(counters);
    assert.equal(sad.open(mem, ptr, 128 - ESP_HEADROOM, len), "unknown_spi");
    assert.equal(sad.open(mem, ptr, 0, 7), "unknown_spi", "too short to carry an SPI");
    assert.equal(sad.unknownSpi, 2);
    assert.equal(JSON.stringify(counters), before);
    assert.ok(!("unknown_spi" in counters), "no per-network unknown_spi to mislead");
  } finally {
    out.free();
    sad.clear();
  }
});

Deno.test("stats: the node-wide ESP block is printed once, apart from the networks'", () => {
  const s = {
    vnis: [],
    global: { dropped: {} },
    ports: [],
    vteps: [],
    io: { rx: 0 },
    fdb: { used: 0, capacity: 1 },
    esp: [{ vni: 4096, counters: espCounters(), sending: true, inbound: 1 }],
    espNode: { unknown_spi: 7, misdirected: 0 },
  } as unknown as StatsReply;
  const text = formatStats(s);
  assert.match(text, /^ESP node \(no network\)\n {2}unknown_spi +7 +no inbound SA with that SPI/m);
  assert.match(text, /^ESP VNI 4096 /m);
  assert.equal(text.match(/unknown_spi/g)!.length, 1);
});
