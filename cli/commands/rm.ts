// `weft rm [-f] C…`: removes containers: process, eth0, namespace, endpoint record (and its IP).

import { parseArgs } from "node:util";
import { UsageError } from "../errors.ts";
import { api, HOST_OPTION } from "../control/daemon/client.ts";

export async function main(args: string[]): Promise<number> {
  let v, positionals;
  try {
    ({ values: v, positionals } = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: { ...HOST_OPTION, force: { type: "boolean", short: "f" } },
    }));
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\nUsage: weft rm [-f] NAME…`);
  }
  if (!positionals.length) throw new UsageError("Usage: weft rm [-f] NAME…");
  for (const p of positionals) {
    await api(v.host, "DELETE", `/containers/${encodeURIComponent(p)}${v.force ? "?force=1" : ""}`);
    console.log(p);
  }
  return 0;
}
