// `weft node ls` and `weft node rm`: the swarm's nodes, on a manager.

import { UsageError } from "../errors.ts";
import { parseOptions } from "../args.ts";
import { api, HOST_OPTION } from "../control/daemon/client.ts";
import { table } from "../table.ts";

const USAGE = `Usage: weft node ls [-H unix:///path] [--format json]
       weft node rm [-f|--force] NODE… [-H unix:///path]
       weft node promote|demote NODE… [-H unix:///path]`;

export async function main(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "rm") return await rm(rest);
  if (sub === "promote" || sub === "demote") return await role(sub, rest);
  if (sub !== "ls") throw new UsageError(USAGE);
  const { values: v } = parseOptions(rest, { ...HOST_OPTION, format: { type: "string" } }, USAGE);
  const nodes = await api<any[]>(v.host, "GET", "/nodes");
  if (v.format === "json") {
    console.log(JSON.stringify(nodes, null, 2));
    return 0;
  }
  const rows = [["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS"]];
  for (const n of nodes) {
    rows.push([
      `${n.id}${n.self ? " *" : ""}`,
      n.hostname,
      n.status,
      n.availability[0].toUpperCase() + n.availability.slice(1),
      n.managerStatus ?? "",
    ]);
  }
  console.log(table(rows));
  for (const n of nodes) if (n.problem) console.error(`warning: this manager is Unreachable: ${n.problem}`);
  return 0;
}

async function rm(args: string[]): Promise<number> {
  const { values: v, positionals } = parseOptions(
    args,
    { ...HOST_OPTION, force: { type: "boolean", short: "f" } },
    USAGE,
    { positionals: true },
  );
  if (positionals.length < 1) throw new UsageError(`node rm needs at least one node\n${USAGE}`);
  for (const ref of positionals) {
    await api(v.host, "DELETE", `/nodes/${encodeURIComponent(ref)}${v.force ? "?force=1" : ""}`);
    console.log(ref);
  }
  return 0;
}

/** Docker's wording: "Node node2 promoted to a manager in the swarm." */
async function role(to: "promote" | "demote", args: string[]): Promise<number> {
  const { values: v, positionals } = parseOptions(args, HOST_OPTION, USAGE, { positionals: true });
  if (positionals.length < 1) throw new UsageError(`node ${to} needs at least one node\n${USAGE}`);
  for (const ref of positionals) {
    await api(v.host, "POST", `/nodes/${encodeURIComponent(ref)}/${to}`);
    console.log(`Node ${ref} ${to === "promote" ? "promoted to a manager" : "demoted"} in the swarm.`);
  }
  return 0;
}
