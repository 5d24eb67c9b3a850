// npm run bench:e2e — two containers on two hosts, connected four ways, measured in one run:
//
//   veth    no overlay: c1 ─veth─ h1 ─underlay veth─ h2 ─veth─ c2, routed by the hosts (MTU 1500)
//   kernel  Linux VXLAN (VNI 42, port 4789) in a bridge with a veth to the container (MTU 1450)
//   tinc    tinc 1.0 in switch mode, no cipher, no digest, TAP moved into the container (MTU 1450)
//   weft    `weft vtep` on each host, TAP moved into the container (MTU 1450)
//
// All share the underlay of tests/netns.ts twoHosts(): h1 198.18.0.1/24 ─ h2 198.18.0.2/24, with
// c1 10.0.0.1 and c2 10.0.0.2. Every figure is the median of the rounds; rounds visit the four
// topologies in turn (all set up at once, each in its own lab) so that load from other processes
// on this 2-core machine falls on all of them alike.
//
//   --json PATH   also write the results as JSON
//   --quick       one round instead of three

import { parseArgs } from "node:util";
import { Lab, type Process, twoHosts } from "../netns.ts";
import { tincPair } from "./tinc.ts";

const VNI = "42";
const OVERLAY_MTU = 1450;
const H1 = "198.18.0.1", H2 = "198.18.0.2";
const C1 = "10.0.0.1", C2 = "10.0.0.2";
/** Seconds per iperf3 test. */
const SECONDS = 2;
/** Whole run; past it the bench tears everything down and exits. */
const WATCHDOG_MS = 8 * 60_000;

type Key = "veth" | "kernel" | "tinc" | "weft";

interface Topology {
  key: Key;
  label: string;
  lab: Lab;
  /** The iperf3 client's and server's namespaces (c1, c2). */
  client: string;
  server: string;
  /** Userspace processes that move the frames, for CPU per frame; none for kernel paths. */
  movers: Process[];
}

interface Figures {
  tcp1: number;
  tcp4: number;
  udpPps: number;
  udpLoss: number;
  rttMs: number;
  cpuUs: number;
  /** Share of that CPU time spent in the kernel (stime), in %. */
  sysPct: number;
}

// ── topologies ─────────────────────────────────────────────────────────────────────────────

/** No overlay: each host routes its container's /32 to its veth (answering ARP by proxy). */
async function setupVeth(lab: Lab): Promise<Topology> {
  const { h1, h2, c1, c2 } = await twoHosts(lab);
  for (const [h, c, mine, other, otherHost] of [[h1, c1, C1, C2, H2], [h2, c2, C2, C1, H1]]) {
    const x = (cmd: string[]) => lab.exec(h, cmd, { check: true });
    await x(["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    await lab.veth(h, "vc", undefined, c, "eth0", `${mine}/24`);
    // c1 sees 10.0.0.2 as on-link; h1 answers its ARP for it since the route leaves by another link.
    await x(["sysctl", "-qw", "net.ipv4.conf.vc.proxy_arp=1"]);
    await x(["ip", "route", "add", `${mine}/32`, "dev", "vc"]);
    await x(["ip", "route", "add", `${other}/32`, "via", otherHost]);
  }
  return { key: "veth", label: "plain veth (routed)", lab, client: c1, server: c2, movers: [] };
}

/** The kernel's VXLAN on each host: vx0 flooding to the peer, in br0 with a veth to the container. */
async function setupKernel(lab: Lab): Promise<Topology> {
  const { h1, h2, c1, c2 } = await twoHosts(lab);
  const sides = [[h1, c1, H1, H2, `${lab.prefix}u1`, C1], [h2, c2, H2, H1, `${lab.prefix}u2`, C2]];
  for (const [h, c, local, peer, underlay, overlay] of sides) {
    const x = (cmd: string[]) => lab.exec(h, cmd, { check: true });
    await x([
      "ip",
      "link",
      "add",
      "vx0",
      "type",
      "vxlan",
      "id",
      VNI,
      "dstport",
      "4789",
      "local",
      local,
      "dev",
      underlay,
    ]);
    await x(["bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vx0", "dst", peer]);
    // Offloads stay on, as the kernel runs by default. (The interop tests turn tx checksumming off
    // on vx0 only because weft is the peer there.)
    await x(["ip", "link", "add", "br0", "type", "bridge"]);
    await x(["ip", "link", "set", "vx0", "master", "br0"]);
    await lab.veth(h, "vc", undefined, c, "eth0", `${overlay}/24`);
    await x(["ip", "link", "set", "vc", "master", "br0"]);
    await lab.exec(c, ["ip", "link", "set", "eth0", "mtu", String(OVERLAY_MTU)], { check: true });
    await x(["ip", "link", "set", "vx0", "up"]);
    await x(["ip", "link", "set", "br0", "up"]);
  }
  return { key: "kernel", label: "kernel VXLAN", lab, client: c1, server: c2, movers: [] };
}

/** tinc 1.0 in switch mode; its configuration lives under `dir`, which the caller removes. */
async function setupTinc(lab: Lab, dir: string): Promise<Topology> {
  const { h1, h2, c1, c2 } = await twoHosts(lab);
  const node = (i: 1 | 2, host: string, container: string, underlay: string, overlay: string) => ({
    name: `h${i}`,
    host,
    container,
    underlay,
    overlay: `${overlay}/24`,
    tap: `${lab.prefix}t${i}`,
  });
  const movers = await tincPair(lab, dir, node(1, h1, c1, H1, C1), node(2, h2, c2, H2, C2), OVERLAY_MTU);
  return { key: "tinc", label: "tinc 1.0 switch", lab, client: c1, server: c2, movers };
}

/** `weft vtep` on each host, with the CLI's defaults (MTU 1450). */
async function setupWeft(lab: Lab): Promise<Topology> {
  const { h1, h2, c1, c2 } = await twoHosts(lab);
  const vtep = (i: 1 | 2, h: string, c: string, overlay: string, local: string, peer: string) =>
    lab.vtep(h, [
      ...["--vni", VNI, "--tap", `${lab.prefix}t${i}`, "--netns", c, "--address", `${overlay}/24`],
      ...["--listen", local, "--peer", peer],
    ]);
  const v1 = await vtep(1, h1, c1, C1, H1, H2);
  const v2 = await vtep(2, h2, c2, C2, H2, H1);
  return { key: "weft", label: "weft", lab, client: c1, server: c2, movers: [v1.process, v2.process] };
}

// ── measurements ───────────────────────────────────────────────────────────────────────────

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A one-shot iperf3 server in the server namespace, once it listens. */
async function iperfServer(t: Topology): Promise<Process> {
  const p = t.lab.spawn(t.server, ["iperf3", "-s", "-1", "-B", C2], "iperf3 -s");
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && p.running) {
    const ss = await t.lab.exec(t.server, ["ss", "-Hltn", "sport", "=", ":5201"]);
    if (ss.stdout.trim()) return p;
    await sleep(50);
  }
  await p.stop(1000);
  throw new Error(`iperf3 server in ${t.server} did not listen within 5 s: ${await p.stderr}`);
}

/** One iperf3 test from client to server; the parsed JSON, or undefined (with a warning). */
async function iperf(t: Topology, args: string[]): Promise<any> {
  const server = await iperfServer(t);
  const r = await t.lab.exec(
    t.client,
    ["iperf3", "-c", C2, "-t", String(SECONDS), "--connect-timeout", "3000", "-J", ...args],
    { timeoutMs: (SECONDS + 10) * 1000 },
  );
  await server.stop(3000);
  if (r.code !== 0) {
    const why = r.stdout.match(/"error":\s*"([^"]*)"/)?.[1] ?? r.stderr.trim();
    console.error(`  warning: ${t.label}: iperf3 ${args.join(" ")} failed (${r.code}): ${why}`);
    return undefined;
  }
  return JSON.parse(r.stdout);
}

/** TCP goodput at the receiver, and the data frames it took (received bytes ÷ MSS). */
async function tcp(t: Topology, streams: number): Promise<{ gbps: number; frames: number }> {
  const j = await iperf(t, streams > 1 ? ["-P", String(streams)] : []);
  if (!j) return { gbps: NaN, frames: NaN };
  const mss = j.start.tcp_mss_default ?? OVERLAY_MTU - 52; // 20 IPv4 + 20 TCP + 12 timestamps
  const got = j.end.sum_received;
  return { gbps: got.bits_per_second / 1e9, frames: got.bytes / mss };
}

/** 64-byte UDP datagrams as fast as the sender can: packets/s the receiver got, and loss. */
async function udp64(t: Topology): Promise<{ pps: number; loss: number }> {
  const j = await iperf(t, ["-u", "-l", "64", "-b", "0"]);
  if (!j) return { pps: NaN, loss: NaN };
  const got = j.end.sum_received;
  return { pps: (got.packets - got.lost_packets) / got.seconds, loss: got.lost_percent };
}

/** Median RTT of 20 pings 50 ms apart, in ms. */
async function pingMedian(t: Topology): Promise<number> {
  const r = await t.lab.exec(t.client, ["ping", "-c", "20", "-i", "0.05", "-W", "1", C2], {
    timeoutMs: 10000,
  });
  const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  if (rtts.length < 20) console.error(`  warning: ${t.label}: ${20 - rtts.length} of 20 pings lost`);
  return median(rtts);
}

/** CPU seconds (all threads) the processes have used so far, in user space and in the kernel. */
function cpuSeconds(ps: Process[]): { user: number; sys: number } {
  const TICKS_PER_SECOND = 100; // USER_HZ, `getconf CLK_TCK`
  let user = 0, sys = 0;
  for (const p of ps) {
    // Fields after "(comm)": state is field 3, utime 14 and stime 15 (proc(5)).
    const f = Deno.readTextFileSync(`/proc/${p.pid}/stat`).replace(/^.*\) /s, "").split(" ");
    user += Number(f[11]);
    sys += Number(f[12]);
  }
  return { user: user / TICKS_PER_SECOND, sys: sys / TICKS_PER_SECOND };
}

async function measure(t: Topology): Promise<Figures> {
  const cpu0 = cpuSeconds(t.movers);
  const one = await tcp(t, 1);
  const cpu1 = cpuSeconds(t.movers);
  const user = cpu1.user - cpu0.user, sys = cpu1.sys - cpu0.sys;
  const four = await tcp(t, 4);
  const udp = await udp64(t);
  const rttMs = await pingMedian(t);
  return {
    tcp1: one.gbps,
    tcp4: four.gbps,
    udpPps: udp.pps,
    udpLoss: udp.loss,
    rttMs,
    cpuUs: t.movers.length ? (user + sys) / one.frames * 1e6 : NaN,
    sysPct: t.movers.length ? 100 * sys / (user + sys) : NaN,
  };
}

/** Waits until c1 reaches c2, then runs 1 s of TCP unrecorded (V8 tiers up weft's loop, tinc
 * settles its path MTU so that full frames go by UDP rather than its TCP meta connection). */
async function warmUp(t: Topology): Promise<void> {
  const deadline = Date.now() + 20000;
  while ((await t.lab.exec(t.client, ["ping", "-c", "1", "-W", "1", C2])).code !== 0) {
    if (Date.now() > deadline) throw new Error(`${t.label}: ${C1} cannot reach ${C2} after 20 s`);
    await sleep(200);
  }
  const server = await iperfServer(t);
  await t.lab.exec(t.client, ["iperf3", "-c", C2, "-t", "1", "--connect-timeout", "3000"], {
    timeoutMs: 10000,
  });
  await server.stop(3000);
}

// ── report ─────────────────────────────────────────────────────────────────────────────────

interface Row {
  key: keyof Figures;
  label: string;
  format: (v: number) => string;
  /** Whether value ÷ kernel means anything (not for a loss percentage). */
  ratio: boolean;
}

const ROWS: Row[] = [
  { key: "tcp1", label: "TCP 1 stream, Gbit/s", format: (v) => v.toFixed(2), ratio: true },
  { key: "tcp4", label: "TCP 4 streams, Gbit/s", format: (v) => v.toFixed(2), ratio: true },
  { key: "udpPps", label: "UDP 64 B received, kpps", format: (v) => (v / 1e3).toFixed(0), ratio: true },
  { key: "udpLoss", label: "UDP 64 B loss, %", format: (v) => v.toFixed(1), ratio: false },
  { key: "rttMs", label: "ping RTT median, ms", format: (v) => v.toFixed(3), ratio: true },
  { key: "cpuUs", label: "CPU per TCP data frame, µs", format: (v) => v.toFixed(2), ratio: true },
  { key: "sysPct", label: "… of it in the kernel, %", format: (v) => v.toFixed(0), ratio: false },
];

const ORDER: Key[] = ["veth", "kernel", "tinc", "weft"];

const ratioText = (r: number) => Number.isFinite(r) ? `×${r < 0.1 ? r.toFixed(3) : r.toFixed(2)}` : "—";

function markdown(medians: Record<Key, Figures>, labels: Record<Key, string>): string {
  const lines = [
    `| figure | ${ORDER.map((k) => labels[k]).join(" | ")} | weft ÷ tinc |`,
    `|---|${ORDER.map(() => "---:").join("|")}|---:|`,
  ];
  for (const row of ROWS) {
    const kernel = medians.kernel[row.key];
    const cells = ORDER.map((k) => {
      const v = medians[k][row.key];
      if (!Number.isFinite(v)) return "—";
      const vsKernel = row.ratio && k !== "kernel" && Number.isFinite(kernel)
        ? ` (${ratioText(v / kernel)})`
        : "";
      return row.format(v) + vsKernel;
    });
    const weftVsTinc = row.ratio ? ratioText(medians.weft[row.key] / medians.tinc[row.key]) : "—";
    lines.push(`| ${row.label} | ${cells.join(" | ")} | ${weftVsTinc} |`);
  }
  return lines.join("\n");
}

const loadavg = () => Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");

// ── main ───────────────────────────────────────────────────────────────────────────────────

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { json: { type: "string" }, quick: { type: "boolean" } },
    strict: true,
  });
  const rounds = values.quick ? 1 : 3;
  const labs: Lab[] = [];
  const dir = await Deno.makeTempDir({ prefix: "weft-e2e-" });

  let closing: Promise<void> | undefined;
  const teardown = () =>
    closing ??= (async () => {
      for (const lab of labs) await lab.close().catch((e) => console.error(`teardown: ${e}`));
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();
  const abort = async (why: string, code: number) => {
    console.error(`\n${why}: tearing down`);
    await teardown();
    Deno.exit(code);
  };
  const onInt = () => abort("SIGINT", 130), onTerm = () => abort("SIGTERM", 143);
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  const watchdog = setTimeout(() => abort(`still running after ${WATCHDOG_MS / 1000} s`, 1), WATCHDOG_MS);

  const started = new Date();
  const loadStart = loadavg();
  console.log(`weft e2e bench, ${started.toISOString()}, ${rounds} round(s) of ${SECONDS} s iperf3 tests`);
  console.log(`load average at start: ${loadStart}`);
  try {
    const setups: [Key, (lab: Lab) => Promise<Topology>][] = [
      ["veth", setupVeth],
      ["kernel", setupKernel],
      ["tinc", (lab) => setupTinc(lab, dir)],
      ["weft", setupWeft],
    ];
    const topologies: Topology[] = [];
    for (const [key, setup] of setups) {
      const lab = new Lab();
      labs.push(lab);
      const t0 = Date.now();
      const t = await setup(lab);
      await warmUp(t);
      topologies.push(t);
      console.log(
        `  ${key}: ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (namespaces ${lab.prefix}*)`,
      );
    }

    const results = Object.fromEntries(ORDER.map((k) => [k, [] as Figures[]])) as Record<Key, Figures[]>;
    for (let r = 0; r < rounds; r++) {
      // Rotate the order each round so no topology always runs right after the UDP flood of another.
      for (let i = 0; i < topologies.length; i++) {
        const t = topologies[(i + r) % topologies.length];
        const f = await measure(t);
        results[t.key].push(f);
        console.log(
          `  round ${r + 1} ${t.key}: TCP ${f.tcp1.toFixed(2)}/${f.tcp4.toFixed(2)} Gbit/s, ` +
            `UDP ${(f.udpPps / 1e3).toFixed(0)} kpps (${f.udpLoss.toFixed(1)}% lost), RTT ${
              f.rttMs.toFixed(3)
            } ms` +
            (t.movers.length ? `, ${f.cpuUs.toFixed(2)} µs CPU/frame (${f.sysPct.toFixed(0)}% sys)` : ""),
        );
      }
    }

    const medians = Object.fromEntries(ORDER.map((k) => {
      const m = {} as Figures;
      for (const row of ROWS) m[row.key] = median(results[k].map((f) => f[row.key]));
      return [k, m];
    })) as Record<Key, Figures>;
    const labels = Object.fromEntries(topologies.map((t) => [t.key, t.label])) as Record<Key, string>;
    const loadEnd = loadavg();

    console.log(`\n${markdown(medians, labels)}\n`);
    console.log(
      [
        `Medians of ${rounds} round(s); (×r) is the value ÷ the kernel VXLAN's in the same run (lower is better for RTT and CPU).`,
        `Overlay MTU ${OVERLAY_MTU}, plain veth 1500. The kernel VXLAN runs with its default offloads on;`,
        `tx checksumming is turned off on vx0 only in the interop tests, where weft is the peer.`,
        `CPU per frame: utime + stime of both hosts' tincd / weft processes during the 1-stream TCP run`,
        `÷ data frames (received bytes ÷ MSS); ACKs ride along uncounted.`,
        `UDP 64 B is iperf3 -u -l 64 -b 0: on the kernel paths its own sender and receiver are the bound.`,
        `Load average at start ${loadStart}, at end ${loadEnd} (2 cores, shared with other sessions).`,
      ].join("\n"),
    );

    if (values.json) {
      const report = {
        started: started.toISOString(),
        rounds,
        seconds: SECONDS,
        overlayMtu: OVERLAY_MTU,
        kernelOffloads: "default (on)",
        loadavg: { start: loadStart, end: loadEnd },
        topologies: Object.fromEntries(ORDER.map((k) => [k, {
          label: labels[k],
          median: medians[k],
          rounds: results[k],
        }])),
        vsKernel: Object.fromEntries(ORDER.map((k) => [
          k,
          Object.fromEntries(
            ROWS.filter((r) => r.ratio).map((r) => [r.key, medians[k][r.key] / medians.kernel[r.key]]),
          ),
        ])),
        weftVsTinc: Object.fromEntries(
          ROWS.filter((r) => r.ratio).map((r) => [r.key, medians.weft[r.key] / medians.tinc[r.key]]),
        ),
      };
      // NaN (a figure that does not apply) becomes null in JSON.
      await Deno.writeTextFile(values.json, JSON.stringify(report, null, 2) + "\n");
      console.log(`JSON written to ${values.json}`);
    }
    return 0;
  } finally {
    clearTimeout(watchdog);
    await teardown();
    Deno.removeSignalListener("SIGINT", onInt);
    Deno.removeSignalListener("SIGTERM", onTerm);
  }
}

Deno.exit(await main());
