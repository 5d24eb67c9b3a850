// `weft swarm init`: a new swarm's first records, written in one transaction that succeeds only
// on a store that holds no swarm yet (Docker's `swarm init`, with the store in place of Raft).

import { caDigest, createCa, randomSecret } from "./pki.ts";
import { SwarmError } from "./errors.ts";
import { objectId, parseCidr } from "./ipam.ts";
import type { SwarmState } from "./state.ts";
import type { NodeRecord, SwarmRecord } from "./types.ts";

/** `weft swarm init` as the daemon passes it on. */
export interface InitOptions {
  /** IPv4 address other nodes reach this manager at (`--advertise-addr`). */
  advertiseAddr: string;
  /** The VTEP's address when it differs from advertiseAddr (`--data-path-addr`). */
  dataPathAddr?: string;
  /** Address and port the control listener binds (`--listen-addr`; CONTROL_PORT by default). */
  listenAddr: string;
  /** TCP port of the control listener (CONTROL_PORT, 2377, by default). */
  listenPort: number;
  /** UDP port of every node's VTEP (`--data-path-port`; VXLAN_PORT by default). */
  dataPathPort: number;
  /** The pool network subnets are carved from (`--default-addr-pool`, IPv4 CIDR). */
  pool: string;
  /** Prefix length of each pool subnet (`--default-addr-pool-mask-length`). */
  poolMaskLength: number;
  /** This node's name in `node ls`. */
  hostname: string;
  /** `--key-rotation-interval` in ms (DEFAULT_KEY_ROTATION_MS when absent). */
  keyRotationMs?: number;
  /** `--esp-port` (ESP_PORT when absent). */
  espPort?: number;
}

/**
 * Writes a new swarm into a started store: its record with fresh worker and manager secrets
 * (randomSecret), a CA (createCa) whose digest the join tokens pin, and this manager's node
 * record. Closes the store when it refuses.
 * @returns the new manager's node id.
 * @throws SwarmError (409) when the store already holds a swarm, or another manager initialised
 * one at the same time; IpamError for a bad pool.
 */
export async function createSwarm(state: SwarmState, o: InitOptions): Promise<string> {
  const existing = state.get<SwarmRecord>("cluster", "cluster");
  if (existing) {
    await state.close();
    throw new SwarmError(
      `the cluster store ${state.describe} already holds swarm ${existing.id}: join it with a manager token ("weft swarm join-token manager" on one of its managers), or use another store`,
      409,
    );
  }
  parseCidr(o.pool);
  const id = objectId();
  const ca = await createCa(id);
  const nodeId = objectId();
  const cluster: SwarmRecord = {
    id,
    createdAt: new Date().toISOString(),
    advertiseAddr: o.advertiseAddr,
    listenAddr: o.listenAddr,
    listenPort: o.listenPort,
    dataPathPort: o.dataPathPort,
    pool: o.pool,
    poolMaskLength: o.poolMaskLength,
    caDigest: await caDigest(ca.cert),
    workerSecret: randomSecret(),
    managerSecret: randomSecret(),
    ...(o.keyRotationMs ? { keyRotationMs: o.keyRotationMs } : {}),
    ...(o.espPort ? { espPort: o.espPort } : {}),
  };
  const node: NodeRecord = {
    id: nodeId,
    hostname: o.hostname,
    addr: o.advertiseAddr,
    ...(o.dataPathAddr ? { dataAddr: o.dataPathAddr } : {}),
    role: "manager",
    availability: "active",
    secretHash: "",
    joinedAt: new Date().toISOString(),
    listen: `${o.listenAddr}:${o.listenPort}`,
  };
  const ok = await state.txn([{ absent: ["cluster", "cluster"] }], [
    { put: ["cluster", "cluster"], value: cluster },
    { put: ["ca", "ca"], value: ca },
    { put: ["node", nodeId], value: node },
  ]);
  if (!ok) {
    await state.close();
    throw new SwarmError(`another manager initialised a swarm in ${state.describe} at the same time`, 409);
  }
  return nodeId;
}
