// The managers of a swarm (HA, as Docker's managers but without Raft: etcd holds the state and
// the election). Each manager keeps a presence key (`manager/<id>`, on its lease: Reachable in
// `node ls`); one at a time holds the leader key (`leader/leader`, a conditional write, so one
// wins; it goes with the lease, LEASE_TTL_S after the leader dies, and another takes it). The
// leader marks a worker Down when it has had no session on any manager for HEARTBEAT_TIMEOUT_MS.
// Role changes (promote, demote, a demoted manager going on as a worker) and the check of
// `node rm` are here too: they are the changes to the set of managers and nodes.

import type { Credentials } from "./agent.ts";
import { SwarmError } from "./errors.ts";
import { randomSecret, sha256Hex } from "./pki.ts";
import type { Records } from "./records.ts";
import type { Op, SwarmState } from "./state.ts";
import { write } from "./txn.ts";
import { HEARTBEAT_TIMEOUT_MS, type NodeRecord, type NodeView, type StoreConfig } from "./types.ts";

/** What `weft node promote` is refused with on a swarm without a cluster store. */
export const NEEDS_CLUSTER_STORE =
  "this swarm keeps its state in the embedded store of its one manager: more managers need a cluster store (weft swarm init --cluster-store etcd://H1:2379,…)";

/** One manager's part in the election, and the role changes of nodes. */
export class Leadership {
  /** Leader's view: since when (Date.now() ms) a worker has had no session anywhere. */
  private readonly absentSince = new Map<string, number>();

  constructor(
    private readonly state: SwarmState,
    private readonly records: Records,
    private readonly log: (msg: string) => void,
  ) {}

  /** True when this manager holds the leader key (in its mirror). */
  isLeader(): boolean {
    return this.state.get<{ id: string }>("leader", "leader")?.id === this.records.localNodeId;
  }

  /** This manager's presence key (its lease keeps it): Reachable in `node ls`. */
  async announce(): Promise<void> {
    await this.state.txn([], [{
      put: ["manager", this.records.localNodeId],
      value: { since: new Date().toISOString() },
    }]);
  }

  /** The leader key when no manager holds it (a conditional write: one manager wins). */
  async claim(): Promise<void> {
    if (this.state.get("leader", "leader") !== undefined || this.records.self?.role !== "manager") return;
    if (
      await this.state.txn([{ absent: ["leader", "leader"] }], [{
        put: ["leader", "leader"],
        value: { id: this.records.localNodeId },
      }])
    ) {
      this.log("this manager is now the leader");
      this.absentSince.clear();
    }
  }

  /**
   * The leader's round (`now`: Date.now() ms): a worker with no session key for more than
   * HEARTBEAT_TIMEOUT_MS gets a `down/` key (its endpoints are then withdrawn by every node).
   */
  async markDown(now: number): Promise<void> {
    for (const n of this.state.all<NodeRecord>("node")) {
      if (n.role === "manager" || this.state.get("session", n.id) !== undefined) {
        this.absentSince.delete(n.id);
        continue;
      }
      if (this.state.get("down", n.id) !== undefined) continue;
      const since = this.absentSince.get(n.id) ?? now;
      this.absentSince.set(n.id, since);
      if (now - since > HEARTBEAT_TIMEOUT_MS) {
        const ok = await this.state.txn([{ absent: ["session", n.id] }], [{
          put: ["down", n.id],
          value: { since: new Date().toISOString() },
        }]);
        if (ok) {
          this.log(
            `node ${n.hostname} (${
              n.id.slice(0, 12)
            }) is Down: no session for ${HEARTBEAT_TIMEOUT_MS} ms; withdrawing its endpoints`,
          );
        }
      }
    }
  }

  /** One of several managers leaves: its node record and presence go (and the leader key, if
   * it holds it); the others go on. */
  async leave(): Promise<void> {
    const id = this.records.localNodeId;
    const ops: Op[] = [{ del: ["node", id] }, { del: ["manager", id] }];
    if (this.isLeader()) ops.push({ del: ["leader", "leader"] });
    await write(this.state, [], ops);
  }

  /**
   * The node `weft node rm` may remove: a Down one, or any with `force`, never this manager.
   * @throws SwarmError (404) unknown node, (409) this manager itself or a node not Down.
   */
  removable(ref: string, force: boolean): NodeView {
    const n = this.records.findNode(ref);
    if (n.id === this.records.localNodeId) {
      throw new SwarmError('a manager cannot remove itself: use "weft swarm leave" on it', 409);
    }
    const v = this.records.view(n);
    if (!force && v.status !== "Down") {
      throw new SwarmError(
        `node ${n.hostname} is not down and can't be removed: stop it first or use --force`,
        409,
      );
    }
    return v;
  }

  /**
   * This manager, demoted, becomes a worker: a node secret of its own (its hash in its record),
   * and the credentials of a worker's session with another manager (`caCert`: the swarm CA, PEM).
   * @throws SwarmError when no other manager is left.
   */
  async asWorker(caCert: string): Promise<Credentials> {
    const { state, records } = this;
    const me = records.self;
    const other = state.all<NodeRecord>("node").find((n) => n.role === "manager" && n.id !== me.id);
    if (!other) throw new SwarmError("no other manager to become a worker of");
    const nodeSecret = randomSecret(40);
    await state.txn([], [{
      put: ["node", me.id],
      value: { ...me, secretHash: await sha256Hex(nodeSecret) },
    }]);
    const [host, port] = records.controlAddr(other).split(":");
    this.log(`this node was demoted: it goes on as a worker of ${host}:${port}`);
    return {
      nodeId: me.id,
      nodeSecret,
      manager: { host, port: Number(port) },
      managers: records.managerAddrs(),
      caCert,
      dataPathPort: records.cluster.dataPathPort,
      espPort: records.cluster.espPort,
    };
  }

  /**
   * `weft node promote`: a worker becomes a manager on the same store (Docker's node promote),
   * listening on 0.0.0.0 and this manager's port. Its daemon hears it over its session and starts
   * serving. Needs a cluster store (`store`).
   * @throws SwarmError (404) unknown node, (409) already a manager, no cluster store, Down, or
   * changed meanwhile.
   */
  async promote(ref: string, store: StoreConfig | undefined): Promise<NodeView> {
    const { state, records } = this;
    const n = records.findNode(ref);
    if (n.role === "manager") throw new SwarmError(`node ${n.hostname} is already a manager`, 409);
    if (state.describe === "embedded" || !store) throw new SwarmError(NEEDS_CLUSTER_STORE, 409);
    if (records.status(n) === "Down") {
      throw new SwarmError(`node ${n.hostname} is Down: promote it once it is back`, 409);
    }
    const promoted: NodeRecord = {
      ...n,
      role: "manager",
      listen: `0.0.0.0:${records.listenOf(records.self)[1]}`,
    };
    if (
      !await write(state, [{ unchanged: ["node", n.id], rev: state.modRev("node", n.id) }], [{
        put: ["node", n.id],
        value: promoted,
      }])
    ) {
      throw new SwarmError(`node ${n.hostname} changed meanwhile; try again`, 409);
    }
    return records.view(promoted);
  }

  /**
   * `weft node demote`: a manager becomes a worker (its presence and any leader key go); the
   * last manager cannot.
   * @throws SwarmError (404) unknown node, (409) already a worker, the last manager, or changed
   * meanwhile.
   */
  async demote(ref: string): Promise<NodeView> {
    const { state, records } = this;
    const n = records.findNode(ref);
    if (n.role !== "manager") throw new SwarmError(`node ${n.hostname} is already a worker`, 409);
    if (state.all<NodeRecord>("node").filter((x) => x.role === "manager").length < 2) {
      throw new SwarmError(
        `node ${n.hostname} is the last manager of the swarm: it cannot be demoted`,
        409,
      );
    }
    const demoted: NodeRecord = { ...n, role: "worker", secretHash: "", listen: undefined };
    const ops: Op[] = [{ put: ["node", n.id], value: demoted }, { del: ["manager", n.id] }];
    if (state.get<{ id: string }>("leader", "leader")?.id === n.id) {
      ops.push({ del: ["leader", "leader"] });
    }
    if (!await write(state, [{ unchanged: ["node", n.id], rev: state.modRev("node", n.id) }], ops)) {
      throw new SwarmError(`node ${n.hostname} changed meanwhile; try again`, 409);
    }
    return records.view(demoted);
  }
}
