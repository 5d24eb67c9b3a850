// The daemon's swarm operations, as `docker swarm` and `docker node` have them: init, join,
// leave, update, join tokens, and the node list and changes a manager serves. Refusals are
// ApiErrors (or the manager's SwarmErrors) that routes.ts turns into HTTP statuses.

import { type InitOptions, Manager, SwarmError } from "../swarm/manager.ts";
import { type Credentials, join, JoinError, parseRemote } from "../swarm/agent.ts";
import type { SwarmState } from "../swarm/state.ts";
import { EtcdError } from "../swarm/etcd.ts";
import { TokenError } from "../swarm/pki.ts";
import { ipToInt, parseCidr } from "../swarm/ipam.ts";
import { CONTROL_PORT, type StoreConfig } from "../swarm/types.ts";
import { MIN_KEY_ROTATION_MS } from "../../esp/keys.ts";
import { ESP_PORT, espPortProblem } from "../../esp/port.ts";
import { VXLAN_PORT } from "../../defaults.ts";
import { ApiError } from "../../errors.ts";
import { mtuOfAddress } from "./sandbox.ts";
import type { Daemon } from "./daemon.ts";
import { CACHE_JSON, DAEMON_JSON, type DaemonConfig, MANAGER_FILES, STORE_JSONL } from "./state_files.ts";
import { startAgent, startManager, stateFor } from "./role.ts";
import { removeContainer } from "./containers.ts";

/** `--default-addr-pool` default (Docker's): where networks without --subnet get theirs. */
export const DEFAULT_POOL = "10.0.0.0/8";
/** `--default-addr-pool-mask-length` default (Docker's): the prefix length of those subnets. */
export const DEFAULT_POOL_MASK_LENGTH = 24;
/** Largest pool mask length: a /29 still leaves addresses after network, gateway, broadcast. */
const MAX_POOL_MASK_LENGTH = 29;
/** `--data-path-port` range (Docker's: 1024..49151, outside the ephemeral ports). */
const DATA_PATH_PORT_MIN = 1024;
const DATA_PATH_PORT_MAX = 49151;

/**
 * This node's manager, for an operation only a manager serves.
 * @throws ApiError 503 when this node is not a manager, or its store is unreachable (Docker:
 *   "This node is not a swarm manager", 503)
 */
export function requireManager(d: Daemon): Manager {
  if (d.manager) return d.manager;
  if (d.config?.role === "manager" && d.managerProblem) {
    throw new ApiError(`this manager is not serving: ${d.managerProblem}`, 503);
  }
  if (d.config) {
    throw new ApiError("this node is not a swarm manager; run this command on a manager node", 503);
  }
  throw new ApiError(
    'this node is not a swarm manager; use "weft swarm init" or "weft swarm join" first',
    503,
  );
}

/** Init and join start here: not yet in a swarm, and a valid --advertise-addr.
 * @throws ApiError 409 when in a swarm already, 400 for the address */
function outsideSwarm(d: Daemon, b: Record<string, any>): string {
  if (d.config) {
    throw new ApiError('this node is already part of a swarm; use "weft swarm leave" first', 409);
  }
  const advertiseAddr = String(b.advertiseAddr ?? "");
  try {
    ipToInt(advertiseAddr);
  } catch {
    throw new ApiError(`--advertise-addr must be an IPv4 address of this host, got "${advertiseAddr}"`);
  }
  return advertiseAddr;
}

/** `--data-path-addr`, if given: an IPv4 address on one of this host's devices (checked
 * before a join, which the manager would otherwise record for a VTEP that cannot bind).
 * @throws ApiError 400 otherwise */
async function dataPathAddr(b: Record<string, any>): Promise<string | undefined> {
  if (b.dataPathAddr === undefined || b.dataPathAddr === null || b.dataPathAddr === "") return undefined;
  const a = String(b.dataPathAddr);
  try {
    ipToInt(a);
  } catch {
    throw new ApiError(`--data-path-addr must be an IPv4 address of this host, got "${a}"`);
  }
  if (await mtuOfAddress(a) === undefined) {
    throw new ApiError(`--data-path-addr ${a} is not an address of this host: add it to a device first`);
  }
  return a;
}

/** `--key-rotation-interval` in milliseconds, at least MIN_KEY_ROTATION_MS.
 * @throws ApiError 400 otherwise */
function keyRotationMs(v: unknown): number {
  const ms = Number(v);
  if (!Number.isInteger(ms) || ms < MIN_KEY_ROTATION_MS) {
    throw new ApiError(`--key-rotation-interval must be at least 1s, got ${v} ms`);
  }
  return ms;
}

/**
 * The VTEP at `addr`:`port` (ESP in UDP on `espPort`, ESP_PORT by default), and the underlay MTU
 * found on the device holding `addr`.
 */
async function startVtep(d: Daemon, addr: string, port: number, espPort?: number): Promise<void> {
  await d.dp.start(addr, port, espPort);
  d.underlayMtu = await mtuOfAddress(addr);
}

/**
 * POST /v1/swarm/init (`docker swarm init`): this node becomes the first manager of a new swarm.
 * @param b `{ advertiseAddr, dataPathAddr?, listenAddr? ("0.0.0.0:" CONTROL_PORT), dataPathPort?
 *   (VXLAN_PORT), pool? (DEFAULT_POOL), poolMaskLength? (DEFAULT_POOL_MASK_LENGTH), clusterStore?,
 *   clusterStoreCa?, clusterStoreCert?, clusterStoreKey?, keyRotationMs?, espPort? (ESP_PORT) }`
 * @returns `{ nodeId, token, join }`: the worker join token and the address to join at
 * @throws ApiError 400 for a bad parameter, 409 when in a swarm already; 503 when the cluster
 *   store is unreachable (EtcdError); the manager's status for a SwarmError; 500 otherwise
 */
export function swarmInit(d: Daemon, b: Record<string, any>) {
  return d.serial(async () => {
    const advertiseAddr = outsideSwarm(d, b);
    const dataAddr = await dataPathAddr(b);
    const listen = parseRemote(String(b.listenAddr ?? `0.0.0.0:${CONTROL_PORT}`), CONTROL_PORT);
    const dataPathPort = Number(b.dataPathPort ?? VXLAN_PORT);
    if (
      !Number.isInteger(dataPathPort) || dataPathPort < DATA_PATH_PORT_MIN ||
      dataPathPort > DATA_PATH_PORT_MAX
    ) {
      throw new ApiError(`--data-path-port must be in 1024..49151, got ${b.dataPathPort}`);
    }
    const espProblem = espPortProblem(b.espPort ?? ESP_PORT, dataPathPort);
    if (espProblem) throw new ApiError(espProblem);
    const espPort = Number(b.espPort ?? ESP_PORT);
    const pool = String(b.pool ?? DEFAULT_POOL);
    const maskLen = Number(b.poolMaskLength ?? DEFAULT_POOL_MASK_LENGTH);
    try {
      const p = parseCidr(pool);
      if (!Number.isInteger(maskLen) || maskLen < p.bits || maskLen > MAX_POOL_MASK_LENGTH) {
        throw new Error(`mask length ${maskLen} does not fit ${pool}`);
      }
    } catch (e) {
      throw new ApiError(`invalid --default-addr-pool: ${e instanceof Error ? e.message : e}`);
    }
    let store: StoreConfig | undefined;
    let state: SwarmState | undefined;
    if (b.clusterStore !== undefined) {
      try {
        store = {
          url: String(b.clusterStore),
          ca: b.clusterStoreCa,
          cert: b.clusterStoreCert,
          key: b.clusterStoreKey,
        };
        state = stateFor(d, store);
      } catch (e) {
        throw new ApiError(e instanceof Error ? e.message : String(e));
      }
    }
    const o: InitOptions = {
      advertiseAddr,
      dataPathAddr: dataAddr,
      listenAddr: listen.host,
      listenPort: listen.port,
      dataPathPort,
      ...(espPort !== ESP_PORT ? { espPort } : {}),
      pool,
      poolMaskLength: maskLen,
      hostname: d.o.hostname,
    };
    if (b.keyRotationMs !== undefined) o.keyRotationMs = keyRotationMs(b.keyRotationMs);
    try {
      d.manager = await Manager.init(d.o.stateDir, o, state);
      d.manager.storeConfig = store;
      await startVtep(d, dataAddr ?? advertiseAddr, dataPathPort, espPort);
      startManager(d);
      await d.manager.ready().catch((e) => d.log(`manager: ${e instanceof Error ? e.message : e}`));
    } catch (e) {
      await d.manager?.stop().catch(() => {});
      d.manager = undefined;
      d.files.remove(STORE_JSONL);
      await d.dp.stop();
      if (e instanceof SwarmError) throw e;
      if (e instanceof EtcdError) throw new ApiError(e.message, 503);
      throw new ApiError(`cannot start the manager: ${e instanceof Error ? e.message : e}`, 500);
    }
    d.saveConfig(
      configOf(d, "manager", advertiseAddr, `${listen.host}:${listen.port}`, dataPathPort, dataAddr, {
        nodeId: d.manager.localNodeId,
        store,
        ...(espPort !== ESP_PORT ? { espPort } : {}),
      }),
    );
    return { nodeId: d.manager.localNodeId, token: d.manager.token(), join: d.manager.joinAddress() };
  });
}

/** daemon.json for a node that just entered a swarm. */
function configOf(
  d: Daemon,
  role: DaemonConfig["role"],
  advertiseAddr: string,
  listenAddr: string,
  dataPathPort: number,
  dataPathAddr: string | undefined,
  rest: Pick<DaemonConfig, "nodeId" | "store" | "creds" | "espPort">,
): DaemonConfig {
  return {
    role,
    hostname: d.o.hostname,
    advertiseAddr,
    listenAddr,
    dataPathPort,
    ...(dataPathAddr ? { dataPathAddr } : {}),
    ...rest,
  };
}

/**
 * GET /v1/swarm/join-token?role= (`docker swarm join-token`).
 * @returns `{ token, join }` for `role` "worker" or "manager"
 * @throws ApiError 503 off a manager, 400 for another role; SwarmError
 */
export function joinToken(d: Daemon, role: string) {
  const m = requireManager(d);
  if (role !== "worker" && role !== "manager") {
    throw new ApiError(`unknown role "${role.slice(0, 20)}": "worker" or "manager"`);
  }
  return { token: m.token(role), join: m.joinAddress() };
}

/**
 * POST /v1/swarm/join (`docker swarm join`): this node joins with `token` at `remote`, as a
 * worker or — with a manager token — as another manager on the same store.
 * @param b `{ token, remote ("host[:port]", CONTROL_PORT), advertiseAddr, dataPathAddr?, listenAddr? }`
 * @returns `{ nodeId, role }`
 * @throws ApiError 400 for a bad parameter or a refused token, 409 when in a swarm already, 502
 *   when the manager cannot be reached or answers badly, 503 when a new manager cannot start
 */
export function swarmJoin(d: Daemon, b: Record<string, any>) {
  return d.serial(async () => {
    const advertiseAddr = outsideSwarm(d, b);
    const dataAddr = await dataPathAddr(b);
    const remote = parseRemote(String(b.remote ?? ""), CONTROL_PORT);
    const listen = parseRemote(String(b.listenAddr ?? `0.0.0.0:${CONTROL_PORT}`), CONTROL_PORT);
    const listenAddr = `${listen.host}:${listen.port}`;
    let joined;
    try {
      joined = await join(String(b.token ?? ""), remote, {
        hostname: d.o.hostname,
        addr: advertiseAddr,
        listen: listenAddr,
        dataAddr,
      });
    } catch (e) {
      if (e instanceof JoinError || e instanceof TokenError) throw new ApiError(e.message, 400);
      throw new ApiError(`cannot join: ${e instanceof Error ? e.message : e}`, 502);
    }
    if (joined.role === "manager") {
      const store = joined.store;
      try {
        d.manager = await Manager.open(stateFor(d, store), joined.nodeId);
        d.manager.storeConfig = store;
        await startVtep(d, dataAddr ?? advertiseAddr, d.manager.cluster.dataPathPort, d.manager.cluster.espPort);
        startManager(d);
      } catch (e) {
        await d.manager?.stop().catch(() => {});
        d.manager = undefined;
        throw new ApiError(
          `joined, but cannot start this manager: ${e instanceof Error ? e.message : e}`,
          503,
        );
      }
      const port = d.manager.cluster.dataPathPort;
      d.saveConfig(
        configOf(d, "manager", advertiseAddr, listenAddr, port, dataAddr, {
          nodeId: joined.nodeId,
          store,
          ...(d.manager.cluster.espPort ? { espPort: d.manager.cluster.espPort } : {}),
        }),
      );
      return { nodeId: joined.nodeId, role: "manager" };
    }
    const creds: Credentials = joined;
    await startVtep(d, dataAddr ?? advertiseAddr, creds.dataPathPort, creds.espPort);
    // A worker's listenAddr is what was asked: it serves nothing.
    d.saveConfig(
      configOf(d, "worker", advertiseAddr, String(b.listenAddr ?? ""), creds.dataPathPort, dataAddr, {
        creds,
        ...(creds.espPort ? { espPort: creds.espPort } : {}),
      }),
    );
    startAgent(d, creds);
    return { nodeId: creds.nodeId, role: "worker" };
  });
}

/**
 * POST /v1/swarm/leave[?force=1] (`docker swarm leave`): this host's containers go, then the node
 * leaves; the last manager erases the swarm from its store and needs `force`.
 * @returns `{ left: true }`
 * @throws ApiError 409 when not in a swarm, or for the only manager without `force`
 */
export function swarmLeave(d: Daemon, force: boolean) {
  return d.serial(async () => {
    if (!d.config) throw new ApiError("this node is not part of a swarm", 409);
    const others = d.manager?.nodes().filter((n) => n.role === "manager" && n.id !== d.manager!.localNodeId);
    if (d.manager && !others?.length && !force) {
      throw new ApiError(
        "you are attempting to leave the swarm on a node that is its only manager: this erases the cluster state (networks, nodes). Use --force to do it anyway",
        409,
      );
    }
    for (const name of [...d.containers.keys()]) await removeContainer(d, name, true, false);
    if (d.manager) {
      // One of several managers: its node leaves the store and the swarm goes on. The last one
      // erases the swarm from its store (a cluster store can then hold a new one).
      const done = others?.length ? d.manager.leave() : d.manager.destroy();
      await done.catch((e) => d.log(`leave: ${e.message}`));
    }
    if (d.agent) {
      await d.agent.rpc("node.leave").catch((e) => d.log(`leave: ${e.message}`));
      d.agent.stop();
      d.agent = undefined;
    }
    if (d.manager) {
      await d.manager.stop();
      d.manager = undefined;
      d.files.remove(...MANAGER_FILES);
    }
    await d.dp.stop();
    d.files.remove(DAEMON_JSON, CACHE_JSON);
    d.config = undefined;
    d.snapshot = undefined;
    return { left: true };
  });
}

/**
 * POST /v1/swarm/update (`docker swarm update`): swarm-wide settings, on a manager.
 * @param b `{ keyRotationMs }`: ms between ESP key rotations (at least MIN_KEY_ROTATION_MS); the
 *   next rotation is due by the new interval
 * @returns the settings as applied
 * @throws ApiError 503 off a manager, 400 for a bad value; SwarmError
 */
export async function swarmUpdate(d: Daemon, b: Record<string, any>) {
  const m = requireManager(d);
  const ms = keyRotationMs(b.keyRotationMs);
  await m.setKeyRotation(ms);
  return { keyRotationMs: ms };
}

/**
 * GET /v1/nodes (`docker node ls`): the swarm's nodes, `self` marking this one, `problem` why
 * this manager is Unreachable from where it stands (its cluster store).
 * @throws ApiError 503 off a manager
 */
export function nodes(d: Daemon) {
  const m = requireManager(d);
  const problem = m.state.unhealthy();
  return m.nodes().map((n) => ({
    ...n,
    self: n.id === m.localNodeId,
    problem: n.id === m.localNodeId ? problem : undefined,
  }));
}

/**
 * POST /v1/nodes/REF/promote|demote (`docker node promote|demote`).
 * @throws ApiError 503 off a manager; SwarmError (404 unknown node, 409 last manager, …)
 */
export async function nodeRole(d: Daemon, ref: string, to: "promote" | "demote") {
  const m = requireManager(d);
  return to === "promote" ? await m.promote(ref) : await m.demote(ref);
}

/**
 * DELETE /v1/nodes/REF[?force=1] (`docker node rm`).
 * @throws ApiError 503 off a manager; SwarmError (404 unknown node, 409 a node not Down without force)
 */
export async function nodeRemove(d: Daemon, ref: string, force: boolean) {
  return await requireManager(d).removeNodeByRef(ref, force);
}
