// End to end, in namespaces: `weft network create --opt encrypted` between daemons. Pings cross
// as ESP in UDP only (the underlay capture holds neither the ping's pattern nor UDP 4789),
// tshark decrypts the capture with the SAs `weft esp sa` prints, cleartext VXLAN injected for the
// VNI never reaches a container, a replayed ESP datagram is dropped and counted, keys rotate
// every 2 s under ping with no loss, and a plain network beside it stays plain. Needs root.

import assert from "node:assert/strict";
import { type Host, waitFor } from "../../cli/lab/mod.ts";
import { labTest, tsharkFields } from "../harness.ts";
import { readPcap } from "../../cli/pcap/pcap.ts";
import {
  assertNoPattern,
  capturePackets,
  ESP_TEST,
  espDecode,
  espOf,
  hexOf,
  iperf,
  PATTERN,
  patternPing,
  reachable,
  rxPackets,
  secretPair,
  sendCleartext,
  sendFrom,
  stats,
  swarm,
  vniOf,
} from "./esp_lab.ts";

labTest(
  "encrypted overlay: ping crosses as ESP in UDP only; tshark decrypts it with `weft esp sa`; plain beside it",
  ESP_TEST,
  async (lab) => {
    const [h1, h2] = await swarm(lab, 2);
    // Docker's `--opt encrypted` here, `-o encrypted` (secretPair()) in the hostile test.
    await lab.weft(h1, ["network", "create", "-d", "overlay", "--opt", "encrypted", "secret-net"]);
    await lab.weft(h1, ["network", "create", "-d", "overlay", "plain-net"]);
    const insp = JSON.parse((await lab.weft(h1, ["network", "inspect", "secret-net"])).stdout)[0];
    assert.equal(insp.Options.encrypted, "");
    assert.equal(insp.MTU, 1408);
    const [a1, a2, p1, p2] = [lab.c("a1"), lab.c("a2"), lab.c("p1"), lab.c("p2")];
    await lab.weft(h1, ["run", "-d", "--name", a1, "--network", "secret-net", "--ip", "10.0.0.2"]);
    await lab.weft(h2, ["run", "-d", "--name", a2, "--network", "secret-net", "--ip", "10.0.0.3"]);
    await lab.weft(h1, ["run", "-d", "--name", p1, "--network", "plain-net", "--ip", "10.0.1.2"]);
    await lab.weft(h2, ["run", "-d", "--name", p2, "--network", "plain-net", "--ip", "10.0.1.3"]);
    const mtu = await lab.inContainer(a1, ["cat", "/sys/class/net/eth0/mtu"]);
    assert.equal(mtu.stdout.trim(), "1408");
    await reachable(lab, a1, "10.0.0.3");
    await reachable(lab, p1, "10.0.1.3");

    const file = `${lab.dir}/underlay.pcap`;
    const cap = await capturePackets(lab, h1.ns, file);
    // Full-size pings (1408 − 28 bytes of payload) with a pattern, both ways.
    const big = await patternPing(lab, a1, "10.0.0.3", 5, ["-M", "do", "-s", "1380"]);
    const back = await patternPing(lab, a2, "10.0.0.2");
    const plain = await lab.inContainer(p1, ["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.0.1.3"], false);
    await cap.stop();
    assert.match(big.stdout, / 0% packet loss/, big.stdout + big.stderr);
    assert.match(back.stdout, / 0% packet loss/, back.stdout);
    assert.match(plain.stdout, / 0% packet loss/, plain.stdout);

    const vni = await vniOf(lab, h1, "secret-net");
    const plainVni = await vniOf(lab, h1, "plain-net");
    assertNoPattern(file);

    // What crossed: ESP on 4500 for the encrypted VNI, VXLAN on 4789 only for the plain one.
    const rows = await tsharkFields(file, ["udp.dstport", "vxlan.vni"], { args: ["-n"] });
    const esp = rows.filter((r) => r[0] === "4500");
    const vxlan = rows.filter((r) => r[0] === "4789");
    assert.ok(esp.length >= 20, `ESP datagrams: ${esp.length}`);
    assert.ok(vxlan.length >= 2, `the plain network still sends VXLAN:\n${rows.join("\n")}`);
    assert.ok(vxlan.every((r) => Number(r[1]) === plainVni), `cleartext VXLAN of VNI ≠ ${plainVni}`);

    // tshark decrypts every ESP datagram with the SAs of `weft esp sa` (both hosts' halves).
    const sa1 = (await lab.weft(h1, ["esp", "sa"])).stdout.trim().split("\n");
    const sa2 = (await lab.weft(h2, ["esp", "sa"])).stdout.trim().split("\n");
    const drows = await tsharkFields(file, ["vxlan.vni", "icmp.type", "data.data"], {
      filter: "udp.port == 4500",
      args: espDecode([...sa1, ...sa2]),
    });
    assert.equal(drows.length, esp.length);
    const pings = drows.filter((r) => r[1] === "8" || r[1] === "0");
    assert.ok(pings.length >= 20, `decrypted ICMP echoes: ${pings.length}\n${drows.join("\n")}`);
    for (const r of drows) assert.equal(Number(r[0]), vni, `decrypted VNI in ${r}`);
    for (const r of pings) assert.ok(r[2].includes(PATTERN.repeat(4)), "the pattern, once decrypted");

    // TCP both ways (TSO super-frames cut and sealed per segment), and the plain network's for scale.
    const enc = [await iperf(a1, a2, "10.0.0.3"), await iperf(a1, a2, "10.0.0.3", true)];
    const clear = await iperf(p1, p2, "10.0.1.3");
    console.log(
      `iperf3 TCP 2 s: encrypted ${enc.map((g) => g.toFixed(2)).join(" / ")} Gbit/s (→ / ←), plain ${
        clear.toFixed(2)
      } Gbit/s`,
    );
    const s1 = espOf(await stats(lab, h1), vni);
    assert.ok(s1.counters.encrypted >= 10 && s1.counters.decrypted >= 10, JSON.stringify(s1));
    assert.equal(s1.counters.auth_failed, 0);
    assert.equal(espOf(await stats(lab, h1), plainVni), undefined);
  },
);

labTest(
  "encrypted overlay, hostile: cleartext VXLAN from a peer's process never reaches a container; replays and bit flips are dropped and counted",
  ESP_TEST,
  async (lab) => {
    const [h1, h2] = await swarm(lab, 2);
    const { a1, a2, vni } = await secretPair(lab, "-o");

    // Cleartext VXLAN for the encrypted VNI, from a local process of the peer node (198.18.0.2).
    const rx = () => rxPackets(lab, a1);
    const before = await rx();
    assert.equal(await sendCleartext(lab, h2, h1, vni, 20), 20);
    assert.equal(await rx(), before, "a forged cleartext frame reached the container");

    // Capture ESP datagrams to h1, then replay one and flip bits in copies of another.
    const file = `${lab.dir}/esp.pcap`;
    const cap = await capturePackets(lab, h1.ns, file);
    const genuine = await lab.inContainer(
      a2,
      ["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.0.0.2"],
      false,
    );
    await cap.stop();
    assert.match(genuine.stdout, / 0% packet loss/, genuine.stdout);
    // UDP payloads to h1's ESP port, straight from the capture (Ethernet, IPv4 without options).
    const payloads = readPcap(await Deno.readFile(file)).packets
      .map((p) => p.data)
      .filter((d) => hexOf(d.subarray(30, 34)) === "c6120001" && ((d[36] << 8) | d[37]) === 4500)
      .map((d) => hexOf(d.subarray(42)));
    assert.ok(
      payloads.length >= 3,
      `captured ESP to h1: ${payloads.length} of ${readPcap(await Deno.readFile(file)).packets.length}`,
    );
    const s0 = espOf(await stats(lab, h1), vni).counters;
    // Copies of an accepted datagram under a sequence number never seen (else the replay check
    // drops them first), one unchanged otherwise, one with a ciphertext bit flipped, one an ICV bit.
    const flips = [[], [8 * 40 + 3], [payloads[1].length * 4 - 1]].map((more) => {
      const b = payloads[1].match(/../g)!.map((x) => parseInt(x, 16));
      for (const bit of [39, ...more]) b[bit >> 3] ^= 1 << (bit & 7);
      return b.map((x) => x.toString(16).padStart(2, "0")).join("");
    });
    await sendFrom(h2, h1.addr, 4500, [payloads[0], payloads[0], ...flips]);
    const s1 = await waitFor("replay and auth counters", async () => {
      const c = espOf(await stats(lab, h1), vni).counters;
      return c.replayed - s0.replayed >= 2 && c.auth_failed - s0.auth_failed >= 3 ? c : undefined;
    });
    assert.equal(s1.replayed - s0.replayed, 2);
    assert.equal(s1.auth_failed - s0.auth_failed, 3);
    assert.equal(s1.decrypted, s0.decrypted, "nothing replayed or flipped was accepted");
    assert.equal(await rx(), before + 3, "only the three genuine pings' frames arrived");
  },
);

labTest(
  "encrypted overlay: keys rotate every 2 s under continuous ping with no loss; a restarted node resumes with new keys",
  ESP_TEST,
  async (lab) => {
    const [h1, h2] = await swarm(lab, 2, ["--key-rotation-interval", "2s"]);
    const { a1, vni } = await secretPair(lab);
    const spis = async (h: Host) => (await lab.weft(h, ["esp", "sa"])).stdout.trim().split("\n");
    const before = await spis(h2);
    const r0 = espOf(await stats(lab, h1), vni).counters.rekeys;
    // 80 pings over 8 s: four rotations.
    const p = await lab.inContainer(a1, ["ping", "-c", "80", "-i", "0.1", "-W", "2", "10.0.0.3"], false);
    assert.match(p.stdout, / 0% packet loss/, p.stdout.split("\n").slice(-4).join("\n"));
    const c = espOf(await stats(lab, h1), vni).counters;
    assert.ok(c.rekeys - r0 >= 3, `rekeys during the ping: ${c.rekeys - r0}`);
    assert.equal(c.auth_failed, 0);

    // h2's daemon restarts: it draws new SAs (no SPI of before comes back) and traffic resumes.
    await lab.stopDaemon(h2);
    await lab.startDaemon(h2);
    await reachable(lab, a1, "10.0.0.3");
    const after = await spis(h2);
    const spiOf = (l: string) => l.split(",")[3];
    const old = new Set(before.map(spiOf));
    const own = after.filter((l) => l.split(",")[1] === `"${h2.addr}"`);
    assert.ok(own.length > 0 && own.every((l) => !old.has(spiOf(l))), `${before}\n→\n${after}`);
  },
);

labTest(
  "encrypted overlay fails closed: a node without libcrypto does not bring the network up and says why",
  ESP_TEST,
  async (lab) => {
    await lab.setup(2);
    const [h1, h2] = lab.hosts;
    await lab.startDaemon(h1);
    // Only h2's daemon inherits a libcrypto and a GnuTLS that cannot be loaded.
    Deno.env.set("WEFT_LIBCRYPTO", "/nonexistent/libcrypto.so.3");
    Deno.env.set("WEFT_LIBGNUTLS", "/nonexistent/libgnutls.so.30");
    try {
      await lab.startDaemon(h2);
    } finally {
      Deno.env.delete("WEFT_LIBCRYPTO");
      Deno.env.delete("WEFT_LIBGNUTLS");
    }
    await lab.formSwarm([h1, h2]);
    await lab.weft(h1, ["network", "create", "-d", "overlay", "--opt", "encrypted", "secret-net"]);
    await lab.weft(h1, ["network", "create", "-d", "overlay", "plain-net"]);
    const [a1, a2, p1, p2] = [lab.c("a1"), lab.c("a2"), lab.c("p1"), lab.c("p2")];
    await lab.weft(h1, ["run", "-d", "--name", a1, "--network", "secret-net", "--ip", "10.0.0.2"]);
    const refused = await lab.weft(h2, ["run", "-d", "--name", a2, "--network", "secret-net"], false);
    assert.equal(refused.code, 2); // a refusal by the daemon (4xx): nothing was created
    assert.match(
      refused.stderr,
      /^error: network secret-net is encrypted and this node cannot encrypt: cannot load OpenSSL's libcrypto.*nothing was created/,
    );
    const ps = JSON.parse((await lab.weft(h2, ["ps", "--format", "json"])).stdout);
    assert.equal(ps.length, 0);
    const eps = JSON.parse((await lab.weft(h1, ["network", "inspect", "secret-net"])).stdout)[0];
    assert.deepEqual(eps.Peers.map((p: any) => p.IP), [h1.addr], "h2's endpoint was withdrawn");
    // The node works otherwise: a plain network comes up; weft stats says why ESP cannot.
    await lab.weft(h1, ["run", "-d", "--name", p1, "--network", "plain-net", "--ip", "10.0.1.2"]);
    await lab.weft(h2, ["run", "-d", "--name", p2, "--network", "plain-net", "--ip", "10.0.1.3"]);
    await reachable(lab, p1, "10.0.1.3");
    assert.match((await stats(lab, h2)).espError, /cannot encrypt/);
    assert.match(
      await Deno.readTextFile(h2.log),
      /this node cannot encrypt: cannot load OpenSSL's libcrypto.*, and cannot load libgnutls\.so\.30/,
    );
  },
);
