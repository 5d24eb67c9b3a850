// What the encrypted-overlay tests in namespaces share (tests/esp/*_test.ts): a swarm of lab
// hosts, stats and VNIs through the CLI, captures, iperf3 between containers, datagrams sent from
// a host's own processes. The lab itself is cli/lab/ (mod.ts); labTest(), tsharkFields() and
// capture() are tests/harness.ts's.

import assert from "node:assert/strict";
import { DENO, type Host, isRoot, type Lab, ROOT, sh, waitFor } from "../../cli/lab/mod.ts";
import { type Capture, capture, type LabTestOptions, tsharkFields } from "../harness.ts";

/**
 * labTest() options of an encrypted-overlay test in namespaces: root only (else ignored), the
 * daemons' logs printed when it fails.
 */
export const ESP_TEST: LabTestOptions = { ignore: !isRoot(), onFailure: dumpLogs };

/** The ping pattern searched for in underlay captures (it must never appear there). */
export const PATTERN = "c0ffee5a";

/** `n` lab hosts with daemons running, in no swarm yet; returns them. */
export async function startHosts(lab: Lab, n: number): Promise<Host[]> {
  await lab.setup(n);
  await Promise.all(lab.hosts.map((h) => lab.startDaemon(h)));
  return lab.hosts;
}

/**
 * `n` lab hosts with daemons in one swarm: host 1 runs `weft swarm init` (with `init` flags, and
 * is the manager), the rest join; returns the hosts.
 */
export async function swarm(lab: Lab, n: number, init: string[] = []): Promise<Host[]> {
  await startHosts(lab, n);
  await lab.formSwarm(lab.hosts, init);
  return lab.hosts;
}

/** `count` pings from container `from` to `to` carrying PATTERN (`more`: further ping flags); never throws. */
export function patternPing(lab: Lab, from: string, to: string, count = 5, more: string[] = []) {
  return lab.inContainer(from, [
    "ping",
    "-c",
    String(count),
    "-i",
    "0.2",
    "-W",
    "2",
    ...more,
    "-p",
    PATTERN,
    to,
  ], false);
}

/** Fails when the bytes of capture `file` hold PATTERN twice in a row (a ping's payload in clear). */
export function assertNoPattern(file: string, where = "the underlay"): void {
  const hex = hexOf(Deno.readFileSync(file));
  assert.ok(!hex.includes(PATTERN.repeat(2)), `the ping's pattern crossed ${where} in cleartext`);
}

/**
 * tshark arguments (harness tsharkFields()' `args`) that decrypt ESP with the `esp_sa` lines `sas`
 * (`weft esp sa`, duplicates dropped), no name resolution, then `more` (`-d udp.port==N,udpencap`).
 */
export function espDecode(sas: string[] = [], more: string[] = []): string[] {
  const uat = [...new Set(sas)].flatMap((l) => ["-o", `uat:esp_sa:${l}`]);
  return ["-n", "-o", "esp.enable_encryption_decode:TRUE", ...uat, ...more];
}

/** The daemons' logs, when a test fails (the lab's directory goes at close). */
export async function dumpLogs(lab: Lab) {
  for (const h of lab.hosts) {
    const log = await Deno.readTextFile(h.log).catch(() => "");
    console.error(`── ${h.name} ──\n${log.split("\n").slice(-40).join("\n")}`);
  }
}

/** `weft stats --json` of host `h`. */
export async function stats(lab: Lab, h: Host) {
  return JSON.parse((await lab.weft(h, ["stats", "--json"])).stdout);
}

/** The ESP block of VNI `vni` in stats `s` (undefined: not an encrypted network there). */
export function espOf(s: any, vni: number) {
  return (s.esp ?? []).find((e: any) => e.vni === vni);
}

/** The VNI of network `net` as `weft network inspect` on host `h` gives it. */
export async function vniOf(lab: Lab, h: Host, net: string): Promise<number> {
  return JSON.parse((await lab.weft(h, ["network", "inspect", net])).stdout)[0].VNI;
}

/**
 * Encrypted network "secret-net" created on host 1 (asked for with `flag`: Docker takes both
 * `--opt encrypted` and `-o encrypted`), container a1 (10.0.0.2) on host 1 and a2
 * (10.0.0.3) on host 2, once a1 reaches a2; their names and the network's VNI.
 */
export async function secretPair(
  lab: Lab,
  flag: "--opt" | "-o" = "--opt",
): Promise<{ a1: string; a2: string; vni: number }> {
  const [h1, h2] = lab.hosts;
  await lab.weft(h1, ["network", "create", "-d", "overlay", flag, "encrypted", "secret-net"]);
  const [a1, a2] = [lab.c("a1"), lab.c("a2")];
  await lab.weft(h1, ["run", "-d", "--name", a1, "--network", "secret-net", "--ip", "10.0.0.2"]);
  await lab.weft(h2, ["run", "-d", "--name", a2, "--network", "secret-net", "--ip", "10.0.0.3"]);
  await reachable(lab, a1, "10.0.0.3");
  return { a1, a2, vni: await vniOf(lab, h1, "secret-net") };
}

/** Pings until one answer comes back (the control plane converges first). */
export async function reachable(lab: Lab, from: string, to: string): Promise<void> {
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

/**
 * tcpdump (harness capture()) on eth0 of namespace `ns` (a host's, for its underlay, or a
 * container's) into `file`, bounded at 5000 packets; `filter`: tcpdump's expression, UDP by default.
 */
export function capturePackets(lab: Lab, ns: string, file: string, filter = ["udp"]): Promise<Capture> {
  return capture(lab, ns, "eth0", file, ["--immediate-mode", "-c", "5000", ...filter]);
}

/** iperf3 TCP for `seconds` from container `client` to `server` (at `ip`), `reverse`: server sends. Gbit/s. */
export async function iperf(
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

/** Sends UDP datagrams (hex payloads) from inside host `h`'s namespace, from one of its processes. */
export async function sendFrom(h: Host, dst: string, port: number, payloads: string[]) {
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
export function forgedVxlan(vni: number, dstMac: string): string {
  const eth = dstMac.replaceAll(":", "") + "02420a000003" + "0800";
  const ip = "45000054000140004001" + "0000" + "0a0000030a000002";
  const icmp = "0800" + "0000" + "1234" + "0001" + PATTERN.repeat(14);
  return "08000000" + vni.toString(16).padStart(6, "0") + "00" + eth + ip + icmp;
}

/** Packets container `c`'s eth0 has received (its rx_packets counter). */
export async function rxPackets(lab: Lab, c: string): Promise<number> {
  return Number((await lab.inContainer(c, ["cat", "/sys/class/net/eth0/statistics/rx_packets"])).stdout);
}

/**
 * Sends `n` forged cleartext VXLAN datagrams of VNI `vni` (forgedVxlan(), to the MAC of the first
 * container `weft ps` lists on `to`) from a process on host `from` to `to`'s VXLAN port 4789, and
 * waits until `to` has counted at least `n` more cleartext_dropped for the VNI; returns how many more.
 * @throws when the counter has not risen by `n` within waitFor()'s default time.
 */
export async function sendCleartext(lab: Lab, from: Host, to: Host, vni: number, n: number): Promise<number> {
  const mac = JSON.parse((await lab.weft(to, ["ps", "--format", "json"])).stdout)[0].mac;
  const dropped0 = espOf(await stats(lab, to), vni).counters.cleartext_dropped;
  await sendFrom(from, to.addr, 4789, Array(n).fill(forgedVxlan(vni, mac)));
  return await waitFor(`cleartext_dropped on ${to.name}`, async () => {
    const d = espOf(await stats(lab, to), vni).counters.cleartext_dropped - dropped0;
    return d >= n ? d : undefined;
  });
}

/** Hex of bytes. */
export function hexOf(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * What tshark makes of the ESP in UDP datagrams to `port` in capture `file`, given the `esp_sa`
 * lines `sas` (`weft esp sa`) and `more` options (e.g. `-d udp.port==N,udpencap`): how many there
 * are, and the inner Ethernet frame of each it decrypted (hex). The frame is cut from tshark's
 * "Decrypted Data" (inner UDP 8 | VXLAN 8 | frame | padding | trailer) by the inner UDP length.
 */
export async function decryptedFrames(
  file: string,
  sas: string[],
  port: number,
  more: string[] = [],
): Promise<{ esp: number; frames: string[] }> {
  const filter = `udp.dstport == ${port}`;
  const args = espDecode(sas, more);
  const esp = (await tsharkFields(file, ["frame.number"], { filter, args })).length;
  const dump = (await sh(["tshark", "-r", file, ...args, "-Y", filter, "-x"])).stdout;
  const frames: string[] = [];
  for (const block of dump.split(/^Decrypted Data \(\d+ bytes\):\n/m).slice(1)) {
    let hex = "";
    for (const line of block.split("\n")) {
      const m = /^[0-9a-f]{4} {2}((?:[0-9a-f]{2} ?)+)/.exec(line);
      if (!m) break;
      hex += m[1].replaceAll(" ", "");
    }
    const udpLen = parseInt(hex.slice(8, 12), 16);
    frames.push(hex.slice(32, 2 * udpLen));
  }
  return { esp, frames };
}
