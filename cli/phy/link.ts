// Control-path link configuration through iproute2 (`ip`, `ip -n NS`): moving a TAP into a
// namespace, MTU, address, up. Rare and not on the frame path, so a child process is fine.

import { UsageError } from "../errors.ts";

/** `ip` is missing or refused a change; the message is its first line of stderr. */
export class LinkError extends UsageError {
  override name = "LinkError";
}

const NETNS_DIR = "/run/netns";

/** How command() reports a failure. */
export interface CommandOptions {
  /** Text written to the command's stdin; default none (stdin is /dev/null). */
  stdin?: string;
  /**
   * The error for a non-zero exit, from `reason`: the first line of stderr without iproute2's
   * "Error: " prefix, or `exit CODE` when stderr is empty. Default: a LinkError `CMD ARGS…: REASON`.
   */
  failed?: (reason: string) => Error;
  /** The error when CMD cannot be started at all (not installed); default: Deno's own (NotFound). */
  missing?: (cause: unknown) => Error;
}

/**
 * Runs CMD ARGS… to completion and returns its stdout (UTF-8). The one runner of ip(8), nft(8)
 * and the like in the control path: `ip()` here, the daemon's sandboxes and weft_gwbridge.
 * @throws what `o.failed` makes (default LinkError) on a non-zero exit; what `o.missing` makes
 *   (default Deno.errors.NotFound) when CMD cannot be started.
 */
export async function command(cmd: string, args: string[], o: CommandOptions = {}): Promise<string> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(cmd, {
      args,
      stdin: o.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (cause) {
    throw o.missing ? o.missing(cause) : cause;
  }
  if (o.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(o.stdin));
    await w.close();
  }
  const out = await child.output();
  if (!out.success) {
    const msg = new TextDecoder().decode(out.stderr).trim().split("\n")[0] || `exit ${out.code}`;
    const reason = msg.replace(/^Error: /, "");
    throw o.failed ? o.failed(reason) : new LinkError(`${cmd} ${args.join(" ")}: ${reason}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** `ip ARGS…` to do `what` ("bring eth0 up"), failing with a LinkError that says so. */
async function ip(args: string[], what: string): Promise<void> {
  await command("ip", args, {
    failed: (reason) => new LinkError(`cannot ${what}: ${reason}`),
    missing: (cause) => new LinkError(`cannot run "ip" to ${what}: install iproute2`, { cause }),
  });
}

/** Named namespaces live as files under /run/netns (ip-netns(8)). */
export function namespaceExists(ns: string): boolean {
  if (!/^[A-Za-z0-9_.-]+$/.test(ns) || ns === "." || ns === "..") return false;
  try {
    return Deno.statSync(`${NETNS_DIR}/${ns}`).isFile;
  } catch {
    return false;
  }
}

/** One link to set up (configureLink). */
export interface LinkConfig {
  /** Interface name (a TAP weft opened). */
  name: string;
  /** Named network namespace to move it into first (ip-netns(8)); default: stay here. */
  netns?: string;
  /** MTU, bytes of L3 payload (DEFAULT_MTU for an overlay over IPv4). */
  mtu: number;
  /** CIDR, e.g. 10.0.0.1/24. */
  address?: string;
}

/** Moves the link into its namespace (if any), then sets MTU, address and up, there, as
 *  `ip link set … netns`, `ip link set … mtu`, `ip addr replace`, `ip link set … up`.
 *  @throws {LinkError} when `ip` cannot run ("install iproute2") or one step fails. */
export async function configureLink(c: LinkConfig): Promise<void> {
  if (c.netns) {
    await ip(["link", "set", "dev", c.name, "netns", c.netns], `move ${c.name} into namespace ${c.netns}`);
  }
  const n = c.netns ? ["-n", c.netns] : [];
  await ip([...n, "link", "set", "dev", c.name, "mtu", String(c.mtu)], `set MTU ${c.mtu} on ${c.name}`);
  if (c.address) {
    await ip([...n, "addr", "replace", c.address, "dev", c.name], `set address ${c.address} on ${c.name}`);
  }
  await ip([...n, "link", "set", "dev", c.name, "up"], `bring ${c.name} up`);
}
