// `weft fdb --control PATH [--json]`: the forwarding database of a running `weft vtep`.

import { parseArgs } from "node:util";
import { UsageError } from "../errors.ts";
import { controlGet } from "../control/client.ts";
import type { FdbReply } from "../dataplane/protocol.ts";

const USAGE = "(usage: weft fdb --control PATH [--json])";

export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("  ")).join(
    "\n",
  );
}

export function controlArgs(args: string[], usage: string): { control: string; json: boolean } {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      options: { control: { type: "string" }, json: { type: "boolean", default: false } },
    }));
  } catch (e) {
    throw new UsageError(`${(e as Error).message} ${usage}`);
  }
  if (!values.control) throw new UsageError(`missing --control PATH ${usage}`);
  return { control: values.control, json: values.json ?? false };
}

export async function main(args: string[]): Promise<number> {
  const { control, json } = controlArgs(args, USAGE);
  const fdb = await controlGet<FdbReply>(control, "/fdb");
  if (json) {
    console.log(JSON.stringify(fdb, null, 2));
    return 0;
  }
  const rows = [["VNI", "MAC", "TO", "STATE", "AGE"]];
  const sorted = [...fdb.entries].sort((a, b) => a.vni - b.vni || a.mac.localeCompare(b.mac));
  for (const e of sorted) {
    rows.push([String(e.vni), e.mac, e.where, e.static ? "static" : "learned", e.static ? "-" : `${e.age}s`]);
  }
  console.log(table(rows));
  console.log(`${fdb.entries.length} entries (${fdb.used} of ${fdb.capacity} used)`);
  return 0;
}
