// End to end, in namespaces: three hosts on one encrypted network. Ping and iperf3 TCP both ways
// between each pair; the underlay holds neither the ping's pattern nor a UDP 4789 datagram; tshark,
// given `weft esp sa` from each host, decrypts every ESP datagram to a frame byte-equal to one a
// container sent; cleartext VXLAN for the VNI from the third host's processes reaches no
// container and is counted. Needs root.

import assert from "node:assert/strict";
import { readPcap } from "../../cli/pcap/pcap.ts";
import { ESP_PORT } from "../../cli/esp/port.ts";
import { labTest } from "../harness.ts";
import {
  assertNoPattern,
  capturePackets,
  decryptedFrames,
  ESP_TEST,
  espOf,
  hexOf,
  iperf,
  PATTERN,
  patternPing,
  reachable,
  rxPackets,
  sendCleartext,
  stats,
  swarm,
  vniOf,
} from "./esp_lab.ts";

const PINGS = 4;

labTest(
  "three hosts, one encrypted network: ping and TCP both ways between each pair, only ESP on the underlay, tshark opens every datagram to the frames sent, cleartext from the third host refused",
  ESP_TEST,
  async (lab) => {
    const hosts = await swarm(lab, 3);
    await lab.weft(hosts[0], ["network", "create", "-d", "overlay", "--opt", "encrypted", "secret-net"]);
    const cs = hosts.map((_, i) => ({ name: lab.c(`a${i + 1}`), ip: `10.0.0.${i + 2}` }));
    for (const [i, h] of hosts.entries()) {
      await lab.weft(h, ["run", "-d", "--name", cs[i].name, "--network", "secret-net", "--ip", cs[i].ip]);
    }
    const pairs = [[0, 1], [0, 2], [1, 2]];
    for (const [a, b] of pairs) {
      await reachable(lab, cs[a].name, cs[b].ip);
      await reachable(lab, cs[b].name, cs[a].ip);
    }
    const vni = await vniOf(lab, hosts[0], "secret-net");

    // Captures: each container's eth0 (what it sent), then each host's underlay (what crossed),
    // and UDP 4789 on every host for the whole traffic phase (it must stay empty).
    const file = (what: string) => `${lab.dir}/${what}.pcap`;
    const inner = await Promise.all(cs.map((c) => capturePackets(lab, c.name, file(c.name), [])));
    const outer = await Promise.all(hosts.map((h) => capturePackets(lab, h.ns, file(h.name))));
    const vxlan = await Promise.all(
      hosts.map((h) => capturePackets(lab, h.ns, file(`${h.name}-4789`), ["udp", "port", "4789"])),
    );

    const ping = (from: number, to: number) => patternPing(lab, cs[from].name, cs[to].ip, PINGS);
    const pings = await Promise.all(pairs.flatMap(([a, b]) => [ping(a, b), ping(b, a)]));
    // stop() waits until each file has stopped growing: the last replies are in.
    await Promise.all([...outer, ...inner].map((c) => c.stop()));
    for (const p of pings) assert.match(p.stdout, / 0% packet loss/, p.stdout);

    // Nothing in clear on the underlay; every ESP datagram opens to a frame a container sent.
    const sent = new Set(
      cs.flatMap((c) => readPcap(Deno.readFileSync(file(c.name))).packets.map((p) => hexOf(p.data))),
    );
    const sas = (await Promise.all(hosts.map((h) => lab.weft(h, ["esp", "sa"])))).flatMap((r) =>
      r.stdout.trim().split("\n")
    );
    const echoes = new Set<string>();
    for (const h of hosts) {
      assertNoPattern(file(h.name), `${h.name}'s underlay`);
      const { esp, frames } = await decryptedFrames(file(h.name), sas, ESP_PORT);
      // Each host sends to and hears from two peers: ≥ 2 × PINGS × 2 (request, reply) × 2 peers.
      assert.ok(esp >= 8 * PINGS, `${h.name}: ${esp} ESP datagrams`);
      assert.equal(frames.length, esp, `${h.name}: tshark decrypted ${frames.length} of ${esp}`);
      for (const f of frames) {
        assert.ok(sent.has(f), `${h.name}: a decrypted frame no container sent: ${f.slice(0, 120)}…`);
        // IPv4 ICMP echo request/reply (type at 14 + 20) carrying the pattern.
        if (f.slice(24, 28) === "0800" && f.slice(46, 48) === "01" && f.includes(PATTERN.repeat(4))) {
          echoes.add(f);
        }
      }
    }
    // Every pair, both ways, request and reply: 6 pings × PINGS × 2 distinct frames.
    assert.equal(echoes.size, 6 * PINGS * 2, "echo frames decrypted from the underlay");

    // TCP both ways between each pair (short runs: iperf() bounds each at 20 s).
    const rates: string[] = [];
    for (const [a, b] of pairs) {
      for (const reverse of [false, true]) {
        const g = await iperf(cs[a].name, cs[b].name, cs[b].ip, reverse, 1);
        rates.push(`${a + 1}${reverse ? "←" : "→"}${b + 1} ${g.toFixed(2)}`);
      }
    }
    console.log(`iperf3 TCP 1 s, Gbit/s: ${rates.join(", ")}`);
    for (const c of vxlan) await c.stop();
    for (const h of hosts) {
      const n = readPcap(Deno.readFileSync(file(`${h.name}-4789`))).packets.length;
      assert.equal(n, 0, `${h.name}: ${n} UDP 4789 datagrams crossed the underlay`);
    }

    // Cleartext VXLAN for the VNI from a process on the third host, to each of the others.
    for (const i of [0, 1]) {
      const before = await rxPackets(lab, cs[i].name);
      assert.equal(await sendCleartext(lab, hosts[2], hosts[i], vni, 10), 10);
      assert.equal(
        await rxPackets(lab, cs[i].name),
        before,
        `a forged cleartext frame reached ${cs[i].name}`,
      );
    }
    for (const h of hosts) assert.equal(espOf(await stats(lab, h), vni).counters.auth_failed, 0);
  },
);
