// A lab of weft hosts (used by tests/swarm/ and `weft demo`) on one machine: an underlay namespace with a bridge, N host namespaces
// (198.18.0.i/24 on eth0), and one weft daemon per host started in its namespace with nsenter
// (network namespace only, so the containers it creates under /run/netns are visible to all).
// Every name carries a per-run random prefix; close() kills what it started and deletes every
// namespace with the prefix, also after a failure.

export const ROOT = new URL("../../../", import.meta.url).pathname;
export const DENO = `${ROOT}node_modules/.bin/deno`;
const MAIN = `${ROOT}cli/main.ts`;
/**
 * Environment of every process the lab starts. Deno checks for a newer release in the background
 * of `deno run` (TLS roots, resolv.conf, a connection to dl.deno.land): a data plane must not send
 * anything its operator did not ask for, and a test must not count those reads.
 */
export const LAB_ENV = { DENO_NO_UPDATE_CHECK: "1" };

export async function sh(cmd: string[], opts: { check?: boolean; timeoutMs?: number } = {}) {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), opts.timeoutMs ?? 30000);
  try {
    const out = await new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      env: LAB_ENV,
      stdout: "piped",
      stderr: "piped",
      signal: ac.signal,
    }).output();
    const r = {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
    };
    if ((opts.check ?? true) && out.code !== 0) {
      throw new Error(`${cmd.join(" ")} failed (${out.code}): ${r.stderr}${r.stdout}`);
    }
    return r;
  } finally {
    clearTimeout(t);
  }
}

export function isRoot(): boolean {
  return Deno.uid() === 0;
}

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
  constructor(readonly options: LabOptions = {}) {}
  readonly prefix = `wt${Math.random().toString(36).slice(2, 7)}`;
  readonly dir = Deno.makeTempDirSync({ prefix: "weft-lab-" });
  readonly ul = `${this.prefix}ul`;
  hosts: Host[] = [];
  verbose = false;
  /** Extra `weft daemon` arguments for every host (e.g. --dns at a resolver inside the lab). */
  daemonArgs: string[] = [];

  /** Container / namespace name inside this lab. */
  c(name: string): string {
    return `${this.prefix}-${name}`;
  }

  async setup(n: number): Promise<void> {
    await sh(["ip", "netns", "add", this.ul]);
    await sh(["ip", "-n", this.ul, "link", "add", "br0", "type", "bridge"]);
    await sh(["ip", "-n", this.ul, "link", "set", "br0", "up"]);
    for (let i = 1; i <= n; i++) await this.setupExtra(i);
  }

  /** Host i (1-based) on the underlay bridge. */
  async setupExtra(i: number): Promise<void> {
    {
      const ns = `${this.prefix}h${i}`;
      await sh(["ip", "netns", "add", ns]);
      await sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
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
      const stateDir = `${this.dir}/node${i}`;
      this.hosts.push({
        name: `node${i}`,
        ns,
        addr: `198.18.0.${i}`,
        stateDir,
        sock: `${this.dir}/node${i}.sock`,
        log: `${this.dir}/node${i}.log`,
      });
    }
  }

  async startDaemon(h: Host): Promise<void> {
    const log = await Deno.open(h.log, { append: true, create: true, write: true });
    h.daemon = new Deno.Command("nsenter", {
      env: LAB_ENV,
      args: [
        `--net=/run/netns/${h.ns}`,
        "--",
        ...(this.options.privateMounts ? ["unshare", "-m", "--propagation", "private", "--"] : []),
        DENO,
        "run",
        "-A",
        "--unstable-net",
        MAIN,
        "daemon",
        ...this.daemonArgs,
        "--state-dir",
        h.stateDir,
        "-H",
        `unix://${h.sock}`,
        "--hostname",
        h.name,
        "--nft-table",
        `${this.prefix}_${h.name}`,
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
    const until = Date.now() + 15000;
    while (Date.now() < until) {
      const r = await this.weft(h, ["ps"], false);
      if (r.code === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`daemon of ${h.name} did not start: ${await Deno.readTextFile(h.log)}`);
  }

  async stopDaemon(h: Host, signal: Deno.Signal = "SIGTERM"): Promise<void> {
    if (!h.daemon) return;
    try {
      h.daemon.kill(signal);
    } catch { /* gone */ }
    await Promise.race([h.daemon.status, new Promise((r) => setTimeout(r, 5000))]);
    h.daemon = undefined;
  }

  /** `weft ARGS -H host` from the root namespace (a client needs only the socket). */
  async weft(h: Host, args: string[], check = true) {
    const cli = [DENO, "run", "-A", "--unstable-net", MAIN, ...withHost(args, h.sock)];
    return await sh(this.options.privateMounts ? ["unshare", "-m", "-n", "--", ...cli] : cli, { check });
  }

  /** `ip netns exec C ARGS`. */
  async inContainer(name: string, args: string[], check = true) {
    return await sh(["ip", "netns", "exec", name, ...args], { check });
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
          const stat = Deno.readTextFileSync(`/proc/${c.pid}/stat`);
          if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]) === c.pidStart) {
            Deno.kill(c.pid, "SIGKILL");
          }
        } catch { /* gone */ }
      }
    }
  }

  async close(): Promise<void> {
    for (const h of this.hosts) await this.stopDaemon(h, "SIGKILL").catch(() => {});
    this.killContainers();
    const list = await sh(["ip", "netns", "list"], { check: false });
    for (const line of list.stdout.split("\n")) {
      const ns = line.split(" ")[0];
      if (ns.startsWith(this.prefix)) await sh(["ip", "netns", "del", ns], { check: false });
    }
    // Containers' resolv.conf files (/etc/netns/NAME) that a killed daemon could not remove.
    try {
      for (const e of Deno.readDirSync("/etc/netns")) {
        if (e.name.startsWith(this.prefix)) Deno.removeSync(`/etc/netns/${e.name}`, { recursive: true });
      }
    } catch { /* none */ }
    try {
      Deno.removeSync(this.dir, { recursive: true });
    } catch { /* best effort */ }
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

export async function waitFor<T>(
  what: string,
  f: () => Promise<T | undefined | false>,
  timeoutMs = 15000,
  stepMs = 100,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await f();
      if (v) return v as T;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
}
