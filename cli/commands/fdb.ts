// `weft fdb --control PATH [--json]`: the forwarding database of a running `weft vtep`.

import { parseArgs } from "node:util";
import { UsageError } from "../errors.ts";
import { controlGet } from "../control/client.ts";
import type { FdbReply, FdbRow } from "../dataplane/protocol.ts";

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

/** The FDB as `weft fdb` prints it; a NETWORK column when the rows name their network (daemon). */
export function formatFdb(
  f: { used: number; capacity: number; entries: (FdbRow & { network?: string })[] },
): string {
  const named = f.entries.some((e) => e.network !== undefined);
  const rows = [[...(named ? ["NETWORK"] : []), "VNI", "MAC", "TO", "STATE", "AGE"]];
  const sorted = [...f.entries].sort((a, b) => a.vni - b.vni || a.mac.localeCompare(b.mac));
  for (const e of sorted) {
    rows.push([
      ...(named ? [e.network ?? ""] : []),
      String(e.vni),
      e.mac,
      e.where,
      e.static ? "static" : "learned",
      e.static ? "-" : `${e.age}s`,
    ]);
  }
  return `${table(rows)}\n${f.entries.length} entries (${f.used} of ${f.capacity} used)`;
}

export async function main(args: string[]): Promise<number> {
  const { control, json } = controlArgs(args, USAGE);
  const fdb = await controlGet<FdbReply>(control, "/fdb");
  console.log(json ? JSON.stringify(fdb, null, 2) : formatFdb(fdb));
  return 0;
}
