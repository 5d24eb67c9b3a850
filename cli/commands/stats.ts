// `weft stats --control PATH [--json]`: counters of a running `weft vtep`, drops by reason.

import { controlGet } from "../control/client.ts";
import { DROP_REASONS, LINK_COUNTERS, VNI_COUNTERS } from "../core/counters.ts";
import type { StatsReply } from "../dataplane/protocol.ts";
import { controlArgs, table } from "./fdb.ts";

const USAGE = "(usage: weft stats --control PATH [--json])";

export async function main(args: string[]): Promise<number> {
  const { control, json } = controlArgs(args, USAGE);
  const s = await controlGet<StatsReply>(control, "/stats");
  if (json) {
    console.log(JSON.stringify(s, null, 2));
    return 0;
  }
  const out: string[] = [`VNI ${s.vni}`];
  out.push(table(VNI_COUNTERS.map((n) => [`  ${n}`, String(s.counters[n])])));
  const drops = DROP_REASONS.filter(([n]) => s.counters.dropped[n] || s.global.dropped[n]);
  if (drops.length) {
    out.push("drops");
    out.push(
      table(drops.map(([n, why]) => [`  ${n}`, String(s.counters.dropped[n] + s.global.dropped[n]), why])),
    );
  }
  const links = [["LINK", "ID", ...LINK_COUNTERS.map((n) => n.toUpperCase())]];
  for (const p of s.ports) {
    links.push([
      `tap ${p.name}`,
      String(p.id),
      ...LINK_COUNTERS.map((n) => String(p[n])),
    ]);
  }
  for (const v of s.vteps) {
    links.push([
      `vtep ${v.name}`,
      String(v.id),
      ...LINK_COUNTERS.map((n) => String(v[n])),
    ]);
  }
  out.push(table(links));
  out.push(table(Object.entries(s.io).map(([k, v]) => [k, String(v)])));
  out.push(`fdb ${s.fdb.used} of ${s.fdb.capacity}`);
  console.log(out.join("\n"));
  return 0;
}
