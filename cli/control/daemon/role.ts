// Manager or worker: how this daemon takes up its role in the swarm and changes it. A manager
// opens the swarm store (embedded, or etcd with --cluster-store) and serves the 2377 listener; a
// worker keeps an Agent session to a manager. `weft node promote|demote` moves a node between the
// two while its containers stay untouched (Docker: the node keeps its tasks across a role change).

import { Manager } from "../swarm/manager.ts";
import { Agent, type Credentials } from "../swarm/agent.ts";
import { EmbeddedState, EtcdState, type SwarmState } from "../swarm/state.ts";
import { parseClusterStore } from "../swarm/etcd.ts";
import { type Snapshot, type StoreConfig, visibleSnapshot } from "../swarm/types.ts";
import type { Daemon } from "./daemon.ts";
import { CACHE_JSON, STORE_JSONL } from "./state_files.ts";

/** Milliseconds between attempts to open a manager whose store was unreachable at start. */
export const REOPEN_MS = 2000;

/**
 * The store a manager's state lives in: the embedded store.jsonl, or etcd at `store.url`.
 * @throws EtcdError for a cluster store URL or TLS files that cannot be used
 */
export function stateFor(d: Daemon, store?: StoreConfig): SwarmState {
  if (!store) return new EmbeddedState(d.files.path(STORE_JSONL));
  return new EtcdState(parseClusterStore(store.url, { ca: store.ca, cert: store.cert, key: store.key }));
}

/** Opens the manager of daemon.json; a store unreachable at start is retried every REOPEN_MS
 * (d.managerProblem says why it is not serving meanwhile). */
export async function openManager(d: Daemon): Promise<void> {
  try {
    d.manager = await Manager.open(stateFor(d, d.config!.store), d.config!.nodeId);
    d.manager.storeConfig = d.config!.store;
    d.managerProblem = undefined;
    if (d.manager.self.role !== "manager") {
      // Demoted while this daemon was down.
      d.manager.onDemoted = (creds) => d.serial(() => becomeWorker(d, creds));
      await d.manager.becomeWorker();
      return;
    }
    if (d.manager.state instanceof EmbeddedState) {
      d.log(`store replayed: ${d.manager.state.store.replayed} records`);
    }
    startManager(d);
  } catch (e) {
    d.managerProblem = e instanceof Error ? e.message : String(e);
    d.log(`${d.managerProblem}; retrying`);
    d.reopen = setTimeout(() => openManager(d).catch(() => {}), REOPEN_MS);
  }
}

/** A worker restarts from its credentials and its cached snapshot (cache.json). */
export function startAgentFromCache(d: Daemon): void {
  startAgent(d, d.config!.creds!, d.files.read<Snapshot>(CACHE_JSON));
  d.snapshot = d.agent!.state ? visibleSnapshot(d.agent!.state) : undefined;
}

/** `weft node promote` reached this worker: it serves as a manager from the same store. */
async function becomeManager(d: Daemon, store: StoreConfig): Promise<void> {
  const nodeId = d.config!.creds!.nodeId;
  d.agent?.stop();
  d.agent = undefined;
  d.manager = await Manager.open(stateFor(d, store), nodeId);
  d.manager.storeConfig = store;
  startManager(d);
  d.saveConfig({ ...d.config!, role: "manager", creds: undefined, nodeId, store });
  d.log("promoted: this node is now a manager");
}

/** This manager was demoted: it goes on as a worker, its containers untouched. */
async function becomeWorker(d: Daemon, creds: Credentials): Promise<void> {
  await d.manager?.stop();
  d.manager = undefined;
  d.saveConfig({ ...d.config!, role: "worker", creds, store: undefined });
  startAgent(d, creds, d.snapshot);
  d.log("demoted: this node is now a worker");
}

/** Starts d.manager (opened by the caller) and applies its view for this node. */
export function startManager(d: Daemon): void {
  const m = d.manager!;
  m.log = (s) => d.log(s);
  m.onDemoted = (creds) => {
    d.serial(() => becomeWorker(d, creds)).catch((e) => d.log(`demotion: ${e}`));
  };
  m.onLocalSnapshot = (s) => {
    d.apply(s).catch((e) => d.log(`apply: ${e}`));
  };
  m.start();
  d.apply(m.localSnapshot()).catch((e) => d.log(`apply: ${e}`));
}

/** Starts a worker's session with `creds`, from `cached` when it has one; every snapshot it gets
 * is applied and kept in cache.json. */
export function startAgent(d: Daemon, creds: Credentials, cached?: Snapshot): void {
  const a = new Agent(creds, cached);
  a.log = (s) => d.log(s);
  a.onPromote = (store) => {
    d.serial(() => becomeManager(d, store)).catch((e) => d.log(`promotion: ${e}`));
  };
  a.onSnapshot = (s) => {
    d.snapshot = s;
    try {
      // Everything the node was told, with its revision: a restart resumes from there.
      d.files.write(CACHE_JSON, a.state);
    } catch { /* best effort */ }
    d.apply(s).catch((e) => d.log(`apply: ${e}`));
  };
  d.agent = a;
  a.start();
}
