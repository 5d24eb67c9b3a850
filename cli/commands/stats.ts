// `weft stats [--json]`: the local daemon's data-plane counters, drops by reason; with
// `--control PATH` those of a running `weft vtep`.

import { DROP_REASONS, LATE_COUNTERS, LINK_COUNTERS, VNI_COUNTERS } from "../core/counters.ts";
import type { StatsReply } from "../dataplane/protocol.ts";
import { table } from "../table.ts";
import { target } from "./target.ts";
import { DNS_COUNTERS, type DnsCounter } from "../dns/server.ts";
import { ESP_NODE_COUNTERS } from "../esp/esp.ts";

const USAGE = "(usage: weft stats [-H HOST] [--json] | weft stats --control PATH [--json])";

/** The data plane's counters as `weft stats` prints them (the daemon's `weft stats` too). */
export function formatStats(s: StatsReply): string {
  const out: string[] = [];
  for (const { vni, counters } of s.vnis) {
    out.push(`VNI ${vni}`);
    out.push(table([...VNI_COUNTERS, ...LATE_COUNTERS].map((n) => [`  ${n}`, String(counters[n])])));
    const drops = DROP_REASONS.filter(([n]) => counters.dropped[n]);
    if (drops.length) {
      out.push(table(drops.map(([n, why]) => [`  drop ${n}`, String(counters.dropped[n]), why])));
    }
  }
  // Frames no VNI took in (unknown VNI, bad VXLAN flags, …).
  const global = DROP_REASONS.filter(([n]) => s.global.dropped[n]);
  if (global.length) {
    out.push("no VNI");
    out.push(table(global.map(([n, why]) => [`  drop ${n}`, String(s.global.dropped[n]), why])));
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
  // The daemon's embedded DNS server (a standalone vtep has none).
  const dns = (s as StatsReply & { dns?: Record<DnsCounter, number> }).dns;
  if (dns) {
    out.push("DNS (127.0.0.11 in the containers)");
    out.push(table(DNS_COUNTERS.map(([n, why]) => [`  ${n}`, String(dns[n] ?? 0), why])));
  }
  for (const e of s.esp ?? []) {
    out.push(`ESP VNI ${e.vni} (${e.sending ? "sending" : "NOT sending: no key yet"}, ${e.inbound} inbound SAs)`);
    out.push(table(Object.entries(e.counters).map(([k, v]) => [`  ${k}`, String(v)])));
  }
  // What arrived on the ESP port for no network: counted once, for the node.
  if (s.espNode) {
    const n = s.espNode;
    out.push("ESP node (no network)");
    out.push(table(ESP_NODE_COUNTERS.map(([k, why]) => [`  ${k}`, String(n[k]), why])));
  }
  return out.join("\n");
}

export async function main(args: string[]): Promise<number> {
  const t = target(args, USAGE);
  const s = await t.get<StatsReply>("/stats");
  console.log(t.json ? JSON.stringify(s, null, 2) : formatStats(s));
  return 0;
}
