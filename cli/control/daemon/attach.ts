// The parts of a container on this host, each made and undone here: its interfaces (a TAP per
// network on the switch of the network's VNI), its endpoints at the manager, eth1 on
// weft_gwbridge, its DNS (resolv.conf and 127.0.0.11); and bringing them back after a daemon
// restart. containers.ts composes them into run, rm, connect and disconnect.

import type { EndpointRecord, NetworkRecord } from "../swarm/types.ts";
import { formatCidr, overlaps, parseCidr } from "../swarm/ipam.ts";
import {
  containerResolvConf,
  readHostResolvConf,
  removeContainerResolvConf,
  writeContainerResolvConf,
} from "../../dns/resolv_conf.ts";
import { ApiError } from "../../errors.ts";
import { lowestFreePort } from "../../dataplane/node_vtep.ts";
import { attachNamespace, namespaceExists, plugEth0, running, unplug } from "./sandbox.ts";
import type { Daemon } from "./daemon.ts";
import { type Attachment, attachmentsOf, type ContainerRecord, liveKey, procOf } from "./records.ts";

/**
 * After a daemon restart: containers outlive the daemon (their processes and namespaces stay),
 * their TAPs died with its fds. Each container whose namespace is still there gets its
 * interfaces and DNS back; one whose namespace is gone is forgotten (and its endpoints deleted).
 */
export async function restoreContainers(d: Daemon): Promise<void> {
  for (const c of [...d.containers.values()]) {
    const proc = procOf(c);
    // A process that still runs names its namespace even when this daemon runs in another mount
    // namespace than the one that created it.
    if (running(proc)) {
      await attachNamespace(c.name, proc!).catch((e) => d.log(`container ${c.name}: ${e.message}`));
    }
    if (!namespaceExists(c.name)) {
      d.log(`container ${c.name}: namespace gone; forgetting it`);
      d.containers.delete(c.name);
      removeContainerResolvConf(c.name);
      for (const a of attachmentsOf(c)) endpointDelete(d, a.endpointId).catch(() => {});
      continue;
    }
    for (const a of attachmentsOf(c)) {
      try {
        await plug(d, c.name, a);
      } catch (e) {
        d.log(`container ${c.name}: cannot restore ${a.ifname}: ${e instanceof Error ? e.message : e}`);
      }
    }
    try {
      startDns(d, c);
    } catch (e) {
      d.log(`container ${c.name}: cannot restore its DNS: ${e instanceof Error ? e.message : e}`);
    }
  }
  d.saveContainers();
  if ([...d.containers.values()].some((c) => c.gw)) {
    await d.gw.ensure(d.vtepAddr).catch((e) => d.log(`${d.gw.name}: ${e.message}`));
  }
}

/** The container's /etc/resolv.conf (under /etc/netns) and its 127.0.0.11 listener. */
export function startDns(d: Daemon, c: ContainerRecord): void {
  const ups = d.upstreams().map((u) => `${u.hostname}${u.port === 53 ? "" : `:${u.port}`}`);
  writeContainerResolvConf(c.name, containerResolvConf(readHostResolvConf(), ups));
  d.dns.attach(c.name);
}

/** A TAP for the attachment, in the container as a.ifname, on the switch of its VNI (at the
 * lowest free port number). */
export async function plug(d: Daemon, name: string, a: Attachment): Promise<void> {
  const tap = await plugEth0(
    name,
    {
      mac: a.mac,
      mtu: a.mtu,
      address: `${a.ip}/${a.prefix}`,
      address6: a.ip6 ? `${a.ip6}/${a.prefix6}` : undefined,
    },
    d.dp.offload,
    a.ifname,
  );
  const port = lowestFreePort([...d.live.values()].map((l) => l.port));
  d.live.set(liveKey(name, a.ifname), { tap, port });
  await d.ensureVni(a);
  await d.dp.ops([{ op: "port.add", port, fd: tap.fd, name, vni: a.vni, mac: a.mac, ip: a.ip, ip6: a.ip6 }]);
}

/** Takes the attachment's TAP off the switch and closes it (the interface leaves the container). */
export async function unplugAttachment(d: Daemon, name: string, a: Attachment): Promise<void> {
  const key = liveKey(name, a.ifname);
  const l = d.live.get(key);
  if (l?.port !== undefined) await d.dp.ops([{ op: "port.remove", port: l.port }]).catch(() => {});
  if (l?.tap) unplug(l.tap);
  d.live.delete(key);
}

/** The VNIs no local container uses any more go. */
export async function dropUnusedVnis(d: Daemon, vnis: number[]): Promise<void> {
  const inUse = new Set(d.attachments().map((a) => a.vni));
  for (const vni of vnis) if (!inUse.has(vni)) await d.dp.reconcile(vni, null).catch(() => {});
}

/**
 * An endpoint for `container` on network `network` (name or id) from the manager (this node's
 * own, in process, or over the agent's session).
 * @throws ApiError 409 when this node is not in a swarm; the manager's error otherwise
 */
export async function endpointCreate(
  d: Daemon,
  network: string,
  container: string,
  ip?: string,
  ip6?: string,
  aliases?: string[],
): Promise<{ endpoint: EndpointRecord; network: NetworkRecord }> {
  const args = { network, container, ip, ip6, aliases };
  if (d.manager) {
    return await d.manager.request(d.manager.localNodeId, "endpoint.create", args) as {
      endpoint: EndpointRecord;
      network: NetworkRecord;
    };
  }
  if (d.agent) return await d.agent.rpc("endpoint.create", args);
  throw new ApiError(
    'this node is not part of a swarm: run "weft swarm init" or "weft swarm join" first',
    409,
  );
}

/** Deletes endpoint `id` at the manager (nothing outside a swarm).
 * @throws the manager's error (callers log it: the container goes anyway) */
export async function endpointDelete(d: Daemon, id: string): Promise<void> {
  if (d.manager) await d.manager.request(d.manager.localNodeId, "endpoint.delete", { id });
  else if (d.agent) await d.agent.rpc("endpoint.delete", { id });
}

/** The addresses containers hold on weft_gwbridge (their eth1). */
export function gwAddresses(d: Daemon): string[] {
  return [...d.containers.values()].flatMap((c) => c.gw ? [c.gw.ip] : []);
}

/** eth1 for container `name` on weft_gwbridge (created with its NAT rules if need be). */
export async function attachGw(d: Daemon, c: ContainerRecord): Promise<void> {
  await d.gw.ensure(d.vtepAddr);
  c.gw = await d.gw.attach(c.name, d.gw.allocate(gwAddresses(d)));
}

/**
 * Refuses an endpoint this node cannot use, deleting it at the manager first: a non-internal
 * network whose subnet overlaps weft_gwbridge's, or an encrypted one on a node that cannot
 * encrypt (fail closed).
 * @throws ApiError 400 for the overlap, 409 for encryption
 */
export async function refuseUnusable(
  d: Daemon,
  endpoint: EndpointRecord,
  network: NetworkRecord,
  run: boolean,
) {
  if (run && !network.internal && overlaps(parseCidr(network.subnet), d.gw.subnet)) {
    await endpointDelete(d, endpoint.id).catch(() => {});
    throw new ApiError(
      `network ${network.name}'s subnet ${network.subnet} overlaps this node's ${d.gw.name} ${
        formatCidr(d.gw.subnet)
      } (--gwbridge-subnet)`,
    );
  }
  if (network.encrypted && d.dp.espError) {
    await endpointDelete(d, endpoint.id).catch(() => {});
    throw new ApiError(`network ${network.name} is encrypted and ${d.dp.espError}; nothing was created`, 409);
  }
}
