// One namespace lab for tests, benchmarks and `weft demo` on one machine. Every name carries a
// per-run random prefix (randomPrefix()) so parallel runs never collide; close() kills what the lab
// started and deletes every namespace with its prefix (their veths, TAPs and bridges go with them),
// also after a failure. Addresses used: underlay 198.18.0.0/15, overlay 10.0.0.0/8 and fd00::/8,
// only inside these namespaces.
//
// Two ways to build on it: namespaces by hand (netns(), veth(), spawn(), vtep() for `weft vtep`;
// topologies in cli/lab/topology.ts), or weft hosts (setup(n): an underlay namespace with a bridge,
// host namespaces with 198.18.0.i/24 on eth0, one `weft daemon` per host started with nsenter —
// network namespace only, so the containers it creates under /run/netns are visible to all).

import {
  DENO,
  GaveUp,
  LAB_ENV,
  MAIN,
  type Output,
  Process,
  randomPrefix,
  ROOT,
  run,
  sh,
  waitFor,
} from "./run.ts";

export interface Host {
  name: string;
  ns: string;
  addr: string;
  stateDir: string;
  sock: string;
  daemon?: Deno.ChildProcess;
  log: string;
}

export interface LabOptions {
  /**
   * Each daemon in a mount namespace of its own (`unshare -m`, as systemd's PrivateTmp= gives it)
   * and each CLI call in fresh mount and network namespaces (`unshare -m -n`): the container names
   * under /run/netns that a daemon binds are then visible to nobody else, so only what goes
   * through the daemon's API (weft exec, inspect) can reach a container.
   */
  privateMounts?: boolean;
}

export class Lab {
  readonly prefix = randomPrefix();
  /** A temporary directory for state dirs, sockets and logs; close() removes it. */
  readonly dir = Deno.makeTempDirSync({ prefix: "weft-lab-" });
  /** The underlay namespace of setup(). */
  readonly ul = `${this.prefix}ul`;
  hosts: Host[] = [];
  /** Copy the daemons' output to stderr as well as to their logs. */
  verbose = false;
  /** Extra `weft daemon` arguments for every host (e.g. --dns at a resolver inside the lab). */
  daemonArgs: string[] = [];
  /** The environment of every process spawn() starts (a test may add to it, e.g. V8 flags). */
  env: Record<string, string> = { ...LAB_ENV };
  private readonly namespaces: string[] = [];
  private readonly processes: Process[] = [];
  private readonly files: string[] = [];
  private readonly cleanups: (() => void | Promise<void>)[] = [];

  constructor(readonly options: LabOptions = {}) {}

  /** Runs `f` first thing in close() (the last registered first), e.g. to stop a helper process. */
  defer(f: () => void | Promise<void>): void {
    this.cleanups.unshift(f);
  }

  /** Container / namespace name inside this lab. */
  c(name: string): string {
    return `${this.prefix}-${name}`;
  }

  /** A fresh namespace named prefix + short, with loopback up. */
  async netns(short: string): Promise<string> {
    const name = `${this.prefix}${short}`;
    await sh(["ip", "netns", "add", name]);
    this.namespaces.push(name);
    await sh(["ip", "-n", name, "link", "set", "lo", "up"]);
    return name;
  }

  /** A veth pair between two namespaces, addressed (when an address is given) and up. */
  async veth(
    a: string,
    aIf: string,
    aAddr: string | undefined,
    b: string,
    bIf: string,
    bAddr: string | undefined,
  ): Promise<void> {
    await sh(["ip", "link", "add", aIf, "netns", a, "type", "veth", "peer", "name", bIf, "netns", b]);
    for (const [ns, dev, addr] of [[a, aIf, aAddr], [b, bIf, bAddr]] as const) {
      if (addr) await sh(["ip", "-n", ns, "addr", "add", addr, "dev", dev]);
      await sh(["ip", "-n", ns, "link", "set", dev, "up"]);
    }
  }

  /** Runs a command inside a namespace (unchecked unless `check`). */
  exec(ns: string, cmd: string[], opts: { timeoutMs?: number; check?: boolean } = {}): Promise<Output> {
    return run(["ip", "netns", "exec", ns, ...cmd], opts);
  }

  /** `ip netns exec C ARGS`, checked unless `check` is false. */
  inContainer(name: string, args: string[], check = true): Promise<Output> {
    return sh(["ip", "netns", "exec", name, ...args], { check });
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

  /**
   * A path under /tmp that close() removes (not under `dir`: tcpdump, which drops root, writes
   * captures there).
   */
  tempPath(suffix: string): string {
    const path = `/tmp/${this.prefix}-${suffix}`;
    this.files.push(path);
    return path;
  }

  /**
   * `weft vtep …` inside `ns`, or `entry` (a script taking the same arguments, e.g.
   * tests/bench/esp_vtep.ts) in its place; resolves once its control socket answers.
   * @throws Error when it exits first or does not answer within 15 s.
   */
  async vtep(
    ns: string,
    args: string[],
    control = this.tempPath(`${ns}.sock`),
    entry = [MAIN, "vtep"],
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
    try {
      await waitFor(
        `weft vtep to answer on ${control}`,
        async () => {
          if (!p.running) {
            throw new GaveUp(`weft vtep exited early (${(await p.status).code}): ${await p.stderr}`);
          }
          return (await weft(["stats", "--control", control, "--json"])).code === 0;
        },
        15000,
        200,
      );
    } catch (e) {
      if (e instanceof GaveUp) throw e;
      p.signal("SIGKILL");
      throw new Error(`weft vtep did not answer on ${control} within 15 s: ${await p.stderr}`);
    }
    return new Vtep(p, control);
  }

  /** The underlay namespace with bridge br0 and hosts 1..n on it (setupExtra()). */
  async setup(n: number): Promise<void> {
    await sh(["ip", "netns", "add", this.ul]);
    this.namespaces.push(this.ul);
    await sh(["ip", "-n", this.ul, "link", "add", "br0", "type", "bridge"]);
    await sh(["ip", "-n", this.ul, "link", "set", "br0", "up"]);
    for (let i = 1; i <= n; i++) await this.setupExtra(i);
  }

  /** Host i (1-based): namespace prefix + `h${i}`, eth0 198.18.0.i/24 on the underlay bridge. */
  async setupExtra(i: number): Promise<void> {
    const ns = await this.netns(`h${i}`);
    await sh([
      "ip",
      "-n",
      ns,
      "link",
      "add",
      "eth0",
      "type",
      "veth",
      "peer",
      "name",
      `h${i}`,
      "netns",
      this.ul,
    ]);
    await sh(["ip", "-n", ns, "addr", "add", `198.18.0.${i}/24`, "dev", "eth0"]);
    await sh(["ip", "-n", ns, "link", "set", "eth0", "up"]);
    await sh(["ip", "-n", this.ul, "link", "set", `h${i}`, "master", "br0", "up"]);
    this.hosts.push({
      name: `node${i}`,
      ns,
      addr: `198.18.0.${i}`,
      stateDir: `${this.dir}/node${i}`,
      sock: `${this.dir}/node${i}.sock`,
      log: `${this.dir}/node${i}.log`,
    });
  }

  /**
   * `weft daemon` for host `h` in its namespace, output appended to `h.log`; resolves once
   * `weft ps` answers.
   * @throws Error with the log when it does not answer within 15 s.
   */
  async startDaemon(h: Host): Promise<void> {
    const log = await Deno.open(h.log, { append: true, create: true, write: true });
    h.daemon = new Deno.Command("nsenter", {
      env: LAB_ENV,
      args: [
        `--net=/run/netns/${h.ns}`,
        "--",
        ...(this.options.privateMounts ? ["unshare", "-m", "--propagation", "private", "--"] : []),
        DENO,
        ...["run", "-A", "--unstable-net", MAIN, "daemon", ...this.daemonArgs],
        ...["--state-dir", h.stateDir, "-H", `unix://${h.sock}`, "--hostname", h.name],
        ...["--nft-table", `${this.prefix}_${h.name}`],
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pipe = async (s: ReadableStream<Uint8Array>) => {
      const f = await Deno.open(h.log, { append: true, write: true });
      for await (const chunk of s) {
        f.writeSync(chunk);
        if (this.verbose) Deno.stderr.writeSync(chunk);
      }
      f.close();
    };
    pipe(h.daemon.stdout).catch(() => {});
    pipe(h.daemon.stderr).catch(() => {});
    log.close();
    try {
      await waitFor(`the daemon of ${h.name}`, async () => (await this.weft(h, ["ps"], false)).code === 0);
    } catch {
      throw new Error(`daemon of ${h.name} did not start: ${await Deno.readTextFile(h.log)}`);
    }
  }

  /** Signals the daemon of `h` and waits up to 5 s for it to exit. */
  async stopDaemon(h: Host, signal: Deno.Signal = "SIGTERM"): Promise<void> {
    if (!h.daemon) return;
    try {
      h.daemon.kill(signal);
    } catch { /* gone */ }
    await Promise.race([h.daemon.status, new Promise((r) => setTimeout(r, 5000))]);
    h.daemon = undefined;
  }

  /**
   * `weft swarm init --advertise-addr` on `hosts[0]` (`initArgs` after), then `weft swarm join` of
   * each other host as a worker with the token init printed, in order (their daemons running).
   * @returns init's output.
   * @throws Error when a command fails or init prints no join line.
   */
  async formSwarm(hosts: Host[] = this.hosts, initArgs: string[] = []): Promise<string> {
    const [first, ...rest] = hosts;
    const init =
      (await this.weft(first, ["swarm", "init", "--advertise-addr", first.addr, ...initArgs])).stdout;
    const m = /weft swarm join --token (\S+) (\S+)/.exec(init);
    if (!m) throw new Error(`weft swarm init printed no join line: ${init}`);
    for (const h of rest) {
      await this.weft(h, ["swarm", "join", "--token", m[1], m[2], "--advertise-addr", h.addr]);
    }
    return init;
  }

  /** `weft ARGS -H host` from the root namespace (a client needs only the socket). */
  weft(h: Host, args: string[], check = true): Promise<Output> {
    const cli = [DENO, "run", "-A", "--unstable-net", MAIN, ...withHost(args, h.sock)];
    return sh(this.options.privateMounts ? ["unshare", "-m", "-n", "--", ...cli] : cli, { check });
  }

  /** Kills the processes of the lab's containers (they outlive a daemon), from each state dir. */
  private killContainers(): void {
    for (const h of this.hosts) {
      let cs: { name: string; pid?: number; pidStart?: number }[] = [];
      try {
        cs = JSON.parse(Deno.readTextFileSync(`${h.stateDir}/containers.json`));
      } catch { /* no containers */ }
      for (const c of cs) {
        if (!c.pid || !c.name.startsWith(this.prefix)) continue;
        try {
          // Field 22 of /proc/PID/stat (starttime): the pid was not reused by another process.
          const stat = Deno.readTextFileSync(`/proc/${c.pid}/stat`);
          if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]) === c.pidStart) {
            Deno.kill(c.pid, "SIGKILL");
          }
        } catch { /* gone */ }
      }
    }
  }

  /** Stops everything the lab started and removes its namespaces, files and `dir`; never throws. */
  async close(): Promise<void> {
    for (const f of this.cleanups) await Promise.resolve().then(f).catch(() => {});
    await Promise.all(this.processes.map((p) => p.stop(3000)));
    for (const h of this.hosts) await this.stopDaemon(h, "SIGKILL").catch(() => {});
    this.killContainers();
    for (const ns of this.namespaces.reverse()) await run(["ip", "netns", "del", ns]);
    // The containers' namespaces, which the daemons made.
    const list = await run(["ip", "netns", "list"]);
    for (const line of list.stdout.split("\n")) {
      const ns = line.split(" ")[0];
      if (ns.startsWith(this.prefix)) await run(["ip", "netns", "del", ns]);
    }
    // Containers' resolv.conf files (/etc/netns/NAME) that a killed daemon could not remove.
    try {
      for (const e of Deno.readDirSync("/etc/netns")) {
        if (e.name.startsWith(this.prefix)) Deno.removeSync(`/etc/netns/${e.name}`, { recursive: true });
      }
    } catch { /* none */ }
    for (const f of [...this.files, this.dir]) {
      try {
        Deno.removeSync(f, { recursive: true });
      } catch { /* not created */ }
    }
  }
}

/** Puts -H after the command words (flags parse per command). */
function withHost(args: string[], sock: string): string[] {
  const words = ["swarm", "network", "node"].includes(args[0]) ? 2 : 1;
  const dd = args.indexOf("--");
  const head = args.slice(0, words), rest = args.slice(words);
  if (args[0] === "exec") return ["exec", "-H", `unix://${sock}`, ...rest];
  if (dd >= 0 && dd >= words) {
    const i = dd - words;
    return [...head, ...rest.slice(0, i), "-H", `unix://${sock}`, ...rest.slice(i)];
  }
  return [...head, ...rest, "-H", `unix://${sock}`];
}

/**
 * Runs the weft CLI in the root namespace (a standalone VTEP's control socket needs no more);
 * `env` is set over LAB_ENV (e.g. WEFT_HOST).
 */
export function weft(args: string[], timeoutMs = 20000, env?: Record<string, string>): Promise<Output> {
  return run([DENO, "run", "-A", "--unstable-net", MAIN, ...args], { timeoutMs, env });
}

/** A running `weft vtep` (Lab.vtep()) and its control socket. */
export class Vtep {
  constructor(readonly process: Process, readonly control: string) {}

  /** `weft stats --json`. @throws Error when the command fails. */
  stats(): Promise<any> {
    return this.json("stats");
  }

  /** `weft fdb --json`. @throws Error when the command fails. */
  fdb(): Promise<any> {
    return this.json("fdb");
  }

  private async json(cmd: string): Promise<any> {
    const r = await weft([cmd, "--control", this.control, "--json"]);
    if (r.code !== 0) throw new Error(`weft ${cmd} failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }
}
