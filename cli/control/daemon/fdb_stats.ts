// `weft fdb [--network NAME]` and `weft stats` through the daemon (without --control, which
// addresses a standalone `weft vtep`).

import { parseArgs } from "node:util";
import { UsageError } from "../../errors.ts";
import { api, HOST_OPTION, table } from "./client.ts";
import { DROP_REASONS, LINK_COUNTERS, VNI_COUNTERS } from "../../core/counters.ts";

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
  if (v.json) {
    console.log(JSON.stringify(f, null, 2));
    return 0;
  }
  const rows = [["NETWORK", "VNI", "MAC", "TO", "STATE", "AGE"]];
  const sorted = [...f.entries].sort((a: any, b: any) => a.vni - b.vni || a.mac.localeCompare(b.mac));
  for (const e of sorted) {
    rows.push([
      e.network,
      String(e.vni),
      e.mac,
      e.where,
      e.static ? "static" : "learned",
      e.static ? "-" : `${e.age}s`,
    ]);
  }
  console.log(table(rows));
  console.log(`${f.entries.length} entries (${f.used} of ${f.capacity} used)`);
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
  if (v.json) {
    console.log(JSON.stringify(s, null, 2));
    return 0;
  }
  const out: string[] = [];
  for (const b of s.vnis) {
    out.push(`VNI ${b.vni}`);
    out.push(table(VNI_COUNTERS.map((n) => [`  ${n}`, String(b.counters[n])])));
    const drops = DROP_REASONS.filter(([n]) => b.counters.dropped[n]);
    if (drops.length) {
      out.push(table(drops.map(([n, why]) => [`  drop ${n}`, String(b.counters.dropped[n]), why])));
    }
  }
  const links = [["LINK", "ID", ...LINK_COUNTERS.map((n) => n.toUpperCase())]];
  for (const p of s.ports) {
    links.push([
      `tap ${p.name}`,
      String(p.id),
      ...LINK_COUNTERS.map((n) => String(p[n])),
    ]);
  }
  for (const t of s.vteps) {
    links.push([
      `vtep ${t.name}`,
      String(t.id),
      ...LINK_COUNTERS.map((n) => String(t[n])),
    ]);
  }
  out.push(table(links));
  out.push(`fdb ${s.fdb.used} of ${s.fdb.capacity}`);
  console.log(out.join("\n"));
  return 0;
}
