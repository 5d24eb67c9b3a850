// weft: VXLAN overlay networks for containers, with a WebAssembly data plane.
// `deno run -A --unstable-net cli/main.ts <command> …`; one file per command in cli/commands/.

import { error, UsageError } from "./errors.ts";

type Command = (args: string[]) => Promise<number | void>;

/** A client command of the daemon: its refusals print as one "error: …" line. */
const client = (load: () => Promise<{ main: Command }>) => async (): Promise<Command> => {
  const [{ withDaemonErrors }, m] = await Promise.all([import("./control/daemon/client.ts"), load()]);
  return withDaemonErrors(m.main);
};

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  daemon: {
    summary:
      "the per-host daemon: daemon [--state-dir DIR] [-H unix:///run/weft/weft.sock] [--hostname NAME]",
    load: async () => (await import("./commands/daemon.ts")).main,
  },
  swarm: {
    summary:
      "swarm init --advertise-addr IP [--esp-port N] | join --token T HOST:2377 --advertise-addr IP | join-token worker | leave | update",
    load: client(() => import("./commands/swarm.ts")),
  },
  node: {
    summary: "node ls: the swarm's nodes (on a manager)",
    load: client(() => import("./commands/node.ts")),
  },
  network: {
    summary:
      "network create -d overlay [--subnet CIDR]… [--ipv6] [-o encrypted] NAME | ls | inspect NAME | rm NAME | connect|disconnect NAME C",
    load: client(() => import("./commands/network.ts")),
  },
  run: {
    summary: "run -d --name C --network NET [--ip IP] [--network-alias A]… [-- CMD…]: a container (netns C)",
    load: client(() => import("./commands/run.ts")),
  },
  exec: {
    summary: "exec C -- CMD…: run CMD in container C",
    load: client(() => import("./commands/exec.ts")),
  },
  ps: { summary: "ps: this host's containers", load: client(() => import("./commands/ps.ts")) },
  inspect: {
    summary: "inspect C…: containers as docker inspect shows them (State.Pid, networks)",
    load: client(() => import("./commands/inspect.ts")),
  },
  rm: { summary: "rm [-f] C…: remove containers", load: client(() => import("./commands/rm.ts")) },
  demo: {
    summary: "demo: the seed's two-host walkthrough in namespaces (root)",
    load: async () => (await import("./commands/demo.ts")).main,
  },
  "demo-ha": {
    summary: "demo-ha: managers over etcd, the leader killed -9, the swarm goes on (root)",
    load: async () => (await import("./commands/demo_ha.ts")).main,
  },
  pcap: {
    summary: "run captures through the core: pcap decap IN OUT | pcap encap --vni N --src A --dst B IN OUT",
    load: async () => (await import("./commands/pcap.ts")).main,
  },
  ui: {
    summary: "ui [--port N]: a page on 127.0.0.1 that runs a capture through the core in the browser",
    load: async () => (await import("./commands/ui.ts")).main,
  },
  vtep: {
    summary:
      "one standalone VTEP: vtep --vni N --listen ADDR[:PORT] --tap NAME [--netns NS] [--address CIDR] [--peer ADDR[:PORT]]…",
    load: async () => (await import("./commands/vtep.ts")).main,
  },
  fdb: {
    summary:
      "forwarding database: fdb [--network NAME] (the daemon's) | fdb --control PATH (a vtep's) [--json]",
    load: client(() => import("./commands/fdb.ts")),
  },
  esp: {
    summary: "esp sa: this node's ESP SAs as Wireshark's esp_sa table lines (root; prints keys)",
    load: client(() => import("./commands/esp.ts")),
  },
  stats: {
    summary: "counters, drops by reason: stats (the daemon's) | stats --control PATH (a vtep's) [--json]",
    load: client(() => import("./commands/stats.ts")),
  },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `Usage: weft [-H unix:///PATH] <command> [options]\n\nCommands:\n${lines.join("\n")}\n`;
}

/**
 * Docker's global `-H HOST` / `--host HOST` (also `=HOST`) before the command: taken off the command
 * line and put in WEFT_HOST, which every daemon client reads when the command itself has no `-H`.
 * @returns the arguments after it
 * @throws UsageError for `-H` without a value
 */
export function takeGlobalHost(args: string[]): string[] {
  const [first, second] = args;
  const m = /^(?:-H|--host)(?:=(.*))?$/.exec(first ?? "");
  if (!m) return args;
  const host = m[1] ?? second;
  if (!host) throw new UsageError(`${first} needs a value: weft -H unix:///path/weft.sock <command> …`);
  Deno.env.set("WEFT_HOST", host);
  return args.slice(m[1] !== undefined ? 1 : 2);
}

if (import.meta.main) {
  let args: string[];
  try {
    args = takeGlobalHost(Deno.args);
  } catch (e) {
    if (e instanceof UsageError) error(e.message, 2);
    throw e;
  }
  const [name, ...rest] = args;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    console.log(usage());
    Deno.exit(name ? 0 : 2);
  }
  const command = COMMANDS[name];
  if (!command) error(`unknown command "${name}"; run "weft help" for the list`);
  try {
    const code = await (await command.load())(rest);
    Deno.exit(code ?? 0);
  } catch (e) {
    if (e instanceof UsageError) error(e.message, 2);
    throw e;
  }
}
