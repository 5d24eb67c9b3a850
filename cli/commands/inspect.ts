// `weft inspect NAME…`: containers as `docker inspect` prints them (a JSON array).

import { UsageError } from "../errors.ts";
import { api, parseCommand } from "../control/daemon/client.ts";

const USAGE = "Usage: weft inspect [-H unix:///path] NAME…";

export async function main(args: string[]): Promise<number> {
  const { values: v, positionals } = parseCommand(args, {}, USAGE);
  if (!positionals.length) throw new UsageError(USAGE);
  const out = [];
  for (const p of positionals) out.push(...await api<unknown[]>(v.host, "GET", `/containers/${encodeURIComponent(p)}/json`));
  console.log(JSON.stringify(out, null, 4));
  return 0;
}
