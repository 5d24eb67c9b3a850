// Control-path link configuration through iproute2 (`ip`, `ip -n NS`): moving a TAP into a
// namespace, MTU, address, up. Rare and not on the frame path, so a child process is fine.

import { UsageError } from "../errors.ts";

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

export interface LinkConfig {
  name: string;
  netns?: string;
  mtu: number;
  /** CIDR, e.g. 10.0.0.1/24. */
  address?: string;
}

/** Moves the link into its namespace (if any), then sets MTU, address and up, there. */
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
