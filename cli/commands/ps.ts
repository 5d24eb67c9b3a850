// `weft ps`: this host's containers.

import { parseOptions } from "../args.ts";
import { api, HOST_OPTION } from "../control/daemon/client.ts";
import { table } from "../table.ts";

export async function main(args: string[]): Promise<number> {
  const { values: v } = parseOptions(
    args,
    { ...HOST_OPTION, all: { type: "boolean", short: "a" }, format: { type: "string" } },
    "Usage: weft ps [-a] [--format json]",
  );
  const cs = await api<any[]>(v.host, "GET", "/containers");
  if (v.format === "json") {
    console.log(JSON.stringify(cs, null, 2));
    return 0;
  }
  const rows = [["CONTAINER ID", "NAME", "NETWORK", "IP", "MAC", "STATUS", "COMMAND"]];
  for (const c of cs) {
    // One container on several networks (weft network connect): each column lists them in order.
    const nets = [c, ...(c.connected ?? [])];
    rows.push([
      c.endpointId.slice(0, 12),
      c.name,
      nets.map((n) => n.networkName).join(","),
      nets.flatMap((n) => n.ip6 ? [n.ip, n.ip6] : [n.ip]).join(","),
      c.mac,
      c.status,
      c.cmd.join(" "),
    ]);
  }
  console.log(table(rows));
  return 0;
}
