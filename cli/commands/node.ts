// `weft node ls`: the swarm's nodes, on a manager.

import { parseArgs } from "node:util";
import { UsageError } from "../errors.ts";
import { api, HOST_OPTION } from "../control/daemon/client.ts";
import { table } from "../table.ts";

const USAGE = "Usage: weft node ls [-H unix:///path] [--format json]";

export async function main(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== "ls") throw new UsageError(USAGE);
  let v;
  try {
    ({ values: v } = parseArgs({
      args: rest,
      strict: true,
      options: { ...HOST_OPTION, format: { type: "string" } },
    }));
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${USAGE}`);
  }
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
      n.role === "manager" ? "Leader" : "",
    ]);
  }
  console.log(table(rows));
  return 0;
}
