// `weft network create | ls | inspect | rm`, as `docker network` has them for overlays.

import { UsageError } from "../errors.ts";
import { api, parseCommand } from "../control/daemon/client.ts";
import { table } from "../table.ts";

const USAGE = `Usage:
  weft network create -d overlay [--subnet CIDR]… [--gateway IP]… [--ip-range CIDR]… [--ipv6]
                      [--attachable] [--internal] [--label K=V]… [-o com.docker.network.driver.mtu=N]
                      [-o|--opt encrypted] NAME
  weft network ls
  weft network inspect NAME|ID
  weft network rm NAME|ID
  weft network connect [--ip IP] [--ip6 IPV6] NAME|ID CONTAINER    (eth2, eth3, … in the container)
  weft network disconnect NAME|ID CONTAINER
All take -H/--host unix:///path (or WEFT_HOST) to pick the daemon.`;

/** Docker's driver option for the network's MTU (default: derived from each node's underlay). */
const MTU_OPTION = "com.docker.network.driver.mtu";

const parse = (args: string[], options: Parameters<typeof parseCommand>[1] = {}) =>
  parseCommand(args, options, USAGE);

export async function main(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "create") {
    const { values: v, positionals } = parse(rest, {
      driver: { type: "string", short: "d" },
      subnet: { type: "string", multiple: true },
      gateway: { type: "string", multiple: true },
      "ip-range": { type: "string", multiple: true },
      ipv6: { type: "boolean" },
      attachable: { type: "boolean" },
      internal: { type: "boolean" },
      label: { type: "string", multiple: true },
      opt: { type: "string", short: "o", multiple: true },
    });
    if (positionals.length !== 1) throw new UsageError(`expected exactly one NAME\n${USAGE}`);
    const labels: Record<string, string> = {};
    for (const l of (v.label ?? []) as string[]) {
      const i = l.indexOf("=");
      labels[i < 0 ? l : l.slice(0, i)] = i < 0 ? "" : l.slice(i + 1);
    }
    let mtu: number | undefined;
    // Driver options as Docker's overlay takes them: the MTU, and "encrypted" (with or without =VALUE).
    let encrypted = false;
    for (const o of (v.opt ?? []) as string[]) {
      const i = o.indexOf("=");
      const key = i < 0 ? o : o.slice(0, i), value = i < 0 ? "" : o.slice(i + 1);
      if (key === "encrypted") {
        // Docker's overlay encrypts for any value, "false" included; weft refuses what reads as off.
        if (value !== "" && value !== "true") {
          throw new UsageError(
            `--opt encrypted takes no value (or "true"), got "${value}": leave it out for a plain network`,
          );
        }
        encrypted = true;
      }
      else if (key === MTU_OPTION) {
        mtu = /^\d+$/.test(value) ? Number(value) : NaN;
        if (!(mtu >= 68 && mtu <= 65535)) {
          throw new UsageError(`${MTU_OPTION} must be an integer in 68..65535, got "${value}"`);
        }
      } else {throw new UsageError(
          `unsupported option "${key}": weft's overlays take ${MTU_OPTION}=N and encrypted`,
        );}
    }
    const n = await api(v.host as string | undefined, "POST", "/networks", {
      name: positionals[0],
      driver: v.driver ?? "overlay",
      subnet: v.subnet,
      gateway: v.gateway,
      ipRange: v["ip-range"],
      ipv6: v.ipv6,
      attachable: v.attachable,
      internal: v.internal,
      labels,
      mtu,
      encrypted,
    });
    console.log(n.id);
    return 0;
  }
  if (sub === "ls" || sub === "list") {
    const { values: v } = parse(rest, { quiet: { type: "boolean", short: "q" } });
    const nets = await api<any[]>(v.host as string | undefined, "GET", "/networks");
    if (v.quiet) {
      for (const n of nets) console.log(n.id.slice(0, 12));
      return 0;
    }
    const rows = [["NETWORK ID", "NAME", "DRIVER", "SCOPE"]];
    for (const n of nets) rows.push([n.id.slice(0, 12), n.name, n.driver, n.scope]);
    console.log(table(rows));
    return 0;
  }
  if (sub === "inspect") {
    const { values: v, positionals } = parse(rest);
    if (positionals.length !== 1) throw new UsageError(`expected exactly one NAME\n${USAGE}`);
    console.log(
      JSON.stringify(
        await api(v.host as string | undefined, "GET", `/networks/${encodeURIComponent(positionals[0])}`),
        null,
        4,
      ),
    );
    return 0;
  }
  if (sub === "rm" || sub === "remove") {
    const { values: v, positionals } = parse(rest);
    if (!positionals.length) throw new UsageError(`expected a NAME\n${USAGE}`);
    for (const p of positionals) {
      await api(v.host as string | undefined, "DELETE", `/networks/${encodeURIComponent(p)}`);
      console.log(p);
    }
    return 0;
  }
  if (sub === "connect") {
    const { values: v, positionals } = parse(rest, { ip: { type: "string" }, ip6: { type: "string" } });
    if (positionals.length !== 2) throw new UsageError(`expected NETWORK CONTAINER\n${USAGE}`);
    const [net, container] = positionals;
    await api(v.host as string | undefined, "POST", `/networks/${encodeURIComponent(net)}/connect`, {
      container,
      ip: v.ip,
      ip6: v.ip6,
    });
    return 0;
  }
  if (sub === "disconnect") {
    const { values: v, positionals } = parse(rest, { force: { type: "boolean", short: "f" } });
    if (positionals.length !== 2) throw new UsageError(`expected NETWORK CONTAINER\n${USAGE}`);
    const [net, container] = positionals;
    await api(v.host as string | undefined, "POST", `/networks/${encodeURIComponent(net)}/disconnect`, {
      container,
    });
    return 0;
  }
  throw new UsageError(USAGE);
}
