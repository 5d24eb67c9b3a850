// `weft fdb [--network NAME]` and `weft stats` through the daemon (without --control, which
// addresses a standalone `weft vtep`).

import { parseArgs } from "node:util";
import { UsageError } from "../../errors.ts";
import { api, HOST_OPTION } from "./client.ts";
import { formatFdb } from "../../commands/fdb.ts";
import { formatStats } from "../../commands/stats.ts";

export async function fdbMain(args: string[]): Promise<number> {
  let v;
  try {
    ({ values: v } = parseArgs({
      args,
      strict: true,
      options: { ...HOST_OPTION, network: { type: "string" }, json: { type: "boolean" } },
    }));
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\nUsage: weft fdb [--network NAME] [--json]`);
  }
  const f = await api(v.host, "GET", `/fdb${v.network ? `?network=${encodeURIComponent(v.network)}` : ""}`);
  console.log(v.json ? JSON.stringify(f, null, 2) : formatFdb(f));
  return 0;
}

export async function statsMain(args: string[]): Promise<number> {
  let v;
  try {
    ({ values: v } = parseArgs({
      args,
      strict: true,
      options: { ...HOST_OPTION, json: { type: "boolean" } },
    }));
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\nUsage: weft stats [--json]`);
  }
  const s = await api(v.host, "GET", "/stats");
  console.log(v.json ? JSON.stringify(s, null, 2) : formatStats(s));
  return 0;
}
