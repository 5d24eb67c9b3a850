// A container is a named network namespace (`ip netns exec NAME …` works on it) whose eth0 is a
// TAP the daemon holds open: created in the daemon's namespace, moved into the container's,
// renamed eth0, given the Docker-style MAC, the network's MTU and the IPAM address. The TAP dies
// with its last fd, so the daemon going away takes eth0 with it; a restarted daemon makes a new one.

import { closeTap, openTap, type Tap } from "../../phy/tap.ts";
import { command, namespaceExists } from "../../phy/link.ts";

/** A step of making or changing a container's sandbox failed (`ip`, `nsenter`, a process). */
export class SandboxError extends Error {
  override name = "SandboxError";
}

/**
 * Runs CMD ARGS… (ip(8), nft(8)) through phy/link.ts `command` and returns its stdout.
 * @throws SandboxError `CMD ARGS…: REASON` (the first line of its stderr) on a non-zero exit;
 *   Deno.errors.NotFound when CMD is not installed
 */
export function run(cmd: string, args: string[], stdin?: string): Promise<string> {
  return command(cmd, args, {
    stdin,
    failed: (reason) => new SandboxError(`${cmd} ${args.join(" ")}: ${reason}`),
  });
}

/** Runs `ip ARGS…` (iproute2). @throws SandboxError with ip's first line of stderr */
export async function ip(args: string[]): Promise<void> {
  await run("ip", args);
}

export { namespaceExists };

/**
 * A new network namespace `name` (/run/netns/NAME) with lo up and IPv6 off (Docker's default).
 * @throws SandboxError when it exists already or `ip` fails
 */
export async function createNamespace(name: string): Promise<void> {
  if (namespaceExists(name)) {
    throw new SandboxError(`a network namespace named "${name}" exists already; pick another --name`);
  }
  await ip(["netns", "add", name]);
  await ip(["-n", name, "link", "set", "lo", "up"]);
  // Docker's default: no IPv6 in a container unless asked (and no autoconf chatter on the overlay).
  await ip([
    "netns",
    "exec",
    name,
    "sysctl",
    "-qw",
    "net.ipv6.conf.all.disable_ipv6=1",
    "net.ipv6.conf.default.disable_ipv6=1",
  ])
    .catch(() => {});
}

/** Deletes namespace `name` if it exists. @throws SandboxError when `ip netns del` fails */
export async function deleteNamespace(name: string): Promise<void> {
  if (namespaceExists(name)) await ip(["netns", "del", name]);
}

/** An interface's settings inside a container (MTU in bytes). */
export interface Eth0 {
  mac: string;
  mtu: number;
  /** CIDR, e.g. 10.0.0.2/24 */
  address: string;
  /** CIDR, e.g. fd00:10::2/64, on networks with --ipv6. */
  address6?: string;
}

/**
 * A fresh TAP plumbed into the namespace as `ifname` (eth0): MAC, MTU (bytes), addresses, up;
 * IPv6 without DAD. The caller owns the returned fd.
 * @throws {UsageError} / {SysError} from openTap; SandboxError from ip (the TAP is closed first)
 */
export async function plugEth0(ns: string, e: Eth0, vnetHdr = false, ifname = "eth0"): Promise<Tap> {
  const tmp = `wft${crypto.getRandomValues(new Uint32Array(1))[0].toString(36)}`.slice(0, 15);
  const tap = openTap(tmp, { vnetHdr });
  try {
    await ip(["link", "set", "dev", tmp, "netns", ns]);
    await ip(["-n", ns, "link", "set", "dev", tmp, "name", ifname, "address", e.mac, "mtu", String(e.mtu)]);
    await ip(["-n", ns, "addr", "replace", e.address, "dev", ifname]);
    if (e.address6) {
      // IPv6 on this interface only (the namespace has it off, Docker's default), without DAD: IPAM made the
      // address unique and the control plane answers NS for it on every node.
      await ip([
        "netns",
        "exec",
        ns,
        "sysctl",
        "-qw",
        `net.ipv6.conf.${ifname}.accept_dad=0`,
        `net.ipv6.conf.${ifname}.accept_ra=0`,
        `net.ipv6.conf.${ifname}.disable_ipv6=0`,
      ]);
      await ip(["-n", ns, "addr", "replace", e.address6, "dev", ifname, "nodad"]);
    }
    await ip(["-n", ns, "link", "set", ifname, "up"]);
    return { ...tap, name: ifname };
  } catch (err) {
    closeTap(tap);
    throw err;
  }
}

/** Closes the TAP: the kernel removes the interface from the container with its last fd. */
export function unplug(tap: Tap): void {
  closeTap(tap);
}

/** Docker's pause container, as small as it gets: what a container runs when given no CMD. */
export const PLACEHOLDER = ["sleep", "infinity"];

/** A container's process: its pid and its start time (clock ticks since boot, proc(5) field 22),
 * which together name it even after the daemon restarts and pids wrap. */
export interface Proc {
  pid: number;
  start: number;
}

/**
 * Starts CMD (or PLACEHOLDER) inside the namespace with `ip netns exec` (so it sees what
 * `ip netns exec NS` sees: /sys of the namespace, /etc/netns/NS files), in its own session
 * (`setsid`: a ^C to the daemon's terminal does not reach it), cwd /, stdin /dev/null, stdout and
 * stderr appended to `log` by the kernel, not through the daemon: the process outlives the daemon
 * (Docker's live-restore). `sh -c exec` and `setsid` without a fork keep the pid through to CMD.
 * @throws SandboxError when the process is gone before it could be named
 */
export async function startProcess(ns: string, cmd: string[], log: string): Promise<Proc> {
  const child = new Deno.Command("setsid", {
    args: [
      "sh",
      "-c",
      'exec "$@" </dev/null >>"$0" 2>&1',
      log,
      "ip",
      "netns",
      "exec",
      ns,
      ...(cmd.length ? cmd : PLACEHOLDER),
    ],
    cwd: "/",
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  child.status.catch(() => {});
  child.unref();
  const start = startTime(child.pid);
  if (start === undefined) throw new SandboxError(`the process of ${ns} exited at once: see ${log}`);
  return { pid: child.pid, start };
}

/** Field 22 of /proc/PID/stat (starttime), or undefined when there is no such process. */
export function startTime(pid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // comm (field 2) may hold spaces and parentheses: count fields after its last ")".
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const state = rest[0];
    if (state === "Z" || state === "X") return undefined;
    return Number(rest[19]);
  } catch {
    return undefined;
  }
}

/** The process still runs and is the one started (not a reused pid). */
export function running(p: Proc | undefined): boolean {
  return !!p && startTime(p.pid) === p.start;
}

/** Pid's network namespace as "dev:ino", to compare two. */
function nsId(path: string): string | undefined {
  try {
    const st = Deno.statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * Makes /run/netns/NS name the network namespace of the container's process in this daemon's
 * mount namespace. A daemon restarted in another mount namespace (systemd's PrivateTmp=, `unshare
 * -m`) finds an empty file there, or nothing; `ip netns attach` binds it again (ip-netns(8)).
 * @throws SandboxError from ip
 */
export async function attachNamespace(ns: string, p: Proc): Promise<void> {
  const want = nsId(`/proc/${p.pid}/ns/net`);
  if (!want) throw new SandboxError(`process ${p.pid} of ${ns} is gone`);
  if (nsId(`/run/netns/${ns}`) === want) return;
  try {
    Deno.removeSync(`/run/netns/${ns}`); // an empty file left by another mount namespace
  } catch { /* none */ }
  await ip(["netns", "attach", ns, String(p.pid)]);
}

/** SIGKILL to the container's process if it still runs (and is still the same process). */
export function killProcess(p: Proc | undefined): void {
  if (!running(p)) return;
  try {
    Deno.kill(p!.pid, "SIGKILL");
  } catch { /* gone */ }
}

/**
 * MTU of the device that holds `addr` (the underlay), from `ip -j addr` (not /sys/class/net,
 * which shows the namespace /sys was mounted in), or undefined when no device has it.
 */
export async function mtuOfAddress(addr: string): Promise<number | undefined> {
  try {
    const out = await run("ip", ["-j", "addr", "show"]);
    const links = JSON.parse(out) as {
      mtu: number;
      addr_info?: { local: string }[];
    }[];
    return links.find((l) => l.addr_info?.some((a) => a.local === addr))?.mtu;
  } catch {
    return undefined;
  }
}
