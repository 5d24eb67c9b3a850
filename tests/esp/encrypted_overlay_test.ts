// End to end, in namespaces: `weft network create --opt encrypted` between daemons. Pings cross
// as ESP in UDP only (the underlay capture holds neither the ping's pattern nor UDP 4789),
// tshark decrypts the capture with the SAs `weft esp sa` prints, cleartext VXLAN injected for the
// VNI never reaches a container, a replayed ESP datagram is dropped and counted, keys rotate
// every 2 s under ping with no loss, and a plain network beside it stays plain. Needs root.

import assert from "node:assert/strict";
import { DENO, type Host, isRoot, Lab, ROOT, sh, waitFor } from "../../cli/lab/mod.ts";
import { capture, labTest, tsharkFields } from "../harness.ts";
import { readPcap } from "../../cli/pcap/pcap.ts";

const ignore = !isRoot();
/** Every test here: root only; the daemons' logs on failure. */
const opts = { ignore, onFailure: dumpLogs };
const PATTERN = "c0ffee5a";

/**
 * Two hosts in a swarm (`init` for swarm init) with the encrypted overlay secret-net, asked for
 * with `flag`: Docker takes both `--opt encrypted` and `-o encrypted`.
 */
async function secretSwarm(lab: Lab, flag: "--opt" | "-o", init: string[] = []): Promise<Host[]> {
  const hosts = await swarm(lab, 2, init);
  await lab.weft(hosts[0], ["network", "create", "-d", "overlay", flag, "encrypted", "secret-net"]);
  return hosts;
}

/** n weft hosts with their daemons, in one swarm (hosts[0] the manager); returns the hosts. */
async function swarm(lab: Lab, n: number, init: string[] = []): Promise<Host[]> {
  await lab.setup(n);
  await Promise.all(lab.hosts.map((h) => lab.startDaemon(h)));
  await lab.formSwarm(lab.hosts, init);
  return lab.hosts;
}

/** The daemons' logs, when a test fails (the lab's directory goes at close). */
async function dumpLogs(lab: Lab) {
  for (const h of lab.hosts) {
    const log = await Deno.readTextFile(h.log).catch(() => "");
    console.error(`── ${h.name} ──\n${log.split("\n").slice(-40).join("\n")}`);
  }
}

async function stats(lab: Lab, h: Host) {
  return JSON.parse((await lab.weft(h, ["stats", "--json"])).stdout);
}

function espOf(s: any, vni: number) {
  return (s.esp ?? []).find((e: any) => e.vni === vni);
}

async function vniOf(lab: Lab, h: Host, net: string): Promise<number> {
  return JSON.parse((await lab.weft(h, ["network", "inspect", net])).stdout)[0].VNI;
}

/** Pings until one answer comes back (the control plane converges first). */
async function reachable(lab: Lab, from: string, to: string): Promise<void> {
  await waitFor(
    `${from} → ${to}`,
    async () => {
      const r = await lab.inContainer(from, ["ping", "-c", "1", "-W", "1", to], false);
      return r.code === 0;
    },
    20000,
    200,
  );
}

/** iperf3 TCP for `seconds` from container `client` to `server` (at `ip`), `reverse`: server sends. Gbit/s. */
async function iperf(
  client: string,
  server: string,
  ip: string,
  reverse = false,
  seconds = 2,
): Promise<number> {
  const srv = new Deno.Command("ip", {
    args: ["netns", "exec", server, "timeout", "30", "iperf3", "-s", "-1", "-B", ip],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const r = await waitFor(
      `iperf3 to ${ip}`,
      async () => {
        const c = await sh([
          "ip",
          "netns",
          "exec",
          client,
          "timeout",
          "20",
          "iperf3",
          "-c",
          ip,
          "-t",
          String(seconds),
          "-J",
          ...(reverse ? ["-R"] : []),
        ], { check: false });
        // Until the server listens, iperf3 -J reports "connection refused" in its JSON.
        return c.code === 0 && !/unable to connect/.test(c.stdout) ? c : undefined;
      },
      20000,
      300,
    );
    const j = JSON.parse(r.stdout);
    assert.ok(
      j.end?.sum_received?.bytes > 1e6,
      `iperf3 ${client} → ${ip}: ${j.error ?? JSON.stringify(j.end)}`,
    );
    return j.end.sum_received.bits_per_second / 1e9;
  } finally {
    try {
      srv.kill("SIGKILL");
    } catch { /* done */ }
    await srv.status;
  }
}

labTest(
  "encrypted overlay: ping crosses as ESP in UDP only; tshark decrypts it with `weft esp sa`; plain beside it",
  opts,
  async (lab) => {
    const [h1, h2] = await secretSwarm(lab, "--opt");
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
    const cap = await capture(lab, h1.ns, "eth0", file, ["--immediate-mode", "-c", "5000", "udp"]);
    // Full-size pings (1408 − 28 bytes of payload) with a pattern, both ways.
    const five = ["-c", "5", "-i", "0.2", "-W", "2", "-p", PATTERN];
    const big = await lab.inContainer(a1, ["ping", ...five, "-M", "do", "-s", "1380", "10.0.0.3"], false);
    const back = await lab.inContainer(a2, ["ping", ...five, "10.0.0.2"], false);
    const plain = await lab.inContainer(p1, ["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.0.1.3"], false);
    await cap.stop();
    assert.match(big.stdout, / 0% packet loss/, big.stdout + big.stderr);
    assert.match(back.stdout, / 0% packet loss/, back.stdout);
    assert.match(plain.stdout, / 0% packet loss/, plain.stdout);

    const vni = await vniOf(lab, h1, "secret-net");
    const plainVni = await vniOf(lab, h1, "plain-net");
    const raw = await Deno.readFile(file);
    const hex = Array.from(raw, (b) => b.toString(16).padStart(2, "0")).join("");
    assert.ok(!hex.includes(PATTERN.repeat(2)), "the ping's pattern crossed the underlay in cleartext");

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
    const uat = [...new Set([...sa1, ...sa2])].flatMap((l) => ["-o", `uat:esp_sa:${l}`]);
    const drows = await tsharkFields(file, ["vxlan.vni", "icmp.type", "data.data"], {
      filter: "udp.port == 4500",
      args: ["-n", "-o", "esp.enable_encryption_decode:TRUE", ...uat],
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

/** Sends UDP datagrams (hex payloads) from inside host `h`'s namespace, from one of its processes. */
async function sendFrom(h: Host, dst: string, port: number, payloads: string[]) {
  await sh([
    "ip",
    "netns",
    "exec",
    h.ns,
    DENO,
    "run",
    "-A",
    "--unstable-net",
    `${ROOT}tests/esp/send_udp.ts`,
    h.addr,
    dst,
    String(port),
    ...payloads,
  ]);
}

/** A VXLAN datagram (VNI `vni`) carrying an ICMP echo request to 10.0.0.2 from 10.0.0.3. */
function forgedVxlan(vni: number, dstMac: string): string {
  const eth = dstMac.replaceAll(":", "") + "02420a000003" + "0800";
  const ip = "45000054000140004001" + "0000" + "0a0000030a000002";
  const icmp = "0800" + "0000" + "1234" + "0001" + PATTERN.repeat(14);
  return "08000000" + vni.toString(16).padStart(6, "0") + "00" + eth + ip + icmp;
}

labTest(
  "encrypted overlay, hostile: cleartext VXLAN from a peer's process never reaches a container; replays and bit flips are dropped and counted",
  opts,
  async (lab) => {
    const [h1, h2] = await secretSwarm(lab, "-o");
    const [a1, a2] = [lab.c("a1"), lab.c("a2")];
    await lab.weft(h1, ["run", "-d", "--name", a1, "--network", "secret-net", "--ip", "10.0.0.2"]);
    await lab.weft(h2, ["run", "-d", "--name", a2, "--network", "secret-net", "--ip", "10.0.0.3"]);
    await reachable(lab, a1, "10.0.0.3");
    const vni = await vniOf(lab, h1, "secret-net");
    const mac = JSON.parse((await lab.weft(h1, ["ps", "--format", "json"])).stdout)[0].mac;

    // Cleartext VXLAN for the encrypted VNI, from a local process of the peer node (198.18.0.2).
    const rx = async () =>
      Number((await lab.inContainer(a1, ["cat", "/sys/class/net/eth0/statistics/rx_packets"])).stdout);
    const before = await rx();
    const clear0 = espOf(await stats(lab, h1), vni).counters.cleartext_dropped;
    await sendFrom(h2, h1.addr, 4789, Array(20).fill(forgedVxlan(vni, mac)));
    const clear = await waitFor("cleartext_dropped", async () => {
      const n = espOf(await stats(lab, h1), vni).counters.cleartext_dropped;
      return n - clear0 >= 20 ? n - clear0 : undefined;
    });
    assert.equal(clear, 20);
    assert.equal(await rx(), before, "a forged cleartext frame reached the container");

    // Capture ESP datagrams to h1, then replay one and flip bits in copies of another.
    const file = `${lab.dir}/esp.pcap`;
    const cap = await capture(lab, h1.ns, "eth0", file, ["--immediate-mode", "-c", "5000", "udp"]);
    const genuine = await lab.inContainer(
      a2,
      ["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.0.0.2"],
      false,
    );
    await cap.stop();
    assert.match(genuine.stdout, / 0% packet loss/, genuine.stdout);
    // UDP payloads to h1's ESP port, straight from the capture (Ethernet, IPv4 without options).
    const hexOf = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
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
  opts,
  async (lab) => {
    const [h1, h2] = await secretSwarm(lab, "--opt", ["--key-rotation-interval", "2s"]);
    const [a1, a2] = [lab.c("a1"), lab.c("a2")];
    await lab.weft(h1, ["run", "-d", "--name", a1, "--network", "secret-net", "--ip", "10.0.0.2"]);
    await lab.weft(h2, ["run", "-d", "--name", a2, "--network", "secret-net", "--ip", "10.0.0.3"]);
    await reachable(lab, a1, "10.0.0.3");
    const vni = await vniOf(lab, h1, "secret-net");
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
  opts,
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
