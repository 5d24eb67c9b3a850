// `weft rm [-f] C…`: removes containers: process, eth0, namespace, endpoint record (and its IP).

import { UsageError } from "../errors.ts";
import { api, parseCommand } from "../control/daemon/client.ts";

const USAGE = "Usage: weft rm [-f] NAME…";

export async function main(args: string[]): Promise<number> {
  const { values: v, positionals } = parseCommand(args, { force: { type: "boolean", short: "f" } }, USAGE);
  if (!positionals.length) throw new UsageError(USAGE);
  for (const p of positionals) {
    await api(v.host, "DELETE", `/containers/${encodeURIComponent(p)}${v.force ? "?force=1" : ""}`);
    console.log(p);
  }
  return 0;
}
