// Issue #13, Hostile: random datagrams on the ESP port never crash a node. In namespaces (root):
// two hosts, an encrypted network with a container on each; a plain process in h2's namespace
// (not weft) sends FLOOD random datagrams to h1's ESP port, every other one with one of h1's real
// inbound SPIs (`weft esp sa`) and random bytes after it. Then h1's daemon still answers, the
// containers still reach each other, every junk datagram is counted once in the node's or the
// network's ESP counters, and none of them decrypted. The unit-level property of the same path
// is tests/esp/esp_path_property_test.ts.
import assert from "node:assert/strict";
import { DENO, ROOT, sh, waitFor } from "../../cli/lab/mod.ts";
import { ESP_PORT } from "../../cli/esp/port.ts";
import { labTest } from "../harness.ts";
import { ESP_TEST, espOf, patternPing, secretPair, stats, swarm } from "./esp_lab.ts";

const FLOOD = 3000;

/** Every counter a datagram arriving on the ESP port moves exactly once (decrypted aside). */
function junkCounted(s: any, vni: number): number {
  const c = espOf(s, vni).counters;
  return s.espNode.unknown_spi + s.espNode.misdirected + c.auth_failed + c.replayed + c.esp_malformed;
}

labTest(
  `esp port flood: ${FLOOD} random datagrams (half with real SPIs) crash nothing, each is counted once, none decrypts`,
  ESP_TEST,
  async (lab) => {
    await swarm(lab, 2);
    const [h1, h2] = lab.hosts;
    const { a1, a2, vni } = await secretPair(lab);
    // h1's inbound SAs: the lines of `weft esp sa` whose destination is h1 (Wireshark's esp_sa UAT).
    const sa = (await lab.weft(h1, ["esp", "sa"])).stdout.trim().split("\n").map((l) => JSON.parse(`[${l}]`));
    const spis = sa.filter((f) => f[2] === h1.addr).map((f) => String(f[3]).replace(/^0x/, ""));
    assert.ok(spis.length >= 1, `h1's inbound SAs: ${JSON.stringify(sa)}`);

    const before = await stats(lab, h1);
    const r = await sh([
      "ip",
      "netns",
      "exec",
      h2.ns,
      DENO,
      "run",
      "-A",
      "--unstable-net",
      `${ROOT}tests/esp/esp_flood_send.ts`,
      h2.addr,
      h1.addr,
      String(ESP_PORT),
      String(FLOOD),
      spis.join(","),
    ]);
    const { sent } = JSON.parse(r.stdout);
    assert.equal(sent, FLOOD, "the sender sent them all in time");

    // The daemon still answers, and accounts for every datagram (the kernel dropped none).
    const want = junkCounted(before, vni) + FLOOD;
    const after = await waitFor(`${FLOOD} junk datagrams counted`, async () => {
      const s = await stats(lab, h1);
      return junkCounted(s, vni) >= want ? s : undefined;
    }, 20000, 200);
    await new Promise((r) => setTimeout(r, 300));
    const settled = await stats(lab, h1);
    assert.equal(junkCounted(settled, vni), want, "each junk datagram in exactly one counter");
    assert.equal(junkCounted(after, vni), want);
    const b = espOf(before, vni).counters, a = espOf(settled, vni).counters;
    assert.equal(a.decrypted, b.decrypted, "nothing decrypted from junk");
    assert.equal(settled.espNode.misdirected, before.espNode.misdirected, "nothing verified");
    assert.ok(
      settled.espNode.unknown_spi - before.espNode.unknown_spi >= FLOOD / 2 - 1,
      "the random half: unknown SPIs",
    );
    assert.ok(a.auth_failed - b.auth_failed > 0, "the half with real SPIs reached the SA and failed its ICV");

    // The overlay still works both ways, and its datagrams still verify.
    for (const [from, to] of [[a2, "10.0.0.2"], [a1, "10.0.0.3"]]) {
      const p = await patternPing(lab, from, to);
      assert.match(p.stdout, / 0% packet loss/, p.stdout);
    }
    const last = await stats(lab, h1);
    assert.ok(espOf(last, vni).counters.decrypted >= a.decrypted + 5, "pings decrypted after the flood");
    assert.equal((await lab.weft(h1, ["node", "ls"])).code, 0);
  },
);
