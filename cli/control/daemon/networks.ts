// The daemon's network operations (`docker network ls|create|rm|inspect`), and what the data
// plane holds for them (`weft fdb`, `weft stats`, `weft esp sa`). Creating and removing networks
// is a manager's; a worker lists the networks it has containers on (Docker's lazy extension of
// overlay networks to workers).

import type { NetworkRecord } from "../swarm/types.ts";
import { formatCidr, overlaps, parseCidr } from "../swarm/ipam.ts";
import { espSaLines } from "../../esp/sad.ts";
import { ApiError } from "../../errors.ts";
import { bridgeInspect, networkInspect as networkView } from "./inspect.ts";
import type { Daemon } from "./daemon.ts";
import { attachmentsOf } from "./records.ts";
import { findNetwork } from "../swarm/records.ts";
import { gwAddresses } from "./attach.ts";
import { requireManager } from "./swarm.ts";

/** Shown when an operation needs the data plane and there is none. */
const NO_DATAPLANE = "the data plane is not running: this node is not part of a swarm";

/** A manager sees every network; a worker only those it has containers on (lazy extension).
 * @throws ApiError 409 outside a swarm */
function visibleNetworks(d: Daemon): NetworkRecord[] {
  if (d.manager) return d.manager.networks();
  if (!d.config) throw new ApiError("this node is not part of a swarm", 409);
  const ids = new Set(d.attachments().map((a) => a.network));
  return (d.snapshot?.networks ?? []).filter((n) => ids.has(n.id));
}

/** The networks this node knows (a manager's, else the last snapshot's), not only visible ones. */
function knownNetworks(d: Daemon): NetworkRecord[] {
  return d.manager ? d.manager.networks() : d.snapshot?.networks ?? [];
}

/** weft_gwbridge as `docker network ls/inspect` show docker_gwbridge: bridge, local. */
function gwNetwork(d: Daemon) {
  return {
    id: d.gw.id,
    name: d.gw.name,
    driver: "bridge",
    scope: "local",
    subnet: formatCidr(d.gw.subnet),
    gateway: d.gw.gateway,
    internal: false,
    attachable: false,
  };
}

/**
 * GET /v1/networks (`docker network ls`): the visible NetworkRecords, and weft_gwbridge while a
 * container uses it.
 * @throws ApiError 409 outside a swarm
 */
export function networks(d: Daemon) {
  const nets: unknown[] = visibleNetworks(d);
  if (gwAddresses(d).length) nets.push(gwNetwork(d));
  return nets;
}

/**
 * POST /v1/networks (`docker network create -d overlay`), on a manager.
 * @param b `{ name, driver? ("overlay"), subnet?, gateway?, ipRange? (each a string or a list),
 *   ipv6?, attachable?, internal?, mtu? (bytes), labels?, encrypted? }`
 * @returns the NetworkRecord
 * @throws ApiError 503 off a manager, 400 for another driver or a subnet that overlaps
 *   weft_gwbridge's (a container would have two routes for it); SwarmError (409 name taken, …)
 */
export async function networkCreate(d: Daemon, b: Record<string, any>) {
  const m = requireManager(d);
  if (b.driver && b.driver !== "overlay") {
    throw new ApiError(`driver "${b.driver}" is not supported: weft only has "overlay"`);
  }
  const strings = (x: unknown) => x === undefined || x === null ? undefined : [x].flat().map(String);
  const labels: Record<string, string> = {};
  if (b.labels && typeof b.labels === "object") {
    for (const [k, v] of Object.entries(b.labels)) labels[k] = String(v);
  }
  // A container on it would have two routes for the same addresses (eth0 and eth1).
  for (const t of strings(b.subnet) ?? []) {
    let sub;
    try {
      sub = parseCidr(t);
    } catch {
      continue; // not IPv4, or malformed: the manager says which
    }
    if (!b.internal && overlaps(sub, d.gw.subnet)) {
      throw new ApiError(
        `subnet ${t} overlaps ${d.gw.name}'s ${
          formatCidr(d.gw.subnet)
        }: pick another, or start the daemons with another --gwbridge-subnet`,
      );
    }
  }
  return await m.createNetwork({
    name: String(b.name ?? ""),
    subnet: strings(b.subnet),
    gateway: strings(b.gateway),
    ipRange: strings(b.ipRange),
    ipv6: !!b.ipv6,
    attachable: !!b.attachable,
    internal: !!b.internal,
    mtu: b.mtu === undefined || b.mtu === null ? undefined : Number(b.mtu),
    labels,
    encrypted: !!b.encrypted,
  });
}

/**
 * DELETE /v1/networks/REF (`docker network rm`), on a manager.
 * @throws ApiError 503 off a manager; SwarmError (404 unknown, 409 endpoints still on it)
 */
export async function networkRemove(d: Daemon, ref: string) {
  return await requireManager(d).removeNetwork(ref);
}

/** ESP on this node for `network inspect`: up, or why not. */
function encryptionStatus(d: Daemon, networkId: string) {
  const local = [...d.containers.values()].some((c) => c.network === networkId);
  return {
    Protocol: "ESP in UDP (RFC 4303, RFC 3948), AES-128-GCM (RFC 4106), 64-bit ESN",
    Status: d.dp.espError ?? d.enc.status.get(networkId) ??
      (local ? "starting" : "not instantiated on this node (no local container)"),
  };
}

/**
 * GET /v1/networks/REF (`docker network inspect`): a one-element array in Docker's
 * NetworkResource shape (inspect.ts), REF resolved by swarm/records.ts findNetwork; weft_gwbridge as a
 * local bridge while a container uses it. An encrypted network shows `"encrypted": ""` in
 * Options, as Docker's, and its ESP status on this node.
 * @throws ApiError 404 for an unknown network, 409 outside a swarm
 */
export function networkInspect(d: Daemon, ref: string) {
  if (ref === d.gw.name && gwAddresses(d).length) {
    const members = [...d.containers.values()].filter((c) => c.gw)
      .map((c) => ({
        name: c.name,
        endpointId: `gw-${c.endpointId}`,
        mac: c.gw!.mac,
        ip: `${c.gw!.ip}/${d.gw.subnet.bits}`,
      }));
    return [bridgeInspect(gwNetwork(d), members)];
  }
  const net = findNetwork(visibleNetworks(d), ref);
  if (!net) throw new ApiError(`network ${ref} not found`, 404);
  const eps = d.manager ? d.manager.endpoints() : d.snapshot?.endpoints ?? [];
  const nodes = d.manager ? d.manager.nodes() : d.snapshot?.nodes ?? [];
  const peers = [...new Set(eps.filter((e) => e.network === net.id).map((e) => e.node))]
    .map((id) => nodes.find((n) => n.id === id)).filter((n) => n)
    .map((n) => ({ Name: n!.hostname, IP: n!.dataAddr ?? n!.addr }));
  const members = [...d.containers.values()].flatMap((c) =>
    attachmentsOf(c).filter((a) => a.network === net.id).map((a) => ({ name: c.name, ...a }))
  );
  const view = networkView(net, d.mtuFor(net), members, peers);
  if (!net.encrypted) return [view];
  return [{ ...view, Options: { ...view.Options, encrypted: "" }, Encryption: encryptionStatus(d, net.id) }];
}

/**
 * GET /v1/fdb[?network=REF] (`weft fdb`): the switch's FDB (FdbReply), each entry with its
 * network's name; REF (swarm/records.ts findNetwork) keeps that network's entries only.
 * @throws ApiError 409 without a data plane, 404 for an unknown network
 */
export async function fdb(d: Daemon, network?: string) {
  if (!d.dp.running) throw new ApiError(NO_DATAPLANE, 409);
  const f = await d.dp.fdb();
  const nets = knownNetworks(d);
  const byVni = new Map(nets.map((n) => [n.vni, n.name]));
  let entries = f.entries.map((e) => ({ ...e, network: byVni.get(e.vni) ?? "" }));
  if (network) {
    const net = findNetwork(nets, network);
    if (!net) throw new ApiError(`network ${network} not found on this node`, 404);
    entries = entries.filter((e) => e.vni === net.vni);
  }
  return { used: f.used, capacity: f.capacity, entries };
}

/**
 * GET /v1/stats (`weft stats`): the data plane's StatsReply, the DNS counters, and `espError`
 * when this node cannot encrypt.
 * @throws ApiError 409 without a data plane
 */
export async function stats(d: Daemon) {
  if (!d.dp.running) throw new ApiError(NO_DATAPLANE, 409);
  const s = { ...await d.dp.stats(), dns: d.dns.counters };
  return d.dp.espError ? { ...s, espError: d.dp.espError } : s;
}

/** GET /v1/esp/sa (`weft esp sa`): every SA this node holds, as Wireshark esp_sa lines (keys:
 * root only, over the local socket). */
export async function espSa(d: Daemon): Promise<string[]> {
  const s = d.snapshot, me = d.nodeId;
  if (!s || !me) return [];
  const addrOf = new Map(s.nodes.map((n) => [n.id, n.addr]));
  const local = new Set([...d.containers.values()].map((c) => c.network));
  return espSaLines(await d.enc.table(s, me, local, addrOf));
}
