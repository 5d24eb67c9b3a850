// A container is a named network namespace (`ip netns exec NAME …` works on it) whose eth0 is a
// TAP the daemon holds open: created in the daemon's namespace, moved into the container's,
// renamed eth0, given the Docker-style MAC, the network's MTU and the IPAM address. The TAP dies
// with its last fd, so the daemon going away takes eth0 with it; a restarted daemon makes a new one.

import { closeTap, openTap, type Tap } from "../../phy/tap.ts";
import { namespaceExists } from "../../phy/link.ts";

export class SandboxError extends Error {
  override name = "SandboxError";
}

async function ip(args: string[]): Promise<void> {
  const out = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    const msg = new TextDecoder().decode(out.stderr).trim().split("\n")[0] || `exit ${out.code}`;
    throw new SandboxError(`ip ${args.join(" ")}: ${msg.replace(/^Error: /, "")}`);
  }
}

export { namespaceExists };

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

export async function deleteNamespace(name: string): Promise<void> {
  if (namespaceExists(name)) await ip(["netns", "del", name]);
}

export interface Eth0 {
  mac: string;
  mtu: number;
  /** CIDR, e.g. 10.0.0.2/24 */
  address: string;
}

/** A fresh TAP plumbed into the namespace as eth0; the caller owns the returned fd. */
export async function plugEth0(ns: string, e: Eth0, vnetHdr = false): Promise<Tap> {
  const tmp = `wft${crypto.getRandomValues(new Uint32Array(1))[0].toString(36)}`.slice(0, 15);
  const tap = openTap(tmp, { vnetHdr });
  try {
    await ip(["link", "set", "dev", tmp, "netns", ns]);
    await ip(["-n", ns, "link", "set", "dev", tmp, "name", "eth0", "address", e.mac, "mtu", String(e.mtu)]);
    await ip(["-n", ns, "addr", "replace", e.address, "dev", "eth0"]);
    await ip(["-n", ns, "link", "set", "eth0", "up"]);
    return { ...tap, name: "eth0" };
  } catch (err) {
    closeTap(tap);
    throw err;
  }
}

export function unplug(tap: Tap): void {
  closeTap(tap);
}

/** Starts CMD inside the namespace, detached from the daemon's stdio; output goes to `log`. */
export function startProcess(ns: string, cmd: string[], log: string): number {
  const f = Deno.openSync(log, { append: true, create: true });
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", ns, ...cmd],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const pipe = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) {
      try {
        f.writeSync(chunk);
      } catch { /* log gone */ }
    }
  };
  Promise.all([pipe(child.stdout), pipe(child.stderr)]).finally(() => f.close()).catch(() => {});
  child.status.catch(() => {});
  child.unref();
  return child.pid;
}

export function alive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

export function killProcess(pid: number | undefined): void {
  if (!pid || !alive(pid)) return;
  try {
    Deno.kill(pid, "SIGKILL");
  } catch { /* gone */ }
}
