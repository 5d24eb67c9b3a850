// What the encrypted-overlay tests in namespaces share (tests/esp/*_test.ts): a swarm of lab
// hosts, stats and VNIs through the CLI, captures, iperf3 between containers, datagrams sent from
// a host's own processes. The lab itself is tests/swarm/lab.ts.

import assert from "node:assert/strict";
import { DENO, type Host, Lab, ROOT, sh, waitFor } from "../swarm/lab.ts";

/** The ping pattern searched for in underlay captures (it must never appear there). */
export const PATTERN = "c0ffee5a";

/** `n` lab hosts with daemons; host 1 runs `weft swarm init` (with `init` flags), the rest join. */
export async function swarm(lab: Lab, n: number, init: string[] = []): Promise<void> {
  await lab.setup(n);
  await Promise.all(lab.hosts.map((h) => lab.startDaemon(h)));
  const [h1, ...rest] = lab.hosts;
  const r = await lab.weft(h1, ["swarm", "init", "--advertise-addr", h1.addr, ...init]);
  const m = /weft swarm join --token (\S+) (\S+)/.exec(r.stdout)!;
  for (const h of rest) {
    await lab.weft(h, ["swarm", "join", "--token", m[1], m[2], "--advertise-addr", h.addr]);
  }
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
 * tcpdump into `file` until stop(), bounded (60 s, `count` packets): by default on host `h`'s
 * underlay interface, UDP only; `ns`/`iface`/`filter` pick another place (the underlay bridge, a
 * container's eth0).
 */
export function capture(
  h: Host | undefined,
  file: string,
  o: { ns?: string; iface?: string; filter?: string[]; count?: number } = {},
) {
  const p = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      o.ns ?? h!.ns,
      "timeout",
      "60",
      "tcpdump",
      "--immediate-mode",
      "-i",
      o.iface ?? "eth0",
      "-U",
      "-c",
      String(o.count ?? 5000),
      "-w",
      file,
      ...(o.filter ?? ["udp"]),
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Drain stderr the whole time: tcpdump must never block on (or die of) a closed pipe.
  let text = "";
  const drained = (async () => {
    for await (const chunk of p.stderr) text += new TextDecoder().decode(chunk);
  })().catch(() => {});
  return {
    async started() {
      await waitFor("tcpdump listening", () => Promise.resolve(text.includes("listening on")), 10000, 50);
    },
    async stop() {
      try {
        p.kill("SIGINT");
      } catch { /* gone */ }
      await p.status;
      await drained;
      return text;
    },
  };
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
