// This host's containers, as `docker run`, `rm`, `ps`, `inspect` and `network connect|disconnect`
// handle them: a network namespace per container with an interface per network (eth0, eth2, …),
// eth1 on weft_gwbridge for the way out, 127.0.0.11 for DNS, and one endpoint record per network
// at the manager (the parts: attach.ts).

import { validName } from "../swarm/types.ts";
import { validAlias } from "../../dns/names.ts";
import { removeContainerResolvConf } from "../../dns/resolv_conf.ts";
import { ApiError } from "../../errors.ts";
import { SwarmError } from "../swarm/errors.ts";
import {
  createNamespace,
  deleteNamespace,
  killProcess,
  namespaceExists,
  running,
  SandboxError,
  startProcess,
} from "./sandbox.ts";
import { containerInspect } from "./inspect.ts";
import type { Daemon } from "./daemon.ts";
import {
  attachmentFor,
  attachmentsOf,
  type ContainerRecord,
  findAttachment,
  liveKey,
  procOf,
} from "./records.ts";
import { LOGS_DIR } from "./state_files.ts";
import { findNetwork } from "../swarm/records.ts";
import {
  attachGw,
  dropUnusedVnis,
  endpointCreate,
  endpointDelete,
  gwAddresses,
  plug,
  refuseUnusable,
  startDns,
  unplugAttachment,
} from "./attach.ts";

function container(d: Daemon, name: string): ContainerRecord {
  const c = d.containers.get(name);
  if (!c) throw new ApiError(`no such container: ${name}`, 404);
  return c;
}

/**
 * POST /v1/containers (`docker run -d --network NET`): a namespace, eth0 on NET, eth1 on
 * weft_gwbridge unless NET is --internal, DNS, then CMD (or sandbox.ts PLACEHOLDER).
 * @param b `{ name, network, cmd?: string[], ip?, ip6?, aliases?: string[] }`
 * @returns the ContainerRecord
 * @throws ApiError 400 for a bad name, alias or missing network; 409 for a name or namespace in
 *   use, a network refused by the manager, or an encrypted one this node cannot encrypt; 500 when
 *   the sandbox cannot be made (everything made so far is undone)
 */
export function runContainer(d: Daemon, b: Record<string, any>) {
  return d.serial(async () => {
    const name = String(b.name ?? "");
    if (!validName(name)) {
      throw new ApiError(`invalid container name "${name}": letters, digits, "_", "." and "-", up to 63`);
    }
    if (d.containers.has(name)) throw new ApiError(`the container name "${name}" is already in use`, 409);
    if (namespaceExists(name)) {
      throw new ApiError(`a network namespace named "${name}" exists already; pick another --name`, 409);
    }
    if (!b.network) throw new ApiError("--network is required: weft containers live on overlay networks");
    const cmd: string[] = Array.isArray(b.cmd) ? b.cmd.map(String) : [];
    const aliases: string[] = Array.isArray(b.aliases) ? [...new Set(b.aliases.map(String) as string[])] : [];
    const badAlias = aliases.find((a) => !validAlias(a));
    if (badAlias !== undefined) {
      throw new ApiError(`invalid --network-alias "${badAlias}": letters, digits, "_", "-" and dots`);
    }
    let created;
    try {
      created = await endpointCreate(
        d,
        String(b.network),
        name,
        b.ip ? String(b.ip) : undefined,
        b.ip6 ? String(b.ip6) : undefined,
        aliases.length ? aliases : undefined,
      );
    } catch (e) {
      // The manager's refusals (SwarmError) get this call's status, as before SwarmError was an ApiError.
      if (e instanceof ApiError && !(e instanceof SwarmError)) throw e;
      throw new ApiError(e instanceof Error ? e.message : String(e), 409);
    }
    const { endpoint, network } = created;
    await refuseUnusable(d, endpoint, network, true);
    const { ifname: _, ...eth0 } = attachmentFor(network, endpoint, d.mtuFor(network), "eth0");
    const c: ContainerRecord = {
      name,
      ...eth0,
      cmd,
      created: new Date().toISOString(),
      ...(aliases.length ? { aliases } : {}),
    };
    try {
      await createNamespace(name);
      startDns(d, c); // before any process starts: `ip netns exec` binds resolv.conf at its start
      d.containers.set(name, c);
      await plug(d, name, attachmentsOf(c)[0]);
      const proc = await startProcess(name, cmd, d.files.path(`${LOGS_DIR}/${name}.log`));
      c.pid = proc.pid;
      c.pidStart = proc.start;
      if (!network.internal) await attachGw(d, c);
      d.saveContainers();
    } catch (e) {
      await removeContainer(d, name, true, true).catch(() => {});
      await deleteNamespace(name).catch(() => {});
      d.dns.detach(name);
      removeContainerResolvConf(name);
      await endpointDelete(d, endpoint.id).catch(() => {});
      if (e instanceof SandboxError) throw new ApiError(`cannot create container ${name}: ${e.message}`, 500);
      throw e;
    }
    d.log(`container ${name} on ${network.name}: ${c.ip} ${c.mac}`);
    return c;
  });
}

/**
 * Removes container `name`: its process, interfaces, eth1, namespace, DNS; then (unless
 * `internal`, a rollback whose caller deletes the endpoint) its endpoints at the manager; the
 * last container of a network takes the network's VNI with it.
 * @throws ApiError 404 for an unknown container, 409 when its CMD runs and not `force`
 */
export async function removeContainer(
  d: Daemon,
  name: string,
  force: boolean,
  internal: boolean,
): Promise<ContainerRecord> {
  const c = container(d, name);
  // A container without CMD runs only the placeholder: nothing of the user's to stop.
  if (c.cmd.length && running(procOf(c)) && !force) {
    throw new ApiError(
      `container ${name} is running ${c.cmd.join(" ")}; stop it or use "weft rm -f ${name}"`,
      409,
    );
  }
  killProcess(procOf(c));
  for (const a of attachmentsOf(c)) await unplugAttachment(d, name, a);
  if (c.gw) await d.gw.detach(c.gw);
  await deleteNamespace(name).catch((e) => d.log(`rm ${name}: ${e.message}`));
  d.containers.delete(name);
  d.dns.detach(name); // its socket kept the namespace alive until now
  removeContainerResolvConf(name);
  d.saveContainers();
  if (c.gw && !gwAddresses(d).length) await d.gw.teardown().catch((e) => d.log(e.message));
  if (!internal) {
    for (const a of attachmentsOf(c)) {
      await endpointDelete(d, a.endpointId).catch((e) => d.log(`rm ${name}: endpoint: ${e.message}`));
    }
  }
  await dropUnusedVnis(d, attachmentsOf(c).map((a) => a.vni));
  return c;
}

/** DELETE /v1/containers/NAME[?force=1] (`docker rm [-f]`): removeContainer, serialised. */
export function rm(d: Daemon, name: string, force: boolean) {
  return d.serial(() => removeContainer(d, name, force, false));
}

/**
 * POST /v1/networks/REF/connect `{ container, ip?, ip6? }` (`docker network connect`, Docker's
 * POST /networks/{id}/connect): a new endpoint on REF and an interface for it in the container,
 * the next free of eth2, eth3, … (eth1 is weft_gwbridge's); a first non-internal network brings
 * eth1 too.
 * @returns the new Attachment
 * @throws ApiError 404 for an unknown container or network, 409 when the container is on the
 *   network already or it is encrypted and this node cannot encrypt, 400 for other refusals of
 *   the manager, 500 when the interface cannot be made (undone)
 */
export function connect(d: Daemon, ref: string, name: string, b: Record<string, any>) {
  return d.serial(async () => {
    const c = container(d, name);
    const known = d.manager ? d.manager.networks() : d.snapshot?.networks ?? [];
    const already = findAttachment(c, ref) ??
      attachmentsOf(c).find((a) => a.network === findNetwork(known, ref)?.id);
    if (already) {
      throw new ApiError(`container ${name} is already attached to network ${already.networkName}`, 409);
    }
    let created;
    try {
      created = await endpointCreate(
        d,
        ref,
        name,
        b.ip ? String(b.ip) : undefined,
        b.ip6 ? String(b.ip6) : undefined,
      );
    } catch (e) {
      // The manager's refusals (SwarmError) get this call's status, as before SwarmError was an ApiError.
      if (e instanceof ApiError && !(e instanceof SwarmError)) throw e;
      const msg = e instanceof Error ? e.message : String(e);
      throw new ApiError(msg, /not found/.test(msg) ? 404 : 400);
    }
    const { endpoint, network } = created;
    if (attachmentsOf(c).some((a) => a.network === network.id)) {
      await endpointDelete(d, endpoint.id).catch(() => {});
      throw new ApiError(`container ${name} is already attached to network ${network.name}`, 409);
    }
    await refuseUnusable(d, endpoint, network, false); // fail closed, as `weft run` does
    const taken = new Set(attachmentsOf(c).map((a) => a.ifname));
    let i = 2;
    while (taken.has(`eth${i}`)) i++;
    const a = attachmentFor(network, endpoint, d.mtuFor(network), `eth${i}`);
    try {
      await plug(d, name, a);
      (c.connected ??= []).push(a);
      if (!a.internal && !c.gw) await attachGw(d, c);
    } catch (e) {
      c.connected = c.connected?.filter((x) => x !== a);
      await unplugAttachment(d, name, a);
      await endpointDelete(d, endpoint.id).catch(() => {});
      await dropUnusedVnis(d, [a.vni]);
      throw new ApiError(
        `cannot connect ${name} to ${network.name}: ${e instanceof Error ? e.message : e}`,
        500,
      );
    } finally {
      d.saveContainers();
    }
    d.log(`container ${name} connected to ${network.name} as ${a.ifname}: ${a.ip}`);
    return a;
  });
}

/**
 * POST /v1/networks/REF/disconnect `{ container }` (`docker network disconnect`): the interface
 * leaves the container, the endpoint goes; eth1 goes with the last non-internal network. The
 * network given to `weft run` (eth0) stays: rm the container.
 * @returns `{ disconnected: true }`
 * @throws ApiError 404 for an unknown container, 404 when it is not on REF, 409 for eth0's network
 */
export function disconnect(d: Daemon, ref: string, name: string) {
  return d.serial(async () => {
    const c = container(d, name);
    const a = findAttachment(c, ref);
    if (!a) throw new ApiError(`container ${name} is not connected to network ${ref}`, 404);
    if (a.ifname === "eth0") {
      throw new ApiError(
        `network ${a.networkName} is ${name}'s first network (eth0): weft cannot take it away; use "weft rm -f ${name}"`,
        409,
      );
    }
    await unplugAttachment(d, name, a);
    c.connected = c.connected!.filter((x) => x !== a);
    if (c.gw && attachmentsOf(c).every((x) => x.internal)) {
      await d.gw.detach(c.gw);
      c.gw = undefined;
    }
    d.saveContainers();
    if (c.gw === undefined && !gwAddresses(d).length && d.gw.exists()) {
      await d.gw.teardown().catch((e) => d.log(e.message));
    }
    await endpointDelete(d, a.endpointId).catch((e) => d.log(`disconnect ${name}: ${e.message}`));
    await dropUnusedVnis(d, [a.vni]);
    return { disconnected: true };
  });
}

/** GET /v1/containers (`docker ps -a`): every ContainerRecord with `status` ("running" or
 * "exited") and `eth0` ("up" or "down"). */
export function ps(d: Daemon) {
  return [...d.containers.values()].map((c) => ({
    ...c,
    status: running(procOf(c)) ? "running" : "exited",
    eth0: d.live.has(c.name) ? "up" : "down",
  }));
}

/**
 * GET /v1/containers/NAME: the record as ps() has it, `pid` 0 when not running (Docker's
 * State.Pid).
 * @throws ApiError 404 for an unknown container
 */
export function containerStatus(d: Daemon, name: string) {
  const c = container(d, name);
  const up = running(procOf(c));
  return {
    ...c,
    pid: up ? c.pid : 0,
    status: up ? "running" : "exited",
    eth0: d.live.has(c.name) ? "up" : "down",
  };
}

/**
 * GET /v1/containers/NAME/json (`docker inspect NAME`): a one-element array (inspect.ts).
 * @throws ApiError 404 for an unknown container
 */
export function inspect(d: Daemon, name: string) {
  const c = container(d, name);
  const nets = d.manager ? d.manager.networks() : d.snapshot?.networks ?? [];
  const up = new Set(attachmentsOf(c).map((x) => x.ifname).filter((i) => d.live.has(liveKey(c.name, i))));
  return [containerInspect(c, running(procOf(c)), up, nets, d.gw)];
}
