// npm run bench:e2e — two containers on two hosts, connected eleven ways, measured in one run:
//
//   veth    no overlay: c1 ─veth─ h1 ─underlay veth─ h2 ─veth─ c2, routed by the hosts (MTU 1500)
//   kernel  Linux VXLAN (VNI 42, port 4789) in a bridge with a veth to the container (MTU 1450)
//   tinc    tinc 1.0 in switch mode, no cipher, no digest, TAP moved into the container (MTU 1450)
//   tinc-cipher  the same with tinc 1.0's default cipher and digest (blowfish-CBC, SHA-1; MTU 1408)
//   wireguard    wireguard-go (userspace, L3), one wg interface per host, the container routed
//                through it by a veth, as in veth (tests/bench/wireguard.ts; MTU 1420, wg's default)
//   weft-esp     weft's default row with the VNI encrypted: ESP in UDP port 4500, AES-256-GCM
//                (tests/bench/esp_vtep.ts: `weft vtep` with static SAs; MTU 1408, an encrypted
//                network's)
//   floor   tests/bench/floor_forwarder.ts: the smallest Deno TAP ↔ VXLAN forwarder (no switch, no
//           Wasm, one frame per system call), the runtime's own per-packet cost, as weft's floor
//   weft    `weft vtep` on each host, TAP moved into the container (MTU 1450), once per offload
//           step, so that each step's gain is measured against the one before it:
//             --offload none         one frame per TAP read/write; recvmmsg/sendmmsg bursts
//             --offload tap          IFF_VNET_HDR TAPs: TSO super-frames in, cut by the core
//             --offload tap,gso      … and each cut super-frame sent as one UDP_SEGMENT message
//             (default) tap,gso,gro  … and UDP GRO receive, TCP segments coalesced for the TAP
//
// All share the underlay of cli/lab/topology.ts twoHosts(): h1 198.18.0.1/24 ─ h2 198.18.0.2/24, with
// c1 10.0.0.1 and c2 10.0.0.2. Every figure is the median of the rounds; rounds visit the
// topologies in turn (all set up at once, each in its own lab) so that load from other processes
// on this 2-core machine falls on all of them alike.
//
// Per topology and round: TCP 1 stream (CPU time of the userspace movers taken over it), TCP 4
// streams, UDP 64 B flood (references and default weft only), and for the userspace movers one
// more TCP 1-stream run under `perf stat` counting their system calls (kept apart so the counting
// cannot slow the throughput figures). Then, per round, ping RTT of every topology at once,
// interleaved (pingInterleaved).
//
//   --json PATH   also write the results as JSON
//   --quick       one round instead of three
//   --only K,…    only these topologies (e.g. weft,weft-esp for an A/B of the encrypted path);
//                 weft-esp-evp (weft-esp on OpenSSL's EVP instead of GnuTLS, as before GnuTLS)
//                 runs only when named here
//   --base DIR    also weft-esp-base: weft-esp run from another checkout (e.g. main's, with this
//                 branch's cli/commands/vtep.ts and tests/bench/esp_vtep.ts copied in), for an
//                 A/B of the encrypted path in the same run
//
// The encrypted rows end with the ratios issue #13 targets: weft-esp ÷ weft (≥ 0.6),
// ÷ tinc-cipher (≥ 4), ÷ wireguard (> 1).

import { parseArgs } from "node:util";
import { controlGet } from "../../cli/control/client.ts";
import type { StatsReply } from "../../cli/dataplane/protocol.ts";
import {
  DENO,
  GaveUp,
  kernelVtep,
  Lab,
  type Process,
  twoHosts,
  twoWeftHosts,
  type Vtep,
  waitFor,
  waitForLink,
} from "../../cli/lab/mod.ts";
import { tincPair } from "./tinc.ts";
import { wireguardPair } from "./wireguard.ts";
import { loadavg, runContext, writeReport } from "./report.ts";
import { ESP_KEYMAT_LEN, ESP_MTU_REDUCTION, ESP_PORT } from "../../cli/esp/esp.ts";
import type { StaticEsp } from "../../cli/commands/vtep.ts";

const OVERLAY_MTU = 1450;
/** An encrypted network's MTU (cli/esp/esp.ts), also given to tinc with its cipher. */
const ENCRYPTED_MTU = OVERLAY_MTU - ESP_MTU_REDUCTION;
/** wireguard-go's default MTU over a 1500-byte underlay. */
const WG_MTU = 1420;
const H1 = "198.18.0.1", H2 = "198.18.0.2";
const C1 = "10.0.0.1", C2 = "10.0.0.2";
/** Seconds per iperf3 test. */
const SECONDS = 2;
/** Whole run; past it the bench tears everything down and exits. */
const WATCHDOG_MS = 16 * 60_000;

type Key =
  | "veth"
  | "kernel"
  | "tinc"
  | "tinc-cipher"
  | "wireguard"
  | "floor"
  | "weft-none"
  | "weft-tap"
  | "weft-tap-gso"
  | "weft"
  | "weft-esp"
  | "weft-esp-evp"
  | "weft-esp-base";

interface Topology {
  key: Key;
  label: string;
  lab: Lab;
  /** The iperf3 client's and server's namespaces (c1, c2). */
  client: string;
  server: string;
  /** Userspace processes that move the frames, for CPU time and system calls; none for kernel paths. */
  movers: Process[];
  /** weft's VTEPs, for their I/O counters. */
  vteps: Vtep[];
  /** Whether the UDP 64 B flood is measured (references and default weft). */
  udp: boolean;
}

interface Figures {
  tcp1: number;
  tcp4: number;
  udpPps: number;
  udpLoss: number;
  /** Pings that got no answer within 1 s, % of those sent (a lost ping is a loss, not a gap). */
  pingLoss: number;
  /** Median and 90th percentile of the answered pings' RTTs, ms; over all rounds' in the summary. */
  rttMs: number;
  rttP90: number;
  /** CPU seconds (user + sys, both movers) per GB received, over the 1-stream run. */
  cpuPerGB: number;
  /** Share of that CPU time spent in the kernel (stime), in %. */
  sysPct: number;
  /** System calls of both movers per TCP data frame (received bytes ÷ MSS), from perf. */
  syscalls: number;
  /** … of them read/readv/write/writev (TAP I/O, plus the odd eventfd or log write). */
  rwCalls: number;
  /** … of them send/recv family (sendmmsg, recvmmsg, sendmsg, recvmsg, sendto, recvfrom). */
  sockCalls: number;
  /** weft: TCP data frames per burst (one burst = one poll → core.process() → transmit), both VTEPs. */
  framesPerBurst: number;
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
  return kernelPath("veth", "plain veth (routed)", lab, c1, c2);
}

/** A path the kernel moves alone (no userspace movers, no weft VTEPs), UDP flood measured. */
function kernelPath(key: Key, label: string, lab: Lab, client: string, server: string): Topology {
  return { key, label, lab, client, server, movers: [], vteps: [], udp: true };
}

/** The kernel's VXLAN on each host, with the kernel's default offloads (cli/lab/topology.ts kernelVtep). */
async function setupKernel(lab: Lab): Promise<Topology> {
  const { h1, h2, c1, c2 } = await twoHosts(lab);
  await kernelVtep(lab, h1, c1, H1, H2, `${C1}/24`, { mtu: OVERLAY_MTU });
  await kernelVtep(lab, h2, c2, H2, H1, `${C2}/24`, { mtu: OVERLAY_MTU });
  return kernelPath("kernel", "kernel VXLAN", lab, c1, c2);
}

/** tinc 1.0 in switch mode; its configuration lives under `dir`, which the caller removes. */
async function setupTinc(lab: Lab, dir: string, cipher = false): Promise<Topology> {
  const { h1, h2, c1, c2 } = await twoHosts(lab);
  const node = (i: 1 | 2, host: string, container: string, underlay: string, overlay: string) => ({
    name: `h${i}`,
    host,
    container,
    underlay,
    overlay: `${overlay}/24`,
    tap: `${lab.prefix}t${i}`,
  });
  const movers = await tincPair(
    lab,
    `${dir}/${lab.prefix}`,
    node(1, h1, c1, H1, C1),
    node(2, h2, c2, H2, C2),
    cipher ? ENCRYPTED_MTU : OVERLAY_MTU,
    cipher,
  );
  const [key, label]: [Key, string] = cipher
    ? ["tinc-cipher", "tinc 1.0 switch, blowfish+sha1"]
    : ["tinc", "tinc 1.0 switch"];
  return { key, label, lab, client: c1, server: c2, movers, vteps: [], udp: true };
}

/** wireguard-go on each host (tests/bench/wireguard.ts); keys under `dir`, which the caller removes. */
async function setupWireguard(lab: Lab, dir: string): Promise<Topology> {
  const { h1, h2, c1, c2 } = await twoHosts(lab);
  const node = (i: 1 | 2, host: string, container: string, underlay: string, overlay: string) => ({
    host,
    container,
    underlay,
    overlay,
    iface: `${lab.prefix}w${i}`,
  });
  const movers = await wireguardPair(lab, dir, node(1, h1, c1, H1, C1), node(2, h2, c2, H2, C2), WG_MTU);
  return {
    key: "wireguard",
    label: "wireguard-go",
    lab,
    client: c1,
    server: c2,
    movers,
    vteps: [],
    udp: true,
  };
}

/**
 * weft's default row with VNI 42 encrypted (tests/bench/esp_vtep.ts), at an encrypted network's
 * MTU. Each host's outbound SA is the other's inbound one; fresh random keys for every run.
 */
async function setupWeftEsp(lab: Lab, dir: string, evp = false, base?: string): Promise<Topology> {
  // cli/sys/libgnutls.ts falls back to EVP when GnuTLS does not load.
  if (evp) lab.env = { ...lab.env, WEFT_LIBGNUTLS: "/nonexistent/libgnutls.so.30" };
  const { h1, h2, c1, c2 } = await twoHosts(lab);
  const sa = (spi: number) => ({ spi, keymat: [...crypto.getRandomValues(new Uint8Array(ESP_KEYMAT_LEN))] });
  const sas = [sa(0x1001), sa(0x1002)];
  const vteps: Vtep[] = [];
  for (const [i, h, c, local, peer] of [[0, h1, c1, H1, H2], [1, h2, c2, H2, H1]] as const) {
    const file = `${dir}/${lab.prefix}esp${i + 1}.json`;
    const esp: StaticEsp = { port: ESP_PORT, out: sas[i], in: [sas[1 - i]] };
    await Deno.writeTextFile(file, JSON.stringify(esp), { mode: 0o600 });
    vteps.push(
      await lab.vtep(
        h,
        [
          ...[
            "--vni",
            "42",
            "--tap",
            `${lab.prefix}t${i + 1}`,
            "--netns",
            c,
            "--address",
            `${[C1, C2][i]}/24`,
          ],
          ...["--listen", local, "--peer", peer, "--mtu", String(ENCRYPTED_MTU)],
        ],
        undefined,
        [`${base ?? "."}/tests/bench/esp_vtep.ts`, "--esp", file],
      ),
    );
  }
  return {
    key: base ? "weft-esp-base" : evp ? "weft-esp-evp" : "weft-esp",
    label: base ? "weft encrypted, base" : evp ? "weft encrypted, EVP" : "weft encrypted (ESP)",
    lab,
    client: c1,
    server: c2,
    movers: vteps.map((v) => v.process),
    vteps,
    udp: true,
  };
}

/** The floor forwarder on each host, with the same TAP placement, addresses and MTU as weft's. */
async function setupFloor(lab: Lab): Promise<Topology> {
  const { h1, h2, c1, c2 } = await twoHosts(lab);
  const forwarder = async (i: 1 | 2, h: string, c: string, overlay: string, local: string, peer: string) => {
    const tap = `${lab.prefix}t${i}`;
    const p = lab.spawn(h, [
      DENO,
      "run",
      "-A",
      "tests/bench/floor_forwarder.ts",
      ...[tap, c, `${overlay}/24`, local, peer],
    ], `floor forwarder ${i}`);
    await waitForLink(c, tap, p, 15000); // warmUp() then waits for the path to carry pings
    return p;
  };
  const f1 = await forwarder(1, h1, c1, C1, H1, H2);
  const f2 = await forwarder(2, h2, c2, C2, H2, H1);
  return {
    key: "floor",
    label: "Deno floor",
    lab,
    client: c1,
    server: c2,
    movers: [f1, f2],
    vteps: [],
    udp: false,
  };
}

/** weft's offload steps, in the order they were added; the last is the CLI's default. */
const WEFT_STEPS: { key: Key; offload?: string; label: string; change: string }[] = [
  { key: "weft-none", offload: "none", label: "weft none", change: "" },
  {
    key: "weft-tap",
    offload: "tap",
    label: "weft tap",
    change: "TSO super-frames from the TAP, cut by the core",
  },
  { key: "weft-tap-gso", offload: "tap,gso", label: "weft tap,gso", change: "UDP_SEGMENT sends" },
  {
    key: "weft",
    label: "weft tap,gso,gro (default)",
    change: "UDP GRO receive, coalesced for the TAP",
  },
];

/** `weft vtep` on each host with the CLI's defaults (MTU 1450), and `--offload` if given. */
async function setupWeft(lab: Lab, key: Key, label: string, offload?: string): Promise<Topology> {
  const { c1, c2, v1, v2 } = await twoWeftHosts(lab, offload ? ["--offload", offload] : []);
  return {
    key,
    label,
    lab,
    client: c1,
    server: c2,
    movers: [v1.process, v2.process],
    vteps: [v1, v2],
    udp: offload === undefined,
  };
}

// ── measurements ───────────────────────────────────────────────────────────────────────────

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function median(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The q-quantile (nearest rank). */
function quantile(xs: number[], q: number): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.max(0, Math.ceil(q * s.length) - 1)];
}

/** A one-shot iperf3 server in the server namespace, once it listens. */
async function iperfServer(t: Topology): Promise<Process> {
  const p = t.lab.spawn(t.server, ["iperf3", "-s", "-1", "-B", C2], "iperf3 -s");
  try {
    await waitFor(`iperf3 -s in ${t.server}`, async () => {
      if (!p.running) throw new GaveUp("iperf3 -s exited");
      return (await t.lab.exec(t.server, ["ss", "-Hltn", "sport", "=", ":5201"])).stdout.trim() !== "";
    }, 5000, 50);
    return p;
  } catch {
    await p.stop(1000);
    throw new Error(`iperf3 server in ${t.server} did not listen within 5 s: ${await p.stderr}`);
  }
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

/** TCP goodput at the receiver, bytes received, and the data frames it took (bytes ÷ MSS). */
async function tcp(t: Topology, streams: number): Promise<{ gbps: number; bytes: number; frames: number }> {
  const j = await iperf(t, streams > 1 ? ["-P", String(streams)] : []);
  if (!j) return { gbps: NaN, bytes: NaN, frames: NaN };
  const mss = j.start.tcp_mss_default ?? OVERLAY_MTU - 52; // 20 IPv4 + 20 TCP + 12 timestamps
  const got = j.end.sum_received;
  return { gbps: got.bits_per_second / 1e9, bytes: got.bytes, frames: got.bytes / mss };
}

/** 64-byte UDP datagrams as fast as the sender can: packets/s the receiver got, and loss. */
async function udp64(t: Topology): Promise<{ pps: number; loss: number }> {
  const j = await iperf(t, ["-u", "-l", "64", "-b", "0"]);
  if (!j) return { pps: NaN, loss: NaN };
  const got = j.end.sum_received;
  return { pps: (got.packets - got.lost_packets) / got.seconds, loss: got.lost_percent };
}

/** Pings per topology and round: the VM's scheduling noise needs dozens for a steady median. */
const PINGS = 60;
/** Seconds between one topology's pings; the topologies share the interval, staggered. */
const PING_INTERVAL_S = 0.1;

/**
 * RTTs in ms of PINGS pings per topology, every topology pinging at once: each sends every
 * PING_INTERVAL_S, the starts staggered by PING_INTERVAL_S ÷ the topologies, so that no two
 * pings overlap (a ping is < 1 ms, the stagger ~12 ms) and every topology meets the shared VM's
 * slow and quick moments alike. Pinged one after another, minutes of drift on this VM (×1.3 for
 * the same path) would land on whichever topology ran then.
 */
async function pingInterleaved(ts: Topology[]): Promise<Map<Key, number[]>> {
  // RTTs of the answered pings; PINGS − their count were lost (ping's -c PINGS sends exactly PINGS).
  const stagger = PING_INTERVAL_S * 1000 / ts.length;
  const pinged = ts.map(async (t, i): Promise<[Key, number[]]> => {
    await sleep(i * stagger);
    const r = await t.lab.exec(
      t.client,
      ["ping", "-c", String(PINGS), "-i", String(PING_INTERVAL_S), "-W", "1", C2],
      { timeoutMs: (PINGS * PING_INTERVAL_S + 10) * 1000 },
    );
    const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
    if (rtts.length < PINGS) {
      console.error(`  ${t.label}: ${PINGS - rtts.length} of ${PINGS} pings lost (counted as ping loss)`);
    }
    return [t.key, rtts];
  });
  return new Map(await Promise.all(pinged));
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

/** Tracepoints perf counts in the system-call window: all entries, then the I/O calls by family. */
const RW_CALLS = ["read", "readv", "write", "writev"];
const SOCK_CALLS = ["sendmmsg", "recvmmsg", "sendmsg", "recvmsg", "sendto", "recvfrom"];
const PERF_EVENTS = [
  "raw_syscalls:sys_enter",
  ...[...RW_CALLS, ...SOCK_CALLS].map((c) => `syscalls:sys_enter_${c}`),
];

/** weft's counters that tell how it batched: bursts, datagrams, and the core's offload work. */
interface WeftIo {
  bursts: number;
  udp_datagrams: number;
  rx_frames: number;
  tx_frames: number;
  gso_segments: number;
  gro_merged: number;
  drops: number;
}

async function weftIo(vteps: Vtep[]): Promise<WeftIo> {
  const sum: WeftIo = {
    bursts: 0,
    udp_datagrams: 0,
    rx_frames: 0,
    tx_frames: 0,
    gso_segments: 0,
    gro_merged: 0,
    drops: 0,
  };
  for (const v of vteps) {
    // The control socket directly: `weft stats` would start a Deno process per read.
    const s = await controlGet<StatsReply>(v.control, "/stats");
    sum.bursts += s.io.bursts;
    sum.udp_datagrams += s.io.udp_datagrams;
    for (const { counters: c } of s.vnis) {
      sum.rx_frames += c.rx_frames;
      sum.tx_frames += c.tx_frames;
      sum.gso_segments += c.gso_segments;
      sum.gro_merged += c.gro_merged;
      sum.drops += c.drops;
    }
  }
  return sum;
}

/**
 * A TCP 1-stream run with `perf stat` counting the movers' system calls (every thread; in-kernel
 * counters, no per-call trip to user space as with strace). Per TCP data frame received.
 */
async function syscallWindow(
  t: Topology,
): Promise<{ counts: Record<string, number>; io?: WeftIo; frames: number }> {
  const io0 = t.vteps.length ? await weftIo(t.vteps) : undefined;
  const pids = t.movers.map((p) => p.pid).join(",");
  // Bounded by `--timeout` should the SIGINT below never come; the lab kills it on teardown too.
  const perf = t.lab.spawn(t.client, [
    "perf",
    "stat",
    "-x,",
    "--timeout",
    String((SECONDS + 15) * 1000),
    "-e",
    PERF_EVENTS.join(","),
    "-p",
    pids,
  ], "perf stat");
  await sleep(300); // perf attaches to every thread
  const run = await tcp(t, 1);
  perf.signal("SIGINT");
  await perf.status;
  const io1 = io0 ? await weftIo(t.vteps) : undefined;
  const counts: Record<string, number> = {};
  for (const line of (await perf.stderr).split("\n")) {
    const [count, , event] = line.split(",");
    if (!event || !PERF_EVENTS.includes(event)) continue;
    // "<not counted>": the threads never ran while counting.
    counts[event.replace(/^.*:(sys_enter_)?/, "")] = /^\d+$/.test(count) ? Number(count) : 0;
  }
  if (!("sys_enter" in counts)) {
    console.error(`  warning: ${t.label}: perf stat gave no counts: ${await perf.stderr}`);
  }
  const io = io0 && io1
    ? Object.fromEntries(
      Object.entries(io1).map(([k, v]) => [k, v - io0[k as keyof WeftIo]]),
    ) as unknown as WeftIo
    : undefined;
  return { counts, io, frames: run.frames };
}

interface Measured {
  figures: Figures;
  /** Raw material of the system-call figures, for the JSON report. */
  syscalls?: { counts: Record<string, number>; io?: WeftIo; frames: number };
  /** The round's ping RTTs, ms. */
  rtts?: number[];
}

async function measure(t: Topology): Promise<Measured> {
  const cpu0 = cpuSeconds(t.movers);
  const one = await tcp(t, 1);
  const cpu1 = cpuSeconds(t.movers);
  const user = cpu1.user - cpu0.user, sys = cpu1.sys - cpu0.sys;
  const four = await tcp(t, 4);
  const udp = t.udp ? await udp64(t) : { pps: NaN, loss: NaN };
  const movers = t.movers.length > 0;
  const w = movers ? await syscallWindow(t) : undefined;
  const per = (n: number | undefined) => (w && n !== undefined ? n / w.frames : NaN);
  const sum = (names: string[]) => w ? names.reduce((s, n) => s + (w.counts[n] ?? 0), 0) : undefined;
  return {
    figures: {
      tcp1: one.gbps,
      tcp4: four.gbps,
      udpPps: udp.pps,
      udpLoss: udp.loss,
      pingLoss: NaN, // the round's interleaved pings fill these in
      rttMs: NaN,
      rttP90: NaN,
      cpuPerGB: movers ? (user + sys) / (one.bytes / 1e9) : NaN,
      sysPct: movers ? 100 * sys / (user + sys) : NaN,
      syscalls: per(w?.counts.sys_enter),
      rwCalls: per(sum(RW_CALLS)),
      sockCalls: per(sum(SOCK_CALLS)),
      framesPerBurst: w?.io?.bursts ? w.frames / w.io.bursts : NaN,
    },
    syscalls: w,
  };
}

/** Waits until c1 reaches c2, then runs 1 s of TCP unrecorded (V8 tiers up weft's loop, tinc
 * settles its path MTU so that full frames go by UDP rather than its TCP meta connection). */
async function warmUp(t: Topology): Promise<void> {
  const reached = async () => (await t.lab.exec(t.client, ["ping", "-c", "1", "-W", "1", C2])).code === 0;
  await waitFor(`${C1} reaching ${C2}`, reached, 20000, 200).catch(() => {
    throw new Error(`${t.label}: ${C1} cannot reach ${C2} after 20 s`);
  });
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
  /** Whether value ÷ the kernel's means anything (not for shares, nor where the kernel has none). */
  ratio: boolean;
}

const fixed = (d: number) => (v: number) => v.toFixed(d);

const ROW: Record<keyof Figures, Row> = {
  tcp1: { key: "tcp1", label: "TCP 1 stream, Gbit/s", format: fixed(2), ratio: true },
  tcp4: { key: "tcp4", label: "TCP 4 streams, Gbit/s", format: fixed(2), ratio: true },
  udpPps: {
    key: "udpPps",
    label: "UDP 64 B received, kpps",
    format: (v) => (v / 1e3).toFixed(0),
    ratio: true,
  },
  udpLoss: { key: "udpLoss", label: "UDP 64 B loss, %", format: fixed(1), ratio: false },
  pingLoss: { key: "pingLoss", label: "ping loss, %", format: fixed(1), ratio: false },
  rttMs: { key: "rttMs", label: "ping RTT median (answered), ms", format: fixed(3), ratio: true },
  rttP90: { key: "rttP90", label: "ping RTT p90 (answered), ms", format: fixed(3), ratio: true },
  cpuPerGB: { key: "cpuPerGB", label: "CPU s per GB received", format: fixed(2), ratio: false },
  sysPct: { key: "sysPct", label: "… of it in the kernel, %", format: fixed(0), ratio: false },
  syscalls: { key: "syscalls", label: "syscalls per data frame", format: fixed(3), ratio: false },
  rwCalls: { key: "rwCalls", label: "… read/write family (TAP)", format: fixed(3), ratio: false },
  sockCalls: { key: "sockCalls", label: "… send/recv family (UDP)", format: fixed(3), ratio: false },
  framesPerBurst: { key: "framesPerBurst", label: "data frames per burst", format: fixed(1), ratio: false },
};

/** Whether a figure applies to a topology: a NaN there is a failed measurement, not a blank. */
function applies(t: Topology, key: keyof Figures): boolean {
  if (key === "udpPps" || key === "udpLoss") return t.udp;
  if (key === "framesPerBurst") return t.vteps.length > 0;
  if (["cpuPerGB", "sysPct", "syscalls", "rwCalls", "sockCalls"].includes(key)) return t.movers.length > 0;
  return true;
}

/** Per topology and figure, how many rounds gave no value where one applies (a failed run). */
type Missing = Record<Key, Partial<Record<keyof Figures, number>>>;

/** Figures where lower is better: a step's gain is old ÷ new for these, new ÷ old for the rest. */
const LOWER_IS_BETTER = new Set<keyof Figures>([
  "rttMs",
  "rttP90",
  "cpuPerGB",
  "syscalls",
  "rwCalls",
  "sockCalls",
]);

const ratioText = (r: number) => Number.isFinite(r) ? `×${r < 0.1 ? r.toFixed(3) : r.toFixed(2)}` : "—";

const REFERENCES: Key[] = ["veth", "kernel", "tinc", "floor", "weft"];
/** The encrypted rows, with cleartext weft for scale. */
const ENCRYPTED: Key[] = ["weft", "weft-esp", "weft-esp-evp", "weft-esp-base", "tinc-cipher", "wireguard"];
/** Issue #13's targets for weft-esp: ÷ this topology's figure, at least this much (× ≥). */
const ESP_TARGETS: { vs: Key; min: number; strict?: boolean }[] = [
  { vs: "weft", min: 0.6 },
  { vs: "tinc-cipher", min: 4 },
  { vs: "wireguard", min: 1, strict: true },
  // The A/B of the AEAD library (only with --only …,weft-esp-evp): GnuTLS should be ahead.
  { vs: "weft-esp-evp", min: 1, strict: true },
  // … and of this branch against another checkout (--base DIR).
  { vs: "weft-esp-base", min: 1, strict: true },
];
const ESP_RATIO_ROWS: (keyof Figures)[] = ["tcp1", "tcp4", "udpPps", "rttMs", "cpuPerGB"];

/** weft-esp ÷ each reference, per figure (RTT and CPU inverted: ×>1 is weft-esp better). */
function espRatios(
  medians: Partial<Record<Key, Figures>>,
): Record<string, Partial<Record<keyof Figures, number>>> {
  const esp = medians["weft-esp"];
  return Object.fromEntries(
    ESP_TARGETS.filter(({ vs }) => medians[vs] !== undefined).map(({ vs }) => [
      vs,
      Object.fromEntries(ESP_RATIO_ROWS.map((k) => {
        const a = esp?.[k] ?? NaN, b = medians[vs]?.[k] ?? NaN;
        return [k, LOWER_IS_BETTER.has(k) ? b / a : a / b];
      })),
    ]),
  );
}

/** The targets table: weft-esp ÷ cleartext weft, tinc with cipher, wireguard-go. */
function espTable(medians: Partial<Record<Key, Figures>>): string {
  const r = espRatios(medians);
  const lines = [
    `| weft encrypted ÷ | target | ${
      ESP_RATIO_ROWS.map((k) => ROW[k].label.replace(/,.*$/, "")).join(" | ")
    } |`,
    `|---|---|${ESP_RATIO_ROWS.map(() => "---:").join("|")}|`,
  ];
  for (const t of ESP_TARGETS.filter((t) => medians[t.vs] !== undefined)) {
    const cells = ESP_RATIO_ROWS.map((k) => {
      const v = r[t.vs][k]!;
      const met = t.strict ? v > t.min : v >= t.min;
      return Number.isFinite(v)
        ? `${ratioText(v)}${k === "tcp1" || k === "tcp4" ? (met ? " ✓" : " ✗") : ""}`
        : "—";
    });
    lines.push(`| ${t.vs} | ${t.strict ? ">" : "≥"} ${t.min} (TCP) | ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}
const STEPS: Key[] = WEFT_STEPS.map((s) => s.key);

/** One table: figures down, topologies across, each value with its ratio to the kernel's. */
function table(
  medians: Record<Key, Figures>,
  labels: Record<Key, string>,
  keys: Key[],
  rows: (keyof Figures)[],
  weftVsTinc: boolean,
  missing: Missing,
  rounds: number,
): string {
  const lines = [
    `| figure | ${keys.map((k) => labels[k]).join(" | ")} |${weftVsTinc ? " weft ÷ tinc |" : ""}`,
    `|---|${keys.map(() => "---:").join("|")}|${weftVsTinc ? "---:|" : ""}`,
  ];
  for (const key of rows) {
    const row = ROW[key];
    const kernel = medians.kernel?.[key] ?? NaN;
    const cells = keys.map((k) => {
      const v = medians[k][key];
      // A figure some rounds failed to give is marked with the rounds it stands on.
      const lost = missing[k]?.[key] ?? 0;
      const mark = lost > 0 ? ` [${rounds - lost}/${rounds} rounds]` : "";
      if (!Number.isFinite(v)) return lost > 0 ? `missing${mark}` : "—";
      const vsKernel = row.ratio && k !== "kernel" && Number.isFinite(kernel)
        ? ` (${ratioText(v / kernel)})`
        : "";
      return row.format(v) + vsKernel + mark;
    });
    const tail = weftVsTinc
      ? ` ${
        key === "udpLoss" || key === "pingLoss" || key === "sysPct"
          ? "—"
          : ratioText((medians.weft?.[key] ?? NaN) / (medians.tinc?.[key] ?? NaN))
      } |`
      : "";
    lines.push(`| ${row.label} | ${cells.join(" | ")} |${tail}`);
  }
  return lines.join("\n");
}

const GAIN_ROWS: (keyof Figures)[] = ["tcp1", "tcp4", "rttMs", "cpuPerGB", "syscalls"];

/** Each offload step against the one before it (and all of them against none): ×>1 is better. */
function gains(medians: Record<Key, Figures>): string {
  const lines = [
    `| step | what it adds | ${GAIN_ROWS.map((k) => ROW[k].label.replace(/,.*$/, "")).join(" | ")} |`,
    `|---|---|${GAIN_ROWS.map(() => "---:").join("|")}|`,
  ];
  const gain = (from: Key, to: Key, k: keyof Figures) => {
    const a = medians[from][k], b = medians[to][k];
    return ratioText(LOWER_IS_BETTER.has(k) ? a / b : b / a);
  };
  for (let i = 1; i < WEFT_STEPS.length; i++) {
    const from = WEFT_STEPS[i - 1], to = WEFT_STEPS[i];
    const name = `${from.offload ?? "tap,gso,gro"} → ${to.offload ?? "tap,gso,gro"}`;
    lines.push(`| ${name} | ${to.change} | ${GAIN_ROWS.map((k) => gain(from.key, to.key, k)).join(" | ")} |`);
  }
  const first = STEPS[0], last = STEPS[STEPS.length - 1];
  lines.push(
    `| none → tap,gso,gro | all offloads | ${GAIN_ROWS.map((k) => gain(first, last, k)).join(" | ")} |`,
  );
  return lines.join("\n");
}

// ── main ───────────────────────────────────────────────────────────────────────────────────

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      json: { type: "string" },
      quick: { type: "boolean" },
      only: { type: "string" },
      base: { type: "string" },
    },
    strict: true,
  });
  const rounds = values.quick ? 1 : 3;
  const only = values.only?.split(",");
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
  const context = runContext();
  const loadStart = loadavg();
  console.log(`weft e2e bench, ${started.toISOString()}, ${rounds} round(s) of ${SECONDS} s iperf3 tests`);
  console.log(`load average at start: ${loadStart}`);
  try {
    type Setup = [Key, (lab: Lab) => Promise<Topology>];
    const setups: Setup[] = [
      ["veth", setupVeth],
      ["kernel", setupKernel],
      ["tinc", (lab) => setupTinc(lab, dir)],
      ["tinc-cipher", (lab) => setupTinc(lab, dir, true)],
      ["wireguard", (lab) => setupWireguard(lab, dir)],
      ["floor", setupFloor],
      ...WEFT_STEPS.map((s): Setup => [s.key, (lab) => setupWeft(lab, s.key, s.label, s.offload)]),
      ["weft-esp", (lab) => setupWeftEsp(lab, dir)],
      ["weft-esp-evp", (lab) => setupWeftEsp(lab, dir, true)],
      ...(values.base
        ? [["weft-esp-base", (lab: Lab) => setupWeftEsp(lab, dir, false, values.base)] as Setup]
        : []),
    ];
    const optIn: Key[] = ["weft-esp-evp"];
    const unknown = only?.filter((k) => !setups.some(([key]) => key === k)) ?? [];
    if (unknown.length) throw new Error(`--only: unknown topology ${unknown.join(", ")}`);
    const topologies: Topology[] = [];
    const chosen = (key: Key) =>
      (only ? only.includes(key) : !optIn.includes(key)) || key === "weft-esp-base";
    for (const [key, setup] of setups.filter(([key]) => chosen(key))) {
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
    const keys = topologies.map((t) => t.key);

    const results = Object.fromEntries(keys.map((k) => [k, [] as Measured[]])) as Record<Key, Measured[]>;
    for (let r = 0; r < rounds; r++) {
      // Rotate the order each round so no topology always runs right after the UDP flood of another.
      for (let i = 0; i < topologies.length; i++) {
        const t = topologies[(i + r) % topologies.length];
        const m = await measure(t);
        results[t.key].push(m);
        const f = m.figures;
        console.log(
          `  round ${r + 1} ${t.key}: TCP ${f.tcp1.toFixed(2)}/${f.tcp4.toFixed(2)} Gbit/s` +
            (t.udp ? `, UDP ${(f.udpPps / 1e3).toFixed(0)} kpps (${f.udpLoss.toFixed(1)}% lost)` : "") +
            (t.movers.length
              ? `, ${f.cpuPerGB.toFixed(2)} CPU s/GB (${f.sysPct.toFixed(0)}% sys), ` +
                `${f.syscalls.toFixed(3)} syscalls/frame`
              : ""),
        );
      }
      const rtts = await pingInterleaved(topologies);
      for (const t of topologies) {
        const m = results[t.key][r];
        m.rtts = rtts.get(t.key) ?? [];
        m.figures.pingLoss = 100 * (PINGS - m.rtts.length) / PINGS;
        m.figures.rttMs = median(m.rtts);
        m.figures.rttP90 = quantile(m.rtts, 0.9);
      }
      console.log(
        `  round ${r + 1} ping RTT median, ms (${PINGS} each, interleaved): ` +
          topologies.map((t) => `${t.key} ${results[t.key][r].figures.rttMs.toFixed(3)}`).join(", "),
      );
    }

    const medians = Object.fromEntries(keys.map((k) => {
      const m = {} as Figures;
      for (const key of Object.keys(ROW) as (keyof Figures)[]) {
        m[key] = median(results[k].map((r) => r.figures[key]));
      }
      // RTT over every round's pings together: a median of three medians would hang on one round.
      const rtts = results[k].flatMap((r) => r.rtts ?? []);
      m.rttMs = median(rtts);
      m.rttP90 = quantile(rtts, 0.9);
      m.pingLoss = 100 * (PINGS * results[k].length - rtts.length) / (PINGS * results[k].length);
      return [k, m];
    })) as Record<Key, Figures>;
    const missing = Object.fromEntries(topologies.map((t) => [
      t.key,
      Object.fromEntries(
        (Object.keys(ROW) as (keyof Figures)[])
          .filter((key) => applies(t, key) && key !== "pingLoss")
          .map((key) => [key, results[t.key].filter((r) => !Number.isFinite(r.figures[key])).length])
          .filter(([, n]) => (n as number) > 0),
      ),
    ])) as Missing;
    for (const [k, m] of Object.entries(missing)) {
      for (const [key, n] of Object.entries(m)) {
        console.error(`  ${k}: ${ROW[key as keyof Figures].label} missing in ${n} of ${rounds} round(s)`);
      }
    }
    const labels = Object.fromEntries(topologies.map((t) => [t.key, t.label])) as Record<Key, string>;
    const loadEnd = loadavg();

    // Every table: latency and cost per byte; references add the UDP flood, steps the call counts.
    const pathRows: (keyof Figures)[] = ["pingLoss", "rttMs", "rttP90", "cpuPerGB", "sysPct", "syscalls"];
    const referenceRows: (keyof Figures)[] = ["tcp1", "tcp4", "udpPps", "udpLoss", ...pathRows];
    const stepRows: (keyof Figures)[] = [
      "tcp1",
      "tcp4",
      ...pathRows,
      "rwCalls",
      "sockCalls",
      "framesPerBurst",
    ];
    const present = (ks: Key[]) => ks.filter((k) => keys.includes(k));
    const print = (ks: Key[], rows: (keyof Figures)[], vsTinc: boolean) => {
      if (present(ks).length) {
        console.log(`${table(medians, labels, present(ks), rows, vsTinc, missing, rounds)}\n`);
      }
    };
    console.log();
    print(REFERENCES, referenceRows, true);
    print(["kernel", ...STEPS], stepRows, false);
    if (STEPS.every((k) => keys.includes(k))) console.log(`${gains(medians)}\n`);
    if (keys.includes("weft-esp")) {
      print(ENCRYPTED, referenceRows, false);
      console.log(`${espTable(medians)}\n`);
    }
    console.log(
      [
        `Medians of ${rounds} round(s) of ${SECONDS} s iperf3 runs; (×r) is the value ÷ the kernel VXLAN's in the same run.`,
        `Ping RTT: ${PINGS} pings per topology and round, every topology at once, staggered (pingInterleaved);`,
        `median and p90 over all rounds' answered pings together; a lost ping (no reply in 1 s) counts in`,
        `ping loss, never as a gap. A figure marked [k/n rounds] stands on the k rounds whose run worked.`,
        `Overlay MTU ${OVERLAY_MTU}, plain veth 1500, encrypted weft and tinc with cipher ${ENCRYPTED_MTU}, wireguard-go ${WG_MTU}.`,
        `The kernel VXLAN runs with its default offloads on. Encrypted ratios: ×>1 is weft encrypted better.`,
        `CPU: utime + stime (/proc/PID/stat, all threads) of both hosts' tincd / weft processes during the`,
        `1-stream TCP run ÷ GB received. Syscalls: perf stat -e raw_syscalls:sys_enter (and per-call`,
        `tracepoints) on both processes during a separate 1-stream TCP run, ÷ data frames (bytes ÷ MSS);`,
        `ACKs ride along uncounted. Data frames per burst: the same ÷ both VTEPs' io.bursts.`,
        `Step gains: ×>1 is better (throughput new ÷ old; RTT, CPU and syscalls old ÷ new).`,
        `UDP 64 B (iperf3 -u -l 64 -b 0) only for the references, default and encrypted weft; on the kernel paths`,
        `iperf3's own sender and receiver are the bound.`,
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
        pingsPerRound: PINGS,
        missingRounds: missing,
        topologies: Object.fromEntries(keys.map((k) => [k, {
          label: labels[k],
          offload: WEFT_STEPS.find((s) => s.key === k)?.offload ?? (k === "weft" ? "default" : undefined),
          median: medians[k],
          rounds: results[k],
        }])),
        vsKernel: Object.fromEntries(keys.map((k) => {
          const rows = Object.values(ROW).filter((r) => r.ratio);
          return [
            k,
            Object.fromEntries(
              rows.map((r) => [r.key, medians[k][r.key] / (medians.kernel?.[r.key] ?? NaN)]),
            ),
          ];
        })),
        weftVsTinc: Object.fromEntries(
          Object.values(ROW).filter((r) => r.key !== "udpLoss" && r.key !== "pingLoss" && r.key !== "sysPct")
            .map((r) => [r.key, (medians.weft?.[r.key] ?? NaN) / (medians.tinc?.[r.key] ?? NaN)]),
        ),
        /** weft-esp ÷ weft, tinc-cipher, wireguard (RTT and CPU inverted: > 1 is weft-esp better). */
        encryptedVs: espRatios(medians),
      };
      // NaN (a figure that does not apply) becomes null in JSON.
      writeReport(values.json, context, { ...report, base: values.base });
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
