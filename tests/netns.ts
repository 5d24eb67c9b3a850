// Network-namespace labs for end-to-end tests. Every name carries a per-run random prefix so
// parallel runs never collide; `Lab.close()` kills what the lab started and deletes every
// namespace it made (their veths, TAPs and bridges go with them). Addresses used: underlay
// 198.18.0.0/15, overlay 10.0.0.0/8, only inside these namespaces.

// Every process a lab starts gets LAB_ENV: no Deno update check phoning out, nor its file reads.
import { LAB_ENV } from "../cli/control/daemon/lab.ts";

export const ROOT = new URL("..", import.meta.url).pathname;
export const DENO = `${ROOT}node_modules/.bin/deno`;

export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, bounded in time. */
export async function run(cmd: string[], { timeoutMs = 20000, check = false } = {}): Promise<Output> {
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    env: LAB_ENV,
    stdout: "piped",
    stderr: "piped",
    cwd: ROOT,
  })
    .spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  const r = {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
  if (check && r.code !== 0) throw new Error(`${cmd.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
  return r;
}

export function randomPrefix(): string {
  return `w${crypto.getRandomValues(new Uint16Array(1))[0].toString(16).padStart(4, "0")}`;
}

export class Process {
  readonly stdout: Promise<string>;
  readonly stderr: Promise<string>;
  readonly status: Promise<Deno.CommandStatus>;
  private exited = false;

  constructor(readonly name: string, readonly child: Deno.ChildProcess) {
    const text = (s: ReadableStream<Uint8Array>) => new Response(s).text();
    this.stdout = text(child.stdout);
    this.stderr = text(child.stderr);
    this.status = child.status.then((s) => {
      this.exited = true;
      return s;
    });
  }

  get pid(): number {
    return this.child.pid;
  }

  get running(): boolean {
    return !this.exited;
  }

  signal(sig: Deno.Signal): void {
    if (this.exited) return;
    try {
      this.child.kill(sig);
    } catch { /* exited meanwhile */ }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit status. */
  async stop(graceMs = 5000): Promise<Deno.CommandStatus> {
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    const s = await this.status;
    clearTimeout(timer);
    return s;
  }
}

export class Lab {
  readonly prefix = randomPrefix();
  /** The environment of every process spawn() starts (a test may add to it, e.g. V8 flags). */
  env: Record<string, string> = { ...LAB_ENV };
  private readonly namespaces: string[] = [];
  private readonly processes: Process[] = [];
  private readonly files: string[] = [];

  /** A fresh namespace named prefix + short, with loopback up. */
  async netns(short: string): Promise<string> {
    const name = `${this.prefix}${short}`;
    await run(["ip", "netns", "add", name], { check: true });
    this.namespaces.push(name);
    await run(["ip", "-n", name, "link", "set", "lo", "up"], { check: true });
    return name;
  }

  /** A veth pair between two namespaces, addressed and up. */
  async veth(
    a: string,
    aIf: string,
    aAddr: string | undefined,
    b: string,
    bIf: string,
    bAddr: string | undefined,
  ) {
    await run(["ip", "link", "add", aIf, "netns", a, "type", "veth", "peer", "name", bIf, "netns", b], {
      check: true,
    });
    for (const [ns, dev, addr] of [[a, aIf, aAddr], [b, bIf, bAddr]] as const) {
      if (addr) await run(["ip", "-n", ns, "addr", "add", addr, "dev", dev], { check: true });
      await run(["ip", "-n", ns, "link", "set", dev, "up"], { check: true });
    }
  }

  /** Runs a command inside a namespace. */
  exec(ns: string, cmd: string[], opts: { timeoutMs?: number; check?: boolean } = {}): Promise<Output> {
    return run(["ip", "netns", "exec", ns, ...cmd], opts);
  }

  /** Starts a long-running command inside a namespace; killed in close(). */
  spawn(ns: string, cmd: string[], name = cmd[0]): Process {
    const child = new Deno.Command("ip", {
      env: this.env,
      args: ["netns", "exec", ns, ...cmd],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
      cwd: ROOT,
    }).spawn();
    const p = new Process(name, child);
    this.processes.push(p);
    return p;
  }

  /** A path under /tmp that close() removes. */
  tempPath(suffix: string): string {
    const path = `/tmp/${this.prefix}-${suffix}`;
    this.files.push(path);
    return path;
  }

  /**
   * `weft vtep …` inside `ns`, or `entry` (a script taking the same arguments, e.g.
   * tests/bench/esp_vtep.ts) in its place; resolves once its control socket answers.
   */
  async vtep(
    ns: string,
    args: string[],
    control = this.tempPath(`${ns}.sock`),
    entry = ["cli/main.ts", "vtep"],
  ): Promise<Vtep> {
    const p = this.spawn(ns, [
      DENO,
      "run",
      "-A",
      "--unstable-net",
      ...entry,
      ...args,
      "--control",
      control,
    ], "weft vtep");
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline) {
      if (!p.running) {
        throw new Error(`weft vtep exited early (${(await p.status).code}): ${await p.stderr}`);
      }
      try {
        const res = await weft(["stats", "--control", control, "--json"]);
        if (res.code === 0) return new Vtep(p, control);
      } catch { /* not yet */ }
      await new Promise((r) => setTimeout(r, 200));
    }
    p.signal("SIGKILL");
    throw new Error(`weft vtep did not answer on ${control} within 15 s: ${await p.stderr}`);
  }

  async close(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop(3000)));
    for (const ns of this.namespaces.reverse()) await run(["ip", "netns", "del", ns]);
    for (const f of this.files) {
      try {
        Deno.removeSync(f);
      } catch { /* not created */ }
    }
  }
}

/** Polls until `dev` exists in namespace `ns`, which `owner` (a TAP's process) creates or moves there. */
export async function waitForLink(ns: string, dev: string, owner: Process, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!owner.running) throw new Error(`${owner.name} exited early: ${await owner.stderr}`);
    if ((await run(["ip", "-n", ns, "link", "show", dev])).code === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${owner.name}: no ${dev} in ${ns} within ${timeoutMs} ms`);
}

/** Runs the weft CLI (not in a namespace). */
export function weft(args: string[], timeoutMs = 20000): Promise<Output> {
  return run([DENO, "run", "-A", "--unstable-net", "cli/main.ts", ...args], { timeoutMs });
}

export class Vtep {
  constructor(readonly process: Process, readonly control: string) {}

  async stats(): Promise<any> {
    const r = await weft(["stats", "--control", this.control, "--json"]);
    if (r.code !== 0) throw new Error(`weft stats failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  async fdb(): Promise<any> {
    const r = await weft(["fdb", "--control", this.control, "--json"]);
    if (r.code !== 0) throw new Error(`weft fdb failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }
}

/** Ping summary: success and average RTT in ms. */
export function pingRtt(out: string): number | undefined {
  const m = /= [\d.]+\/([\d.]+)\//.exec(out);
  return m ? Number(m[1]) : undefined;
}

export function macOf(out: string): string {
  const m = /link\/ether ([0-9a-f:]{17})/.exec(out);
  if (!m) throw new Error(`no MAC in: ${out}`);
  return m[1];
}

/**
 * `weft vtep` on host `h` for VNI 42: TAP prefix + `tap` moved into container `c` with overlay
 * address `addr`, listening on `listen`, flooding to `peer`; `extra` options last.
 */
export function vtepFor(
  lab: Lab,
  h: string,
  c: string,
  tap: string,
  addr: string,
  listen: string,
  peer: string,
  extra: string[] = [],
): Promise<Vtep> {
  return lab.vtep(h, [
    ...["--vni", "42", "--tap", `${lab.prefix}${tap}`, "--netns", c, "--address", addr],
    ...["--listen", listen, "--peer", peer, ...extra],
  ]);
}

/** Two hosts h1, h2 joined by an underlay veth (198.18.0.1/24, 198.18.0.2/24), and containers c1, c2. */
export async function twoHosts(lab: Lab) {
  const h1 = await lab.netns("h1"), h2 = await lab.netns("h2");
  const c1 = await lab.netns("c1"), c2 = await lab.netns("c2");
  await lab.veth(h1, `${lab.prefix}u1`, "198.18.0.1/24", h2, `${lab.prefix}u2`, "198.18.0.2/24");
  return { h1, h2, c1, c2 };
}

/** twoHosts() with `weft vtep` on each (TAPs t1, t2 in c1, c2 at 10.0.0.1/24, 10.0.0.2/24). */
export async function twoWeftHosts(lab: Lab, extra: string[] = []) {
  const { h1, h2, c1, c2 } = await twoHosts(lab);
  const v1 = await vtepFor(lab, h1, c1, "t1", "10.0.0.1/24", "198.18.0.1", "198.18.0.2", extra);
  const v2 = await vtepFor(lab, h2, c2, "t2", "10.0.0.2/24", "198.18.0.2", "198.18.0.1", extra);
  return { c1, c2, v1, v2 };
}

/** n hosts h1..hn on one underlay bridge (198.18.0.i/24), containers c1..cn with IPv6 off. */
export async function hostsOnBridge(lab: Lab, n: number) {
  const sw = await lab.netns("sw");
  await lab.exec(sw, ["ip", "link", "add", "name", "sbr", "type", "bridge"], { check: true });
  await lab.exec(sw, ["ip", "link", "set", "dev", "sbr", "up"], { check: true });
  const hosts: string[] = [], containers: string[] = [];
  for (let i = 1; i <= n; i++) {
    const h = await lab.netns(`h${i}`);
    const c = await lab.netns(`c${i}`);
    // No IPv6: its multicast chatter would blur the per-VTEP counts the tests compare.
    for (const key of ["all", "default"]) {
      await lab.exec(c, ["sysctl", "-qw", `net.ipv6.conf.${key}.disable_ipv6=1`], { check: true });
    }
    await lab.veth(h, `${lab.prefix}u${i}`, `198.18.0.${i}/24`, sw, `p${i}`, undefined);
    await lab.exec(sw, ["ip", "link", "set", `p${i}`, "master", "sbr"], { check: true });
    hosts.push(h);
    containers.push(c);
  }
  return { hosts, containers };
}

/**
 * The Linux kernel's VXLAN (drivers/net/vxlan) as a VTEP on `host`: vx0 (VNI 42, port 4789, learning,
 * flooding to `peer`) in bridge br0 with a veth into `container`, whose eth0 gets `overlay` (an
 * address with prefix) at MTU 1450. The underlay device is the one that holds `local`.
 *
 * `txChecksum: false` turns TX checksum offload off on vx0. Over veths the kernel leaves inner TCP
 * checksums to an offload that never happens: a kernel peer trusts the checksum state that crosses
 * the veth, a userspace peer (weft) reads the bytes and finds them wrong. Kernel ↔ kernel (the
 * benchmark) keeps the kernel's defaults.
 */
export async function kernelVtep(
  lab: Lab,
  host: string,
  container: string,
  local: string,
  peer: string,
  overlay: string,
  { txChecksum = true, vni = 42, mtu = 1450 } = {},
): Promise<void> {
  const x = (cmd: string[]) => lab.exec(host, cmd, { check: true });
  const dev = (await x(["ip", "-o", "addr", "show", "to", local])).stdout.split(/\s+/)[1];
  if (!dev) throw new Error(`no device holds ${local} in ${host}`);
  const vxlan = ["id", String(vni), "dstport", "4789", "local", local, "dev", dev];
  await x(["ip", "link", "add", "vx0", "type", "vxlan", ...vxlan]);
  await x(["bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vx0", "dst", peer]);
  if (!txChecksum) await x(["ethtool", "-K", "vx0", "tx", "off"]);
  await x(["ip", "link", "add", "br0", "type", "bridge"]);
  await x(["ip", "link", "set", "vx0", "master", "br0"]);
  await lab.veth(host, "vc", undefined, container, "eth0", overlay);
  await x(["ip", "link", "set", "vc", "master", "br0"]);
  await lab.exec(container, ["ip", "link", "set", "eth0", "mtu", String(mtu)], { check: true });
  await x(["ip", "link", "set", "vx0", "up"]);
  await x(["ip", "link", "set", "br0", "up"]);
}

/** A host namespace with `address` on its loopback (no dummy module here): a bindable underlay. */
export async function loneHost(lab: Lab, short: string, address: string): Promise<string> {
  const h = await lab.netns(short);
  await lab.exec(h, ["ip", "addr", "add", `${address}/32`, "dev", "lo"], { check: true });
  return h;
}

/**
 * A bounded TCP transfer from `from` to `toAddr` (iperf3 server in `to`): `bytes` must be sent
 * within the timeout, which TCP's window allows only as fast as the receiver acknowledges. A path
 * that stalls (bad checksums, broken segmentation or coalescing, retransmission storms) fails
 * here; how fast it goes is the benchmark's business.
 */
export async function tcpTransfer(
  lab: Lab,
  from: string,
  to: string,
  toAddr: string,
  { bytes = "20M", timeoutMs = 30000 } = {},
): Promise<{ gbps: number; retransmits: number }> {
  const server = lab.spawn(to, ["iperf3", "-s", "-1", "-B", toAddr], "iperf3 -s");
  try {
    // The server listens within a moment; retry the client until it does.
    const deadline = Date.now() + 5000;
    for (;;) {
      const r = await lab.exec(from, ["iperf3", "-c", toAddr, "-n", bytes, "-J"], { timeoutMs });
      let report: any = {};
      try {
        report = JSON.parse(r.stdout);
      } catch { /* not JSON: reported below */ }
      const end = report.end;
      if (r.code === 0 && !report.error && end?.sum_received) {
        return { gbps: end.sum_received.bits_per_second / 1e9, retransmits: end.sum_sent?.retransmits ?? 0 };
      }
      const why = `${report.error ?? ""} ${r.stdout.slice(0, 300)} ${r.stderr}`;
      if (!/Connection refused|unable to connect/.test(why) || Date.now() > deadline) {
        throw new Error(`${bytes} over TCP ${from} → ${toAddr} did not complete: ${why}`);
      }
      await new Promise((res) => setTimeout(res, 200));
    }
  } finally {
    await server.stop(2000);
  }
}

/**
 * Asserts that `dev` is absent from namespace `ns` for the right reason: `ip` says the device "does
 * not exist". A failed probe (no such namespace, `ip` killed by its timeout) is not that evidence.
 */
export async function assertNoLink(ns: string, dev: string, message: string): Promise<void> {
  const r = await run(["ip", "-n", ns, "link", "show", dev]);
  if (r.code === 0) throw new Error(`${message}: ${dev} is still in ${ns}`);
  if (!/does not exist/.test(r.stderr)) {
    throw new Error(`${message}: the probe of ${dev} in ${ns} failed otherwise (${r.code}): ${r.stderr}`);
  }
}

/** `ss -Huan` in `ns` (its UDP sockets), from a listing that worked: exit 0, nothing on stderr. */
export async function udpSockets(ns: string): Promise<string> {
  const r = await run(["ip", "netns", "exec", ns, "ss", "-Huan"]);
  if (r.code !== 0 || r.stderr.trim() !== "") throw new Error(`ss in ${ns} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}
