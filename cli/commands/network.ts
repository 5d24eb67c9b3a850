// `weft network create | ls | inspect | rm`, as `docker network` has them for overlays.

import { UsageError } from "../errors.ts";
import { api, parseCommand } from "../control/daemon/client.ts";
import { table } from "../table.ts";

const USAGE = `Usage:
  weft network create -d overlay [--subnet CIDR] [--gateway IP] [--attachable] [-o|--opt encrypted] NAME
  weft network ls
  weft network inspect NAME|ID
  weft network rm NAME|ID
All take -H/--host unix:///path (or WEFT_HOST) to pick the daemon.`;

const parse = (args: string[], options: Parameters<typeof parseCommand>[1] = {}) =>
  parseCommand(args, options, USAGE);

export async function main(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "create") {
    const { values: v, positionals } = parse(rest, {
      driver: { type: "string", short: "d" },
      subnet: { type: "string" },
      gateway: { type: "string" },
      attachable: { type: "boolean" },
      opt: { type: "string", short: "o", multiple: true } as any,
    });
    if (positionals.length !== 1) throw new UsageError(`expected exactly one NAME\n${USAGE}`);
    // Driver options as Docker's overlay takes them; "encrypted" (with or without "=VALUE").
    let encrypted = false;
    for (const o of (v.opt ?? []) as string[]) {
      if (o === "encrypted" || o.startsWith("encrypted=")) encrypted = true;
      else throw new UsageError(`unsupported driver option "${o}": weft's overlay takes "encrypted"\n${USAGE}`);
    }
    const n = await api(v.host as string | undefined, "POST", "/networks", {
      name: positionals[0],
      driver: v.driver ?? "overlay",
      subnet: v.subnet,
      gateway: v.gateway,
      attachable: v.attachable,
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
  throw new UsageError(USAGE);
}
