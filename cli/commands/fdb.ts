// `weft fdb [--network NAME] [--json]`: the local daemon's forwarding database, or with
// `--control PATH` that of a running `weft vtep`.

import { table } from "../table.ts";
import type { FdbRow } from "../dataplane/protocol.ts";
import { target } from "./target.ts";

const USAGE = "(usage: weft fdb [--network NAME] [-H HOST] [--json] | weft fdb --control PATH [--json])";

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
  const t = target(args, USAGE, true);
  const fdb = await t.get<Parameters<typeof formatFdb>[0]>(
    `/fdb${t.network ? `?network=${encodeURIComponent(t.network)}` : ""}`,
  );
  console.log(t.json ? JSON.stringify(fdb, null, 2) : formatFdb(fdb));
  return 0;
}
