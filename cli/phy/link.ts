// Control-path link configuration through iproute2 (`ip`, `ip -n NS`): moving a TAP into a
// namespace, MTU, address, up. Rare and not on the frame path, so a child process is fine.

import { UsageError } from "../errors.ts";

/** `ip` is missing or refused a change; the message is its first line of stderr. */
export class LinkError extends UsageError {
  override name = "LinkError";
}

const NETNS_DIR = "/run/netns";

async function ip(args: string[], what: string): Promise<void> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  } catch (cause) {
    throw new LinkError(`cannot run "ip" to ${what}: install iproute2`, { cause });
  }
  if (!out.success) {
    const msg = new TextDecoder().decode(out.stderr).trim().split("\n")[0] || `exit ${out.code}`;
    throw new LinkError(`cannot ${what}: ${msg.replace(/^Error: /, "")}`);
  }
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
