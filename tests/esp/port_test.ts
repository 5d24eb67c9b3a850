// The swarm's ESP port (cli/esp/port.ts) and the node-wide ESP counters: the rule `weft swarm init
// --esp-port` follows, and an unknown SPI moving the node's counter and no SA's; then, in
// namespaces (root), two hosts on a non-default ESP port end to end.
import assert from "node:assert/strict";
import { ESP_PORT, ESP_PORT_MAX, ESP_PORT_MIN, espPortProblem } from "../../cli/esp/port.ts";
import { ESP_HEADROOM, espCounters, EspInbound, EspOutbound } from "../../cli/esp/esp.ts";
import { InboundSad } from "../../cli/esp/sad.ts";
import { addressOf } from "../../cli/sys/libc.ts";
import { formatStats } from "../../cli/commands/stats.ts";
import { tsharkHint } from "../../cli/commands/esp.ts";
import type { StatsReply } from "../../cli/dataplane/protocol.ts";
import { type Host, sh, waitFor } from "../../cli/lab/mod.ts";
import { labTest, tsharkFields } from "../harness.ts";
import {
  assertNoPattern,
  capturePackets,
  ESP_TEST,
  espDecode,
  espOf,
  PATTERN,
  patternPing,
  secretPair,
  sendFrom,
  startHosts,
  stats,
} from "./esp_lab.ts";

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

// ── in namespaces (root) ──────────────────────────────────────────────────────────────────────

/** POST to a lab daemon's API, bypassing the CLI's own checks: the daemon must refuse too. */
async function post(h: Host, path: string, body: unknown): Promise<{ status: number; text: string }> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: h.sock } } as any);
  try {
    const r = await fetch(`http://weft/v1${path}`, {
      method: "POST",
      body: JSON.stringify(body),
      headers: { "content-type": "application/json" },
      client,
    } as RequestInit);
    return { status: r.status, text: await r.text() };
  } finally {
    client.close();
  }
}

labTest(
  "esp port: a swarm on --esp-port 4600 sends ESP there and nothing on 4500; bad ports refused, nothing changed; an unknown SPI counts node-wide",
  ESP_TEST,
  async (lab) => {
    const [h1, h2] = await startHosts(lab, 2);
    const init = ["swarm", "init", "--advertise-addr", h1.addr];
    for (
      const [flags, why] of [
        [["--esp-port", "80"], /^error: --esp-port must be in 1024\.\.49151, got "80"\n$/],
        [["--esp-port", "65000"], /^error: --esp-port must be in 1024\.\.49151, got "65000"\n$/],
        [
          ["--esp-port", "4789"],
          /^error: --esp-port must differ from the data path port \(VXLAN\), both are 4789\n$/,
        ],
        [
          ["--data-path-port", "5000", "--esp-port", "5000"],
          /^error: --esp-port must differ from the data path port \(VXLAN\), both are 5000\n$/,
        ],
      ] as [string[], RegExp][]
    ) {
      const r = await lab.weft(h1, [...init, ...flags], false);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, why);
    }
    // The daemon's own check, for callers of the API.
    const api = await post(h1, "/swarm/init", { advertiseAddr: h1.addr, espPort: 4789 });
    assert.equal(api.status, 400, api.text);
    assert.match(api.text, /--esp-port must differ from the data path port/);
    // Nothing changed: no swarm, no ESP socket; a valid init then succeeds (a second one is a 409).
    const ls = await lab.weft(h1, ["node", "ls"], false);
    assert.notEqual(ls.code, 0);
    assert.match(ls.stderr, /not (part of )?a swarm|not a manager/i);
    const sockets = async (h: Host) =>
      (await sh(["ip", "netns", "exec", h.ns, "ss", "-Hnlu"])).stdout.split("\n")
        .map((l) => l.trim().split(/\s+/)[3]).filter(Boolean);
    assert.deepEqual(await sockets(h1), []);

    await lab.formSwarm(lab.hosts, ["--esp-port", "4600"]);
    // Keys and secrets rest in the state dirs (docs/encryption.md): root's only.
    const mode = (p: string) => (Deno.statSync(p).mode! & 0o777).toString(8);
    for (
      const [p, m] of [
        [h1.stateDir, "700"],
        [`${h1.stateDir}/store.jsonl`, "600"],
        [`${h1.stateDir}/daemon.json`, "600"],
        [h1.sock, "600"],
        [h2.stateDir, "700"],
        [`${h2.stateDir}/daemon.json`, "600"],
        [h2.sock, "600"],
      ]
    ) {
      assert.equal(mode(p), m, p);
    }
    for (const h of lab.hosts) {
      const s = await sockets(h);
      assert.ok(s.includes(`${h.addr}:4600`), `${h.name} listens on 4600: ${s}`);
      assert.ok(!s.some((a) => a.endsWith(":4500")), `${h.name} has no socket on 4500: ${s}`);
    }
    const { a1, a2, vni } = await secretPair(lab);

    const file = `${lab.dir}/underlay.pcap`;
    const cap = await capturePackets(lab, h1.ns, file);
    const [p1, p2] = [await patternPing(lab, a1, "10.0.0.3"), await patternPing(lab, a2, "10.0.0.2")];
    await cap.stop(); // once the file has stopped growing
    assert.match(p1.stdout, / 0% packet loss/, p1.stdout);
    assert.match(p2.stdout, / 0% packet loss/, p2.stdout);
    assertNoPattern(file);
    const ports = (await tsharkFields(file, ["udp.srcport", "udp.dstport"], { args: ["-n"] })).map((r) =>
      r.map(Number)
    );
    const between = ports.filter(([s, d]) => s !== 2377 && d !== 2377); // not the control plane
    assert.ok(
      between.filter(([, d]) => d === 4600).length >= 20,
      `ESP on 4600: ${JSON.stringify(between)}`,
    );
    assert.deepEqual(
      between.filter(([s, d]) => s === 4500 || d === 4500 || d === 4789),
      [],
      "nothing on 4500 or 4789",
    );

    // `weft esp sa` says how tshark decodes 4600; with that and the SAs, every datagram opens.
    const sa = await Promise.all(lab.hosts.map((h) => lab.weft(h, ["esp", "sa"])));
    for (const r of sa) assert.equal(r.stderr.trim(), tsharkHint(4600));
    const decode = /tshark (-d \S+)/.exec(sa[0].stderr)![1].split(" ");
    const sas = sa.flatMap((r) => r.stdout.trim().split("\n"));
    const tshark = (more: string[]) =>
      tsharkFields(file, ["vxlan.vni", "icmp.type", "data.data"], {
        filter: "udp.dstport == 4600",
        args: espDecode(sas, more),
      });
    const rows = await tshark(decode);
    assert.equal(rows.length, between.filter(([, d]) => d === 4600).length);
    for (const r of rows) assert.equal(Number(r[0]), vni, `decrypted VNI in ${r}`);
    const pings = rows.filter((r) => r[1] === "8" || r[1] === "0");
    assert.ok(
      pings.length >= 20 && pings.every((r) => r[2].includes(PATTERN.repeat(4))),
      JSON.stringify(rows),
    );
    // Without the hint tshark sees plain UDP: the hint is what makes the difference.
    const blind = await tshark([]);
    assert.ok(blind.every((r) => r[0] === ""), "tshark decodes port 4600 as ESP on its own?");

    // A datagram of an SPI no SA has, from a process on h2: the node's counter, no network's.
    const before = await stats(lab, h1);
    const spi = 0x7000_0000 + Math.floor(Math.random() * 0x0fff_ffff);
    await sendFrom(h2, h1.addr, 4600, [spi.toString(16).padStart(8, "0") + "00000001" + "ab".repeat(40)]);
    const after = await waitFor("unknown_spi +1", async () => {
      const s = await stats(lab, h1);
      return s.espNode.unknown_spi > before.espNode.unknown_spi ? s : undefined;
    });
    assert.equal(after.espNode.unknown_spi, before.espNode.unknown_spi + 1);
    assert.deepEqual(espOf(after, vni).counters, espOf(before, vni).counters, "a network's counters moved");
    const text = (await lab.weft(h1, ["stats"])).stdout;
    assert.match(
      text,
      new RegExp(`^ESP node \\(no network\\)\\n {2}unknown_spi +${after.espNode.unknown_spi} `, "m"),
    );
  },
);
