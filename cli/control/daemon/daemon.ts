// The weft daemon, one per host: the HTTP/JSON API on a unix socket that every other command is a
// client of, the swarm role (a Manager with the store and the 2377 listener, or an Agent with a
// session to one), the data plane (one UDP socket, one switch per VNI, one TAP per container),
// and the containers of this host. This class holds that state and wires the jobs, each in its
// own file:
//   routes.ts       the API: a table of method + path → handler, one error → HTTP status mapping
//   state_files.ts  what is remembered under --state-dir, and where
//   role.ts         manager or worker: opening the store, promotion, demotion
//   swarm.ts        swarm init/join/leave/update, join tokens, nodes
//   containers.ts   run, rm, network connect/disconnect, ps, inspect
//   attach.ts       a container's parts: TAPs on the switch, endpoints, eth1, DNS; restart
//   records.ts      the container and attachment records, network lookup by name or id
//   networks.ts     network ls/create/rm/inspect, fdb, stats, ESP SAs
//   reconcile.ts    snapshot → data-plane actions (pure)
//   inspect.ts      the Docker-shaped views

import type { Manager } from "../swarm/manager.ts";
import type { Agent } from "../swarm/agent.ts";
import type { NetworkRecord, Snapshot } from "../swarm/types.ts";
import { VtepReconciler } from "./vtep_reconciler.ts";
import { type EspDesired, NodeEncryption } from "./encryption.ts";
import type { SaAnnouncement } from "../../esp/keys.ts";
import { ESP_PORT } from "../../esp/port.ts";
import { answering } from "../server.ts";
import { GatewayBridge } from "./gwbridge.ts";
import { mtuOfAddress, unplug } from "./sandbox.ts";
import { EmbeddedDns, parseUpstream, type Upstream } from "../../dns/server.ts";
import { readHostResolvConf } from "../../dns/resolv_conf.ts";
import { ApiError } from "../../errors.ts";
import { type Attachment, attachmentsOf, type ContainerRecord, type Live } from "./records.ts";
import { CONTAINERS_JSON, DAEMON_JSON, type DaemonConfig, GWBRIDGE_JSON, StateDir } from "./state_files.ts";
import { desiredVni, localNetworks, networkMtu, type NodeState, reconcile } from "./reconcile.ts";
import { restoreContainers } from "./attach.ts";
import { openManager, startAgentFromCache } from "./role.ts";
import { handle } from "./routes.ts";

/** What `weft daemon` passes in (its flags). */
export interface DaemonOptions {
  /** `--state-dir` (DEFAULT_STATE_DIR): state_files.ts says what lives there. */
  stateDir: string;
  /** Path of the API's unix socket (`-H unix://PATH`, DEFAULT_HOST). */
  socket: string;
  /** This node's name in the swarm (`--hostname`, default the host's). */
  hostname: string;
  /** TAP offloads and UDP GSO/GRO on the data plane (default on). */
  offload?: boolean;
  /** weft_gwbridge's subnet (gwbridge.ts GWBRIDGE_SUBNET by default). */
  gwbridgeSubnet?: string;
  /** This instance's nftables table (default: defaultNftTable(stateDir)). */
  nftTable?: string;
  /** Resolvers the embedded DNS forwards to (dockerd's --dns); default: the host's resolv.conf. */
  dns?: Upstream[];
}

/** A table name per weft instance: "weft_" and the FNV-1a hash (32 bits, hex) of the state dir,
 * since instances on one host differ by their state dir. */
export function defaultNftTable(stateDir: string): string {
  let h = 0x811c9dc5; // FNV-1a, 32 bits
  for (const ch of new TextEncoder().encode(stateDir)) h = Math.imul(h ^ ch, 0x01000193) >>> 0;
  return `weft_${h.toString(16).padStart(8, "0")}`;
}

/**
 * The daemon's state and life cycle. Its fields are shared with the job modules listed above
 * (they take the Daemon as their first argument); nothing outside cli/control/daemon/ uses them.
 */
export class Daemon {
  /** daemon.json: this node's place in a swarm; undefined outside one. */
  config?: DaemonConfig;
  /** This node's manager, when it is one and serving. */
  manager?: Manager;
  /** This worker's session to a manager. */
  agent?: Agent;
  readonly dp: VtepReconciler;
  /** 127.0.0.11 in every container: names from the snapshot's endpoints. */
  readonly dns: EmbeddedDns;
  readonly gw: GatewayBridge;
  readonly files: StateDir;
  /** This host's containers by name (containers.json). */
  readonly containers = new Map<string, ContainerRecord>();
  /** Their interfaces while this daemon runs, by records.ts liveKey. */
  readonly live = new Map<string, Live>();
  /** The last snapshot applied (the manager's view for this node). */
  snapshot?: Snapshot;
  /** MTU of the underlay device (the one holding the VTEP address) in bytes, once the VTEP runs. */
  underlayMtu?: number;
  /** Encrypted networks: this node's SAs (encryption.ts). */
  readonly enc: NodeEncryption;
  /** The SAs last planned per network id. */
  readonly espPlans = new Map<string, EspDesired>();
  /** Why this manager is not serving (its store unreachable at start), or undefined. */
  managerProblem?: string;
  /** The retry of openManager while the store is unreachable. */
  reopen?: ReturnType<typeof setTimeout>;
  private server?: Deno.HttpServer;
  /** Serialises container and swarm changes. */
  private lock: Promise<unknown> = Promise.resolve();

  /** @throws IpamError for a bad gwbridgeSubnet */
  constructor(readonly o: DaemonOptions) {
    this.files = new StateDir(o.stateDir);
    this.dp = new VtepReconciler(o.offload ?? true);
    this.dp.log = (m) => this.log(m);
    this.gw = new GatewayBridge({
      subnet: o.gwbridgeSubnet,
      table: o.nftTable ?? defaultNftTable(o.stateDir),
      stateFile: this.files.path(GWBRIDGE_JSON),
      log: (m) => this.log(m),
    });
    this.dns = new EmbeddedDns({
      upstreams: () => this.upstreams(),
      networksOf: (name) => {
        const c = this.containers.get(name);
        // Its first network and those joined later (`network connect`).
        return c ? attachmentsOf(c).map((a) => a.network) : [];
      },
      log: (m) => this.log(m),
    });
    this.enc = new NodeEncryption((a) => this.announceSa(a), (m) => this.log(m));
    this.enc.onDue = () => {
      if (this.snapshot) this.apply(this.snapshot).catch((e) => this.log(`apply: ${e}`));
    };
  }

  /** Where containers' non-container DNS queries go: DaemonOptions.dns, else the host's. */
  upstreams(): Upstream[] {
    if (this.o.dns?.length) return this.o.dns;
    return readHostResolvConf().nameservers.map(parseUpstream).filter((u): u is Upstream => !!u);
  }

  /** Sends this node's SA to the manager (its own, in process, when this node is the manager). */
  private announceSa(a: SaAnnouncement): Promise<unknown> {
    if (this.manager) return this.manager.request(this.manager.localNodeId, "sa.announce", { ...a });
    if (this.agent) return this.agent.rpc("sa.announce", { ...a });
    return Promise.reject(new Error("not in a swarm"));
  }

  /** One line on stderr: time, weftd[hostname], the message. */
  log(m: string): void {
    console.error(`${new Date().toISOString()} weftd[${this.o.hostname}]: ${m}`);
  }

  /** Sets and persists daemon.json (atomically). */
  saveConfig(config: DaemonConfig): void {
    this.config = config;
    this.files.write(DAEMON_JSON, config);
  }

  /** Persists containers.json from `containers` (atomically). */
  saveContainers(): void {
    this.files.write(CONTAINERS_JSON, [...this.containers.values()]);
  }

  /** Runs `f` after every change queued before it (container and swarm changes, one at a time). */
  serial<T>(f: () => Promise<T>): Promise<T> {
    const next = this.lock.then(f, f);
    this.lock = next.catch(() => {});
    return next;
  }

  /** Every attachment of this host's containers. */
  attachments(): Attachment[] {
    return [...this.containers.values()].flatMap(attachmentsOf);
  }

  /**
   * Reads the state dir, restarts the VTEP, the role and the containers it names, then serves
   * the API.
   * @throws ApiError when another daemon answers on the socket; Deno.errors.* for the state dir
   */
  async start(): Promise<void> {
    this.files.create();
    this.config = this.files.read<DaemonConfig>(DAEMON_JSON);
    for (const c of this.files.read<ContainerRecord[]>(CONTAINERS_JSON) ?? []) this.containers.set(c.name, c);
    if (this.config) {
      await this.dp.start(this.vtepAddr!, this.config.dataPathPort, this.config.espPort);
      this.underlayMtu = await mtuOfAddress(this.vtepAddr!);
      if (this.config.role === "manager") await openManager(this);
      else startAgentFromCache(this);
      await restoreContainers(this);
      if (this.snapshot) await this.apply(this.snapshot);
    }
    await this.listen();
    this.log(`listening on ${this.o.socket}; state in ${this.o.stateDir}`);
  }

  private async listen(): Promise<void> {
    const sock = this.o.socket;
    Deno.mkdirSync(sock.slice(0, sock.lastIndexOf("/")) || "/", { recursive: true });
    if (await answering(sock)) {
      throw new ApiError(
        `another daemon is listening on ${sock}; give this one its own --host and --state-dir`,
      );
    }
    try {
      Deno.removeSync(sock);
    } catch { /* none */ }
    this.server = Deno.serve({ path: sock, onListen() {} }, (req) => handle(this, req));
    // Root only, whatever the umask: the API hands out keys (GET /esp/sa) and runs containers.
    Deno.chmodSync(sock, 0o600);
  }

  /** Stops serving and the role, closes the data plane and the TAPs; containers stay. */
  async shutdown(): Promise<void> {
    clearTimeout(this.reopen);
    await this.server?.shutdown();
    try {
      Deno.removeSync(this.o.socket);
    } catch { /* gone */ }
    this.enc.stop();
    this.agent?.stop();
    await this.manager?.stop();
    this.dns.close();
    for (const l of this.live.values()) if (l.tap) unplug(l.tap);
    await this.dp.stop();
    // The NAT rules go with the daemon (the next start puts them back); the bridge and eth1s
    // stay with the containers that outlive it.
    await this.gw.removeTable();
  }

  /** The VTEP's underlay address: --data-path-addr, else --advertise-addr. */
  get vtepAddr(): string | undefined {
    return this.config?.dataPathAddr ?? this.config?.advertiseAddr;
  }

  /** This node's id in the swarm (undefined outside one). */
  get nodeId(): string | undefined {
    return this.manager?.localNodeId ?? this.config?.creds?.nodeId;
  }

  /** A network's MTU on this node (reconcile.ts networkMtu). */
  mtuFor(net: NetworkRecord): number {
    return networkMtu(net, this.underlayMtu, this.vtepAddr);
  }

  private nodeState(): NodeState {
    return {
      me: this.nodeId,
      local: this.attachments(),
      espError: this.dp.espError,
      espPlans: this.espPlans,
      underlayMtu: this.underlayMtu,
      vtepAddr: this.vtepAddr,
      programmed: new Set(this.attachments().map((a) => a.vni).filter((v) => this.dp.hasVni(v))),
    };
  }

  /** Every network with a local container gets its VNI programmed from the snapshot (reconcile.ts). */
  async apply(s: Snapshot): Promise<void> {
    this.snapshot = s;
    this.dns.setEndpoints(s.endpoints, s.networks);
    if (!this.dp.running) return;
    // The SAs first: the programming below takes them from espPlans.
    if (!this.dp.espError) {
      for (const net of localNetworks(s, this.attachments())) {
        if (net.encrypted) this.espPlans.set(net.id, await this.enc.plan(net, s, this.nodeId!));
      }
    }
    const actions = reconcile(s, this.nodeState());
    for (const act of actions) {
      if (act.op === "hold") {
        if (this.enc.status.get(act.network.id) !== act.reason) {
          this.log(`network ${act.network.name} stays down: ${act.reason}`);
        }
        this.enc.status.set(act.network.id, act.reason);
      } else if (act.op === "program") {
        await this.dp.reconcile(act.want.vni, act.want);
      }
    }
    this.enc.prune(s);
    for (const act of actions) {
      if (act.op === "ensure" && !this.dp.hasVni(act.attachment.vni)) await this.ensureVni(act.attachment);
    }
  }

  /** Programs a local attachment's VNI from the last snapshot (or from the attachment alone). */
  async ensureVni(a: Attachment): Promise<void> {
    if (a.encrypted && this.dp.espError) return; // stays down: apply() says why
    // The first container of an encrypted network: announce this node's SAs now, not at the
    // next snapshot (there may be none for a while).
    const net = a.encrypted ? this.snapshot?.networks.find((n) => n.id === a.network) : undefined;
    if (net && this.nodeId) this.espPlans.set(net.id, await this.enc.plan(net, this.snapshot!, this.nodeId));
    await this.dp.reconcile(a.vni, desiredVni(a.vni, a.mtu, a.network, this.snapshot, this.nodeState()));
  }

  /** GET /info: this node's role and addresses, for `weft info` (docker info's Swarm section). */
  info() {
    return {
      hostname: this.o.hostname,
      swarm: this.config ? "active" : "inactive",
      role: this.config?.role ?? null,
      nodeId: this.nodeId ?? null,
      advertiseAddr: this.config?.advertiseAddr ?? null,
      dataPathAddr: this.vtepAddr ?? null,
      dataPathPort: this.config?.dataPathPort ?? null,
      espPort: this.config ? this.config.espPort ?? ESP_PORT : null,
      managerReachable: this.manager ? true : this.agent?.connected ?? false,
      /** The manager this worker's session is with (or was last), "ip:port". */
      manager: this.agent ? `${this.agent.current.host}:${this.agent.current.port}` : null,
      /** Why the manager refused this node (it has to leave and join again), or null. */
      refused: this.agent?.refusal ?? null,
      containers: this.containers.size,
      snapshotVersion: this.snapshot?.version ?? null,
      /** The embedded DNS server's counters (queries, answered, nodata, formerr, forward, …). */
      dns: this.dns.counters,
    };
  }
}
