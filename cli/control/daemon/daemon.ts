// The weft daemon, one per host: the HTTP/JSON API on a unix socket that every other command is a
// client of, the cluster role (a Manager with the store and the 2377 listener, or an Agent with a
// session to one), the data plane (one UDP socket, one switch per VNI, one TAP per container),
// and the containers of this host. Everything it must remember lives under --state-dir:
//   daemon.json      role, addresses, and a worker's credentials (node id, secret, CA)
//   containers.json  this host's containers: namespace, endpoint, address, process
//   cache.json       a worker's last snapshot from the manager (replaced on every resync)
//   store.jsonl      a manager's embedded cluster store (with the CA); with --cluster-store the
//                    state lives in etcd and daemon.json says where

import { SwarmError, type InitOptions, Manager } from "../swarm/manager.ts";
import { Agent, type Credentials, join, JoinError, parseRemote } from "../swarm/agent.ts";
import { type SwarmState, EmbeddedState, EtcdState, StoreUnavailableError } from "../swarm/state.ts";
import { EtcdError, parseClusterStore } from "../swarm/etcd.ts";
import { TokenError } from "../swarm/pki.ts";
import { formatCidr, ipToInt, overlaps, parseCidr } from "../swarm/ipam.ts";
import {
  CONTROL_PORT,
  type EndpointRecord,
  type NetworkRecord,
  type Snapshot,
  type StoreConfig,
  validName,
  visibleSnapshot,
} from "../swarm/types.ts";
import { type DesiredVni, VtepReconciler } from "./node_dataplane.ts";
import { type EspDesired, NodeEncryption } from "./encryption.ts";
import { espSaLines } from "../../esp/sad.ts";
import { ESP_MTU_REDUCTION } from "../../esp/esp.ts";
import { MIN_KEY_ROTATION_MS, type SaAnnouncement } from "../../esp/keys.ts";
import { answering } from "../server.ts";
import { bridgeInspect, containerInspect, networkInspect } from "./inspect.ts";
import { GatewayBridge, type GwEndpoint } from "./gwbridge.ts";
import type { Tap } from "../../phy/tap.ts";
import { VXLAN_OVERHEAD_IPV4, VXLAN_OVERHEAD_IPV6, VXLAN_PORT } from "../../defaults.ts";
import {
  attachNamespace,
  createNamespace,
  deleteNamespace,
  killProcess,
  mtuOfAddress,
  namespaceExists,
  plugEth0,
  type Proc,
  running,
  SandboxError,
  startProcess,
  unplug,
} from "./sandbox.ts";
import { EmbeddedDns, parseUpstream, type Upstream } from "../../dns/server.ts";
import { validAlias } from "../../dns/names.ts";
import {
  containerResolvConf,
  readHostResolvConf,
  removeContainerResolvConf,
  writeContainerResolvConf,
} from "../../dns/resolv_conf.ts";

export class ApiError extends Error {
  override name = "ApiError";
  constructor(message: string, readonly status = 400) {
    super(message);
  }
}

interface DaemonConfig {
  role: "manager" | "worker";
  hostname: string;
  advertiseAddr: string;
  listenAddr: string;
  dataPathPort: number;
  /** `--data-path-addr`: the VTEP's address when it is not advertiseAddr. */
  dataPathAddr?: string;
  creds?: Credentials;
  /** A manager's node id (older configs: the store's one manager). */
  nodeId?: string;
  /** A manager's cluster store; absent: the embedded one. */
  store?: StoreConfig;
}

/**
 * A container of this host, as containers.json keeps it: eth0's attachment (the network given
 * to `weft run`) inline, the networks joined later in `connected`.
 */
export interface ContainerRecord extends Omit<Attachment, "ifname"> {
  name: string;
  cmd: string[];
  /** The container's process (CMD, or sandbox.ts PLACEHOLDER when cmd is empty). */
  pid?: number;
  /** Its start time (/proc/PID/stat starttime): pid and start name the process across restarts. */
  pidStart?: number;
  /** eth1 on weft_gwbridge (containers on non-internal networks). */
  gw?: GwEndpoint;
  /** Networks joined with `weft network connect`: eth2, eth3, … */
  connected?: Attachment[];
  created: string;
  /** --network-alias names (absent: none). */
  aliases?: string[];
}

/** A container's place on one network: its interface there and its endpoint record. */
export interface Attachment {
  network: string;
  networkName: string;
  vni: number;
  /** The interface's MTU: the network's option, or this node's underlay MTU minus the overhead. */
  mtu: number;
  prefix: number;
  endpointId: string;
  ip: string;
  mac: string;
  /** The IPv6 address and prefix length on networks with --ipv6. */
  ip6?: string;
  prefix6?: number;
  /** The network is --internal: no eth1 on weft_gwbridge for it. */
  internal?: boolean;
  /** The network is `--opt encrypted`. */
  encrypted?: boolean;
  /** eth0 for the network given to `weft run`, eth2… for connected ones (eth1 is weft_gwbridge's). */
  ifname: string;
}

/** Every network of a container, eth0's first. */
export function attachmentsOf(c: ContainerRecord): Attachment[] {
  const first: Attachment = {
    network: c.network,
    networkName: c.networkName,
    vni: c.vni,
    mtu: c.mtu,
    prefix: c.prefix,
    endpointId: c.endpointId,
    ip: c.ip,
    mac: c.mac,
    ip6: c.ip6,
    prefix6: c.prefix6,
    internal: c.internal,
    encrypted: c.encrypted,
    ifname: "eth0",
  };
  return [first, ...(c.connected ?? [])];
}

/** Key of an interface in Daemon.live: the container's name for eth0 (as before), NAME/ethN else. */
function liveKey(name: string, ifname: string): string {
  return ifname === "eth0" ? name : `${name}/${ifname}`;
}

function procOf(c: ContainerRecord): Proc | undefined {
  return c.pid && c.pidStart !== undefined ? { pid: c.pid, start: c.pidStart } : undefined;
}

interface Live {
  tap?: Tap;
  port?: number;
}

export interface DaemonOptions {
  stateDir: string;
  socket: string;
  hostname: string;
  /** TAP offloads and UDP GSO/GRO on the data plane (default on). */
  offload?: boolean;
  /** weft_gwbridge's subnet (gwbridge.ts GWBRIDGE_SUBNET by default). */
  gwbridgeSubnet?: string;
  /** This instance's nftables table (default: weft_ and a hash of the state dir). */
  nftTable?: string;
  /** Resolvers the embedded DNS forwards to (dockerd's --dns); default: the host's resolv.conf. */
  dns?: Upstream[];
}

/** A table name per weft instance: instances on one host differ by their state dir. */
export function defaultNftTable(stateDir: string): string {
  let h = 0x811c9dc5; // FNV-1a, 32 bits
  for (const ch of new TextEncoder().encode(stateDir)) h = Math.imul(h ^ ch, 0x01000193) >>> 0;
  return `weft_${h.toString(16).padStart(8, "0")}`;
}

export class Daemon {
  private config?: DaemonConfig;
  private manager?: Manager;
  private agent?: Agent;
  readonly dp: VtepReconciler;
  /** 127.0.0.11 in every container: names from the snapshot's endpoints. */
  readonly dns: EmbeddedDns;
  private containers = new Map<string, ContainerRecord>();
  private readonly live = new Map<string, Live>();
  private snapshot?: Snapshot;
  private server?: Deno.HttpServer;
  /** MTU of the underlay device (the one holding the advertise address), once the VTEP runs. */
  private underlayMtu?: number;
  /** Serialises container and swarm changes. */
  private lock: Promise<unknown> = Promise.resolve();
  /** Encrypted networks: this node's SAs (cli/control/daemon/encryption.ts). */
  private readonly enc: NodeEncryption;
  /** The SAs last planned per network id. */
  private readonly espPlans = new Map<string, EspDesired>();

  readonly gw: GatewayBridge;

  /** @throws IpamError for a bad gwbridgeSubnet */
  constructor(readonly o: DaemonOptions) {
    this.dp = new VtepReconciler(o.offload ?? true);
    this.dp.log = (m) => this.log(m);
    this.gw = new GatewayBridge({
      subnet: o.gwbridgeSubnet,
      table: o.nftTable ?? defaultNftTable(o.stateDir),
      stateFile: `${o.stateDir}/gwbridge.json`,
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

  private upstreams(): Upstream[] {
    if (this.o.dns?.length) return this.o.dns;
    return readHostResolvConf().nameservers.map(parseUpstream).filter((u): u is Upstream => !!u);
  }

  /** The container's /etc/resolv.conf (under /etc/netns) and its 127.0.0.11 listener. */
  private startDns(c: ContainerRecord): void {
    const ups = this.upstreams().map((u) => `${u.hostname}${u.port === 53 ? "" : `:${u.port}`}`);
    writeContainerResolvConf(c.name, containerResolvConf(readHostResolvConf(), ups));
    this.dns.attach(c.name);
  }

  /** Sends this node's SA to the manager (its own, in process, when this node is the manager). */
  private announceSa(a: SaAnnouncement): Promise<unknown> {
    if (this.manager) return this.manager.request(this.manager.localNodeId, "sa.announce", { ...a });
    if (this.agent) return this.agent.rpc("sa.announce", { ...a });
    return Promise.reject(new Error("not in a swarm"));
  }

  log(m: string): void {
    console.error(`${new Date().toISOString()} weftd[${this.o.hostname}]: ${m}`);
  }

  private path(f: string): string {
    return `${this.o.stateDir}/${f}`;
  }

  private readJson<T>(f: string): T | undefined {
    try {
      return JSON.parse(Deno.readTextFileSync(this.path(f)));
    } catch {
      return undefined;
    }
  }

  /** Atomic replace: write a temporary file, fsync, rename. */
  private writeJson(f: string, v: unknown): void {
    const tmp = this.path(`.${f}.tmp`);
    const file = Deno.openSync(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
    file.writeSync(new TextEncoder().encode(JSON.stringify(v, null, 1)));
    file.syncSync();
    file.close();
    Deno.renameSync(tmp, this.path(f));
  }

  private saveContainers(): void {
    this.writeJson("containers.json", [...this.containers.values()]);
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const next = this.lock.then(f, f);
    this.lock = next.catch(() => {});
    return next;
  }

  // ── life cycle ─────────────────────────────────────────────────────────────────────────────

  async start(): Promise<void> {
    Deno.mkdirSync(this.o.stateDir, { recursive: true, mode: 0o700 });
    Deno.mkdirSync(`${this.o.stateDir}/logs`, { recursive: true });
    this.config = this.readJson<DaemonConfig>("daemon.json");
    for (const c of this.readJson<ContainerRecord[]>("containers.json") ?? []) this.containers.set(c.name, c);
    if (this.config) {
      await this.dp.start(this.vtepAddr!, this.config.dataPathPort);
      this.underlayMtu = await mtuOfAddress(this.vtepAddr!);
      if (this.config.role === "manager") {
        await this.openManager();
      } else {
        this.startAgent(this.config.creds!, this.readJson<Snapshot>("cache.json"));
        this.snapshot = this.agent!.state ? visibleSnapshot(this.agent!.state) : undefined;
      }
      // Containers outlive the daemon (their processes and namespaces stay); their eth0 died
      // with our fds. A process that still runs names its namespace even when this daemon runs
      // in another mount namespace than the one that created it.
      for (const c of [...this.containers.values()]) {
        const proc = procOf(c);
        if (running(proc)) {
          await attachNamespace(c.name, proc!).catch((e) => this.log(`container ${c.name}: ${e.message}`));
        }
        if (!namespaceExists(c.name)) {
          this.log(`container ${c.name}: namespace gone; forgetting it`);
          this.containers.delete(c.name);
          removeContainerResolvConf(c.name);
          for (const a of attachmentsOf(c)) this.endpointDelete(a.endpointId).catch(() => {});
          continue;
        }
        for (const a of attachmentsOf(c)) {
          try {
            await this.plug(c.name, a);
          } catch (e) {
            this.log(
              `container ${c.name}: cannot restore ${a.ifname}: ${e instanceof Error ? e.message : e}`,
            );
          }
        }
        try {
          this.startDns(c);
        } catch (e) {
          this.log(`container ${c.name}: cannot restore its DNS: ${e instanceof Error ? e.message : e}`);
        }
      }
      this.saveContainers();
      if ([...this.containers.values()].some((c) => c.gw)) {
        await this.gw.ensure(this.vtepAddr).catch((e) => this.log(`${this.gw.name}: ${e.message}`));
      }
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
    this.server = Deno.serve({ path: sock, onListen() {} }, (req) => this.handle(req));
  }

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

  /** The store this manager's state lives in. */
  private stateFor(store?: StoreConfig): SwarmState {
    if (!store) return new EmbeddedState(this.path("store.jsonl"));
    return new EtcdState(parseClusterStore(store.url, { ca: store.ca, cert: store.cert, key: store.key }));
  }

  /** Why this manager is not serving (its store unreachable at start), or undefined. */
  private managerProblem?: string;
  private reopen?: ReturnType<typeof setTimeout>;

  /** Opens the manager; a store unreachable at start is retried in the background. */
  private async openManager(): Promise<void> {
    try {
      this.manager = await Manager.open(this.stateFor(this.config!.store), this.config!.nodeId);
      this.manager.storeConfig = this.config!.store;
      this.managerProblem = undefined;
      if (this.manager.self.role !== "manager") {
        // Demoted while this daemon was down.
        this.manager.onDemoted = (creds) => this.serial(() => this.becomeWorker(creds));
        await this.manager.becomeWorker();
        return;
      }
      if (this.manager.state instanceof EmbeddedState) {
        this.log(`store replayed: ${this.manager.state.store.replayed} records`);
      }
      this.startManager();
    } catch (e) {
      this.managerProblem = e instanceof Error ? e.message : String(e);
      this.log(`${this.managerProblem}; retrying`);
      this.reopen = setTimeout(() => this.openManager().catch(() => {}), 2000);
    }
  }

  /** `weft node promote` reached this worker: it serves as a manager from the same store. */
  private async becomeManager(store: StoreConfig): Promise<void> {
    const nodeId = this.config!.creds!.nodeId;
    this.agent?.stop();
    this.agent = undefined;
    this.manager = await Manager.open(this.stateFor(store), nodeId);
    this.manager.storeConfig = store;
    this.startManager();
    this.config = { ...this.config!, role: "manager", creds: undefined, nodeId, store };
    this.writeJson("daemon.json", this.config);
    this.log("promoted: this node is now a manager");
  }

  /** This manager was demoted: it goes on as a worker, its containers untouched. */
  private async becomeWorker(creds: Credentials): Promise<void> {
    await this.manager?.stop();
    this.manager = undefined;
    this.config = { ...this.config!, role: "worker", creds, store: undefined };
    this.writeJson("daemon.json", this.config);
    this.startAgent(creds, this.snapshot);
    this.log("demoted: this node is now a worker");
  }

  private startManager(): void {
    const m = this.manager!;
    m.log = (s) => this.log(s);
    m.onDemoted = (creds) => {
      this.serial(() => this.becomeWorker(creds)).catch((e) => this.log(`demotion: ${e}`));
    };
    m.onLocalSnapshot = (s) => {
      this.apply(s).catch((e) => this.log(`apply: ${e}`));
    };
    m.start();
    this.apply(m.localSnapshot()).catch((e) => this.log(`apply: ${e}`));
  }

  private startAgent(creds: Credentials, cached?: Snapshot): void {
    const a = new Agent(creds, cached);
    a.log = (s) => this.log(s);
    a.onPromote = (store) => {
      this.serial(() => this.becomeManager(store)).catch((e) => this.log(`promotion: ${e}`));
    };
    a.onSnapshot = (s) => {
      this.snapshot = s;
      try {
        // Everything the node was told, with its revision: a restart resumes from there.
        this.writeJson("cache.json", a.state);
      } catch { /* best effort */ }
      this.apply(s).catch((e) => this.log(`apply: ${e}`));
    };
    this.agent = a;
    a.start();
  }

  // ── control plane → data plane ─────────────────────────────────────────────────────────────

  /** The VTEP's underlay address: --data-path-addr, else --advertise-addr. */
  private get vtepAddr(): string | undefined {
    return this.config?.dataPathAddr ?? this.config?.advertiseAddr;
  }

  /** `--data-path-addr`, if given: an IPv4 address on one of this host's devices (checked
   * before a join, which the manager would otherwise record for a VTEP that cannot bind). */
  private async dataPathAddr(b: Record<string, any>): Promise<string | undefined> {
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

  private get nodeId(): string | undefined {
    return this.manager?.localNodeId ?? this.config?.creds?.nodeId;
  }

  /** Every network with a local container gets its VNI programmed from the snapshot; others go. */
  private async apply(s: Snapshot): Promise<void> {
    this.snapshot = s;
    this.dns.setEndpoints(s.endpoints, s.networks);
    if (!this.dp.running) return;
    const local = new Map<number, Attachment>();
    for (const c of this.containers.values()) for (const a of attachmentsOf(c)) local.set(a.vni, a);
    const addrOf = new Map(s.nodes.map((n) => [n.id, n.dataAddr ?? n.addr]));
    for (const net of s.networks) {
      if (!local.has(net.vni)) continue;
      if (net.encrypted) {
        // Fail closed: a node that cannot encrypt does not bring the network up at all.
        if (this.dp.espError) {
          if (this.enc.status.get(net.id) !== this.dp.espError) {
            this.log(`network ${net.name} stays down: ${this.dp.espError}`);
          }
          this.enc.status.set(net.id, this.dp.espError);
          continue;
        }
        this.espPlans.set(net.id, await this.enc.plan(net, s, this.nodeId!));
      }
      await this.dp.reconcile(net.vni, this.desired(net.vni, this.mtuFor(net), net.id, s, addrOf));
    }
    this.enc.prune(s);
    // VNIs of containers whose network the snapshot no longer has stay (the manager may be
    // resyncing); only VNIs without local containers are torn down.
    for (const vni of [...local.keys()]) if (!this.dp.hasVni(vni)) await this.ensureVni(local.get(vni)!);
  }

  private desired(
    vni: number,
    mtu: number,
    networkId: string,
    s: Snapshot | undefined,
    addrOf?: Map<string, string>,
  ): DesiredVni {
    const me = this.nodeId;
    addrOf ??= new Map((s?.nodes ?? []).map((n) => [n.id, n.dataAddr ?? n.addr]));
    const remotes = (s?.endpoints ?? []).filter((e) =>
      e.network === networkId && e.node !== me && addrOf!.has(e.node)
    )
      .map((e) => ({ mac: e.mac, ip: e.ip, ip6: e.ip6, addr: addrOf!.get(e.node)! }));
    const encrypted = s?.networks.find((n) => n.id === networkId)?.encrypted ??
      [...this.containers.values()].some((c) =>
        attachmentsOf(c).some((a) => a.network === networkId && a.encrypted)
      );
    // An encrypted network without SAs yet is still encrypted: nothing crosses until keys come.
    const esp = encrypted ? this.espPlans.get(networkId) ?? { in: [] } : undefined;
    return { vni, mtu, remotes, floods: [...new Set(remotes.map((r) => r.addr))], esp };
  }

  /**
   * A network's MTU on this node: -o com.docker.network.driver.mtu when given, else the underlay
   * device's MTU minus 50 (outer IPv4 + UDP + VXLAN + inner Ethernet; 70 over IPv6), not an
   * assumed 1500 (libnetwork#1021, #2661); an encrypted network also gives up ESP's overhead
   * (ESP_MTU_REDUCTION). Without an underlay device found: NetworkRecord.mtu.
   */
  private mtuFor(net: NetworkRecord): number {
    if (net.mtuOption) return net.mtuOption;
    if (!this.underlayMtu) return net.mtu;
    const overhead = (this.vtepAddr ?? "").includes(":") ? VXLAN_OVERHEAD_IPV6 : VXLAN_OVERHEAD_IPV4;
    return this.underlayMtu - overhead - (net.encrypted ? ESP_MTU_REDUCTION : 0);
  }

  private async ensureVni(a: Attachment): Promise<void> {
    if (a.encrypted && this.dp.espError) return; // stays down: apply() says why
    // The first container of an encrypted network: announce this node's SAs now, not at the
    // next snapshot (there may be none for a while).
    const net = a.encrypted ? this.snapshot?.networks.find((n) => n.id === a.network) : undefined;
    if (net && this.nodeId) this.espPlans.set(net.id, await this.enc.plan(net, this.snapshot!, this.nodeId));
    await this.dp.reconcile(a.vni, this.desired(a.vni, a.mtu, a.network, this.snapshot));
  }

  /** A TAP for the attachment, in the container as a.ifname, on the switch of its VNI. */
  private async plug(name: string, a: Attachment): Promise<void> {
    const tap = await plugEth0(
      name,
      {
        mac: a.mac,
        mtu: a.mtu,
        address: `${a.ip}/${a.prefix}`,
        address6: a.ip6 ? `${a.ip6}/${a.prefix6}` : undefined,
      },
      this.dp.offload,
      a.ifname,
    );
    const used = new Set([...this.live.values()].map((l) => l.port));
    let port = 0;
    while (used.has(port)) port++;
    this.live.set(liveKey(name, a.ifname), { tap, port });
    await this.ensureVni(a);
    await this.dp.ops([
      { op: "port.add", port, fd: tap.fd, name, vni: a.vni, mac: a.mac, ip: a.ip, ip6: a.ip6 },
    ]);
  }

  /** Takes the attachment's TAP off the switch and closes it (the interface leaves the container). */
  private async unplugAttachment(name: string, a: Attachment): Promise<void> {
    const key = liveKey(name, a.ifname);
    const l = this.live.get(key);
    if (l?.port !== undefined) await this.dp.ops([{ op: "port.remove", port: l.port }]).catch(() => {});
    if (l?.tap) unplug(l.tap);
    this.live.delete(key);
  }

  /** The VNIs no local container uses any more go. */
  private async dropUnusedVnis(vnis: number[]): Promise<void> {
    const inUse = new Set([...this.containers.values()].flatMap((o) => attachmentsOf(o).map((a) => a.vni)));
    for (const vni of vnis) if (!inUse.has(vni)) await this.dp.reconcile(vni, null).catch(() => {});
  }

  private async endpointCreate(
    network: string,
    container: string,
    ip?: string,
    ip6?: string,
    aliases?: string[],
  ) {
    const args = { network, container, ip, ip6, aliases };
    if (this.manager) {
      return await this.manager.request(this.manager.localNodeId, "endpoint.create", args) as {
        endpoint: EndpointRecord;
        network: NetworkRecord;
      };
    }
    if (this.agent) {
      return await this.agent.rpc<{ endpoint: EndpointRecord; network: NetworkRecord }>(
        "endpoint.create",
        args,
      );
    }
    throw new ApiError(
      'this node is not part of a swarm: run "weft swarm init" or "weft swarm join" first',
      409,
    );
  }

  private async endpointDelete(id: string): Promise<void> {
    if (this.manager) await this.manager.request(this.manager.localNodeId, "endpoint.delete", { id });
    else if (this.agent) await this.agent.rpc("endpoint.delete", { id });
  }

  // ── operations ─────────────────────────────────────────────────────────────────────────────

  private requireManager(): Manager {
    if (this.manager) return this.manager;
    if (this.config?.role === "manager" && this.managerProblem) {
      throw new ApiError(`this manager is not serving: ${this.managerProblem}`, 503);
    }
    if (this.config) {
      throw new ApiError("this node is not a swarm manager; run this command on a manager node", 503);
    }
    throw new ApiError(
      'this node is not a swarm manager; use "weft swarm init" or "weft swarm join" first',
      503,
    );
  }

  /** Init and join start here: not yet in a swarm, and a valid --advertise-addr. */
  private outsideSwarm(b: Record<string, any>): string {
    if (this.config) {
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

  async swarmInit(b: Record<string, any>) {
    return await this.serial(async () => {
      const advertiseAddr = this.outsideSwarm(b);
      const dataPathAddr = await this.dataPathAddr(b);
      const listen = parseRemote(String(b.listenAddr ?? `0.0.0.0:${CONTROL_PORT}`), CONTROL_PORT);
      const dataPathPort = Number(b.dataPathPort ?? VXLAN_PORT);
      if (!Number.isInteger(dataPathPort) || dataPathPort < 1024 || dataPathPort > 49151) {
        throw new ApiError(`--data-path-port must be in 1024..49151, got ${b.dataPathPort}`);
      }
      const pool = String(b.pool ?? "10.0.0.0/8");
      const maskLen = Number(b.poolMaskLength ?? 24);
      try {
        const p = parseCidr(pool);
        if (!Number.isInteger(maskLen) || maskLen < p.bits || maskLen > 29) {
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
          state = this.stateFor(store);
        } catch (e) {
          throw new ApiError(e instanceof Error ? e.message : String(e));
        }
      }
      const o: InitOptions = {
        advertiseAddr,
        dataPathAddr,
        listenAddr: listen.host,
        listenPort: listen.port,
        dataPathPort,
        pool,
        poolMaskLength: maskLen,
        hostname: this.o.hostname,
      };
      if (b.keyRotationMs !== undefined) {
        const ms = Number(b.keyRotationMs);
        if (!Number.isInteger(ms) || ms < MIN_KEY_ROTATION_MS) {
          throw new ApiError(`--key-rotation-interval must be at least 1s, got ${b.keyRotationMs} ms`);
        }
        o.keyRotationMs = ms;
      }
      try {
        this.manager = await Manager.init(this.o.stateDir, o, state);
        this.manager.storeConfig = store;
        await this.dp.start(dataPathAddr ?? advertiseAddr, dataPathPort);
        this.underlayMtu = await mtuOfAddress(dataPathAddr ?? advertiseAddr);
        this.startManager();
        await this.manager.ready().catch((e) => this.log(`manager: ${e instanceof Error ? e.message : e}`));
      } catch (e) {
        await this.manager?.stop().catch(() => {});
        this.manager = undefined;
        try {
          Deno.removeSync(this.path("store.jsonl"));
        } catch { /* not created */ }
        await this.dp.stop();
        if (e instanceof SwarmError) throw new ApiError(e.message, e.status);
        if (e instanceof EtcdError) throw new ApiError(e.message, 503);
        throw new ApiError(`cannot start the manager: ${e instanceof Error ? e.message : e}`, 500);
      }
      this.config = {
        role: "manager",
        hostname: this.o.hostname,
        advertiseAddr,
        listenAddr: `${listen.host}:${listen.port}`,
        dataPathPort,
        ...(dataPathAddr ? { dataPathAddr } : {}),
        nodeId: this.manager.localNodeId,
        store,
      };
      this.writeJson("daemon.json", this.config);
      return {
        nodeId: this.manager.localNodeId,
        token: this.manager.token(),
        join: this.manager.joinAddress(),
      };
    });
  }

  joinToken(role: string) {
    const m = this.requireManager();
    if (role !== "worker" && role !== "manager") {
      throw new ApiError(`unknown role "${role.slice(0, 20)}": "worker" or "manager"`);
    }
    try {
      return { token: m.token(role), join: m.joinAddress() };
    } catch (e) {
      if (e instanceof SwarmError) throw new ApiError(e.message, e.status);
      throw e;
    }
  }

  async swarmJoin(b: Record<string, any>) {
    return await this.serial(async () => {
      const advertiseAddr = this.outsideSwarm(b);
      const dataPathAddr = await this.dataPathAddr(b);
      const remote = parseRemote(String(b.remote ?? ""), CONTROL_PORT);
      const listen = parseRemote(String(b.listenAddr ?? `0.0.0.0:${CONTROL_PORT}`), CONTROL_PORT);
      let joined;
      try {
        joined = await join(String(b.token ?? ""), remote, {
          hostname: this.o.hostname,
          addr: advertiseAddr,
          listen: `${listen.host}:${listen.port}`,
          dataAddr: dataPathAddr,
        });
      } catch (e) {
        if (e instanceof JoinError || e instanceof TokenError) throw new ApiError(e.message, 400);
        throw new ApiError(`cannot join: ${e instanceof Error ? e.message : e}`, 502);
      }
      if (joined.role === "manager") {
        const store = joined.store;
        try {
          this.manager = await Manager.open(this.stateFor(store), joined.nodeId);
          this.manager.storeConfig = store;
          await this.dp.start(dataPathAddr ?? advertiseAddr, this.manager.cluster.dataPathPort);
          this.underlayMtu = await mtuOfAddress(dataPathAddr ?? advertiseAddr);
          this.startManager();
        } catch (e) {
          await this.manager?.stop().catch(() => {});
          this.manager = undefined;
          throw new ApiError(
            `joined, but cannot start this manager: ${e instanceof Error ? e.message : e}`,
            503,
          );
        }
        this.config = {
          role: "manager",
          hostname: this.o.hostname,
          advertiseAddr,
          listenAddr: `${listen.host}:${listen.port}`,
          dataPathPort: this.manager.cluster.dataPathPort,
          ...(dataPathAddr ? { dataPathAddr } : {}),
          nodeId: joined.nodeId,
          store,
        };
        this.writeJson("daemon.json", this.config);
        return { nodeId: joined.nodeId, role: "manager" };
      }
      const creds: Credentials = joined;
      await this.dp.start(dataPathAddr ?? advertiseAddr, creds.dataPathPort);
      this.underlayMtu = await mtuOfAddress(dataPathAddr ?? advertiseAddr);
      this.config = {
        role: "worker",
        hostname: this.o.hostname,
        advertiseAddr,
        listenAddr: String(b.listenAddr ?? ""),
        dataPathPort: creds.dataPathPort,
        ...(dataPathAddr ? { dataPathAddr } : {}),
        creds,
      };
      this.writeJson("daemon.json", this.config);
      this.startAgent(creds);
      return { nodeId: creds.nodeId, role: "worker" };
    });
  }

  async swarmLeave(force: boolean) {
    return await this.serial(async () => {
      if (!this.config) throw new ApiError("this node is not part of a swarm", 409);
      const others = this.manager?.nodes().filter((n) =>
        n.role === "manager" && n.id !== this.manager!.localNodeId
      );
      if (this.manager && !others?.length && !force) {
        throw new ApiError(
          "you are attempting to leave the swarm on a node that is its only manager: this erases the cluster state (networks, nodes). Use --force to do it anyway",
          409,
        );
      }
      for (const name of [...this.containers.keys()]) await this.removeContainer(name, true, false);
      if (this.manager) {
        // One of several managers: its node leaves the store and the swarm goes on. The last one
        // erases the swarm from its store (a cluster store can then hold a new one).
        const done = others?.length ? this.manager.leave() : this.manager.destroy();
        await done.catch((e) => this.log(`leave: ${e.message}`));
      }
      if (this.agent) {
        await this.agent.rpc("node.leave").catch((e) => this.log(`leave: ${e.message}`));
        this.agent.stop();
        this.agent = undefined;
      }
      if (this.manager) {
        await this.manager.stop();
        this.manager = undefined;
        for (const f of ["store.jsonl", "ca.pem", "ca-key.pem"]) {
          try {
            Deno.removeSync(this.path(f));
          } catch { /* gone */ }
        }
      }
      await this.dp.stop();
      for (const f of ["daemon.json", "cache.json"]) {
        try {
          Deno.removeSync(this.path(f));
        } catch { /* gone */ }
      }
      this.config = undefined;
      this.snapshot = undefined;
      return { left: true };
    });
  }

  /** `swarm update --key-rotation-interval`: the next rotation is due by the new interval. */
  async swarmUpdate(b: Record<string, any>) {
    const m = this.requireManager();
    const ms = Number(b.keyRotationMs);
    if (!Number.isInteger(ms) || ms < MIN_KEY_ROTATION_MS) {
      throw new ApiError(`--key-rotation-interval must be at least 1s, got ${b.keyRotationMs} ms`);
    }
    try {
      await m.setKeyRotation(ms);
    } catch (e) {
      if (e instanceof SwarmError) throw new ApiError(e.message, e.status);
      throw e;
    }
    return { keyRotationMs: ms };
  }

  nodes() {
    if (this.manager) {
      const problem = this.manager.state.unhealthy();
      return this.manager.nodes().map((n) => ({
        ...n,
        self: n.id === this.manager!.localNodeId,
        // Why this manager is Unreachable from where it stands (its cluster store).
        problem: n.id === this.manager!.localNodeId ? problem : undefined,
      }));
    }
    this.requireManager();
  }

  async nodeRole(ref: string, to: "promote" | "demote") {
    const m = this.requireManager();
    try {
      return to === "promote" ? await m.promote(ref) : await m.demote(ref);
    } catch (e) {
      if (e instanceof SwarmError) throw new ApiError(e.message, e.status);
      throw e;
    }
  }

  async nodeRemove(ref: string, force: boolean) {
    const m = this.requireManager();
    try {
      return await m.removeNodeByRef(ref, force);
    } catch (e) {
      if (e instanceof SwarmError) throw new ApiError(e.message, e.status);
      throw e;
    }
  }

  info() {
    return {
      hostname: this.o.hostname,
      swarm: this.config ? "active" : "inactive",
      role: this.config?.role ?? null,
      nodeId: this.nodeId ?? null,
      advertiseAddr: this.config?.advertiseAddr ?? null,
      dataPathAddr: this.vtepAddr ?? null,
      dataPathPort: this.config?.dataPathPort ?? null,
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

  /** A manager sees every network; a worker only those it has containers on (lazy extension). */
  private visibleNetworks(): NetworkRecord[] {
    if (this.manager) return this.manager.networks();
    if (!this.config) throw new ApiError("this node is not part of a swarm", 409);
    const ids = new Set([...this.containers.values()].flatMap((c) => attachmentsOf(c).map((a) => a.network)));
    return (this.snapshot?.networks ?? []).filter((n) => ids.has(n.id));
  }

  networks() {
    const nets: unknown[] = this.visibleNetworks();
    if (this.gwAddresses().length) nets.push(this.gwNetwork());
    return nets;
  }

  /** weft_gwbridge as `docker network ls/inspect` show docker_gwbridge: bridge, local. */
  private gwNetwork() {
    return {
      id: this.gw.id,
      name: this.gw.name,
      driver: "bridge",
      scope: "local",
      subnet: formatCidr(this.gw.subnet),
      gateway: this.gw.gateway,
      internal: false,
      attachable: false,
    };
  }

  async networkCreate(b: Record<string, any>) {
    const m = this.requireManager();
    if (b.driver && b.driver !== "overlay") {
      throw new ApiError(`driver "${b.driver}" is not supported: weft only has "overlay"`);
    }
    try {
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
        if (!b.internal && overlaps(sub, this.gw.subnet)) {
          throw new ApiError(
            `subnet ${t} overlaps ${this.gw.name}'s ${
              formatCidr(this.gw.subnet)
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
    } catch (e) {
      if (e instanceof SwarmError) throw new ApiError(e.message, e.status);
      throw e;
    }
  }

  async networkRemove(ref: string) {
    const m = this.requireManager();
    try {
      return await m.removeNetwork(ref);
    } catch (e) {
      if (e instanceof SwarmError) throw new ApiError(e.message, e.status);
      throw e;
    }
  }

  /** `weft esp sa`: every SA this node holds, as Wireshark esp_sa lines. */
  private async espSa(): Promise<string[]> {
    const s = this.snapshot, me = this.nodeId;
    if (!s || !me) return [];
    const addrOf = new Map(s.nodes.map((n) => [n.id, n.addr]));
    const local = new Set([...this.containers.values()].map((c) => c.network));
    const sas = await this.enc.table(s, me, local, addrOf);
    return espSaLines(sas);
  }

  /** ESP on this node for `network inspect`: up, or why not. */
  private encryptionStatus(networkId: string) {
    const local = [...this.containers.values()].some((c) => c.network === networkId);
    return {
      Protocol: "ESP in UDP (RFC 4303, RFC 3948), AES-128-GCM (RFC 4106), 64-bit ESN",
      Status: this.dp.espError ?? this.enc.status.get(networkId) ??
        (local ? "starting" : "not instantiated on this node (no local container)"),
    };
  }

  networkInspect(ref: string) {
    if (ref === this.gw.name && this.gwAddresses().length) {
      const members = [...this.containers.values()].filter((c) => c.gw)
        .map((c) => ({
          name: c.name,
          endpointId: `gw-${c.endpointId}`,
          mac: c.gw!.mac,
          ip: `${c.gw!.ip}/${this.gw.subnet.bits}`,
        }));
      return [bridgeInspect(this.gwNetwork(), members)];
    }
    const all = this.visibleNetworks();
    const net = all.find((n) => n.name === ref) ??
      all.find((n) => n.id === ref || (ref.length >= 3 && n.id.startsWith(ref)));
    if (!net) throw new ApiError(`network ${ref} not found`, 404);
    const eps = this.manager ? this.manager.endpoints() : this.snapshot?.endpoints ?? [];
    const nodes = this.manager ? this.manager.nodes() : this.snapshot?.nodes ?? [];
    const peers = [...new Set(eps.filter((e) => e.network === net.id).map((e) => e.node))]
      .map((id) => nodes.find((n) => n.id === id)).filter((n) => n).map((n) => ({
        Name: n!.hostname,
        IP: n!.dataAddr ?? n!.addr,
      }));
    const members = [...this.containers.values()].flatMap((c) =>
      attachmentsOf(c).filter((a) => a.network === net.id).map((a) => ({ name: c.name, ...a }))
    );
    const view = networkInspect(net, this.mtuFor(net), members, peers);
    if (!net.encrypted) return [view];
    // Docker shows the encrypted overlay's driver option as `"encrypted": ""`.
    return [{
      ...view,
      Options: { ...view.Options, encrypted: "" },
      Encryption: this.encryptionStatus(net.id),
    }];
  }

  async runContainer(b: Record<string, any>) {
    return await this.serial(async () => {
      const name = String(b.name ?? "");
      if (!validName(name)) {
        throw new ApiError(`invalid container name "${name}": letters, digits, "_", "." and "-", up to 63`);
      }
      if (this.containers.has(name)) {
        throw new ApiError(`the container name "${name}" is already in use`, 409);
      }
      if (namespaceExists(name)) {
        throw new ApiError(`a network namespace named "${name}" exists already; pick another --name`, 409);
      }
      if (!b.network) throw new ApiError("--network is required: weft containers live on overlay networks");
      const cmd: string[] = Array.isArray(b.cmd) ? b.cmd.map(String) : [];
      const aliases: string[] = Array.isArray(b.aliases)
        ? [...new Set(b.aliases.map(String) as string[])]
        : [];
      const badAlias = aliases.find((a) => !validAlias(a));
      if (badAlias !== undefined) {
        throw new ApiError(`invalid --network-alias "${badAlias}": letters, digits, "_", "-" and dots`);
      }
      let created;
      try {
        created = await this.endpointCreate(
          String(b.network),
          name,
          b.ip ? String(b.ip) : undefined,
          b.ip6 ? String(b.ip6) : undefined,
          aliases.length ? aliases : undefined,
        );
      } catch (e) {
        if (e instanceof ApiError) throw e;
        throw new ApiError(e instanceof Error ? e.message : String(e), 409);
      }
      const { endpoint, network } = created;
      if (!network.internal && overlaps(parseCidr(network.subnet), this.gw.subnet)) {
        await this.endpointDelete(endpoint.id).catch(() => {});
        throw new ApiError(
          `network ${network.name}'s subnet ${network.subnet} overlaps this node's ${this.gw.name} ${
            formatCidr(this.gw.subnet)
          } (--gwbridge-subnet)`,
        );
      }
      if (network.encrypted && this.dp.espError) {
        // Fail closed: no container on an encrypted network this node cannot encrypt for.
        await this.endpointDelete(endpoint.id).catch(() => {});
        throw new ApiError(
          `network ${network.name} is encrypted and ${this.dp.espError}; nothing was created`,
          409,
        );
      }
      const c: ContainerRecord = {
        name,
        network: network.id,
        networkName: network.name,
        vni: network.vni,
        mtu: this.mtuFor(network),
        prefix: parseCidr(network.subnet).bits,
        endpointId: endpoint.id,
        ip: endpoint.ip,
        mac: endpoint.mac,
        cmd,
        created: new Date().toISOString(),
        ...(aliases.length ? { aliases } : {}),
        encrypted: network.encrypted,
      };
      if (endpoint.ip6 && network.subnet6) {
        c.ip6 = endpoint.ip6;
        c.prefix6 = Number(network.subnet6.split("/")[1]);
      }
      try {
        await createNamespace(name);
        this.startDns(c); // before any process starts: `ip netns exec` binds resolv.conf at its start
        this.containers.set(name, c);
        await this.plug(name, attachmentsOf(c)[0]);
        const proc = await startProcess(name, cmd, this.path(`logs/${name}.log`));
        c.pid = proc.pid;
        c.pidStart = proc.start;
        if (network.internal) c.internal = true;
        else {
          await this.gw.ensure(this.vtepAddr);
          c.gw = await this.gw.attach(name, this.gw.allocate(this.gwAddresses()));
        }
        this.saveContainers();
      } catch (e) {
        await this.removeContainer(name, true, true).catch(() => {});
        await deleteNamespace(name).catch(() => {});
        this.dns.detach(name);
        removeContainerResolvConf(name);
        await this.endpointDelete(endpoint.id).catch(() => {});
        if (e instanceof SandboxError) {
          throw new ApiError(`cannot create container ${name}: ${e.message}`, 500);
        }
        throw e;
      }
      this.log(`container ${name} on ${network.name}: ${c.ip} ${c.mac}`);
      return c;
    });
  }

  private async removeContainer(name: string, force: boolean, internal: boolean): Promise<ContainerRecord> {
    const c = this.containers.get(name);
    if (!c) throw new ApiError(`no such container: ${name}`, 404);
    // A container without CMD runs only the placeholder: nothing of the user's to stop.
    if (c.cmd.length && running(procOf(c)) && !force) {
      throw new ApiError(
        `container ${name} is running ${c.cmd.join(" ")}; stop it or use "weft rm -f ${name}"`,
        409,
      );
    }
    killProcess(procOf(c));
    for (const a of attachmentsOf(c)) await this.unplugAttachment(name, a);
    if (c.gw) await this.gw.detach(c.gw);
    await deleteNamespace(name).catch((e) => this.log(`rm ${name}: ${e.message}`));
    this.containers.delete(name);
    this.dns.detach(name); // its socket kept the namespace alive until now
    removeContainerResolvConf(name);
    this.saveContainers();
    if (c.gw && !this.gwAddresses().length) await this.gw.teardown().catch((e) => this.log(e.message));
    if (!internal) {
      for (const a of attachmentsOf(c)) {
        await this.endpointDelete(a.endpointId).catch((e) => this.log(`rm ${name}: endpoint: ${e.message}`));
      }
    }
    // The last local container of a network takes the network's VNI with it.
    await this.dropUnusedVnis(attachmentsOf(c).map((a) => a.vni));
    return c;
  }

  /**
   * `weft network connect NET C` (Docker's POST /networks/{id}/connect): a new endpoint on NET and
   * an interface for it in C, the next free of eth2, eth3, … (eth1 is weft_gwbridge's); a first
   * non-internal network brings eth1 too.
   * @throws ApiError 404 for an unknown container or network, 409 when C is on NET already
   */
  connect(ref: string, name: string, b: Record<string, any>) {
    return this.serial(async () => {
      const c = this.containers.get(name);
      if (!c) throw new ApiError(`no such container: ${name}`, 404);
      const known = [...(this.manager ? this.manager.networks() : this.snapshot?.networks ?? [])];
      const already = attachmentsOf(c).find((a) =>
        a.networkName === ref || a.network === ref || known.some((n) => n.id === a.network && n.name === ref)
      );
      if (already) {
        throw new ApiError(`container ${name} is already attached to network ${already.networkName}`, 409);
      }
      let created;
      try {
        created = await this.endpointCreate(
          ref,
          name,
          b.ip ? String(b.ip) : undefined,
          b.ip6 ? String(b.ip6) : undefined,
        );
      } catch (e) {
        if (e instanceof ApiError) throw e;
        const msg = e instanceof Error ? e.message : String(e);
        throw new ApiError(msg, /not found/.test(msg) ? 404 : 400);
      }
      const { endpoint, network } = created;
      if (attachmentsOf(c).some((a) => a.network === network.id)) {
        await this.endpointDelete(endpoint.id).catch(() => {});
        throw new ApiError(`container ${name} is already attached to network ${network.name}`, 409);
      }
      const taken = new Set(attachmentsOf(c).map((a) => a.ifname));
      let i = 2;
      while (taken.has(`eth${i}`)) i++;
      const a: Attachment = {
        network: network.id,
        networkName: network.name,
        vni: network.vni,
        mtu: this.mtuFor(network),
        prefix: parseCidr(network.subnet).bits,
        endpointId: endpoint.id,
        ip: endpoint.ip,
        mac: endpoint.mac,
        ifname: `eth${i}`,
      };
      if (endpoint.ip6 && network.subnet6) {
        [a.ip6, a.prefix6] = [endpoint.ip6, Number(network.subnet6.split("/")[1])];
      }
      if (network.internal) a.internal = true;
      if (network.encrypted) {
        if (this.dp.espError) {
          // Fail closed, as `weft run` does.
          await this.endpointDelete(endpoint.id).catch(() => {});
          throw new ApiError(
            `network ${network.name} is encrypted and ${this.dp.espError}; nothing was created`,
            409,
          );
        }
        a.encrypted = true;
      }
      try {
        await this.plug(name, a);
        (c.connected ??= []).push(a);
        if (!a.internal && !c.gw) {
          await this.gw.ensure(this.vtepAddr);
          c.gw = await this.gw.attach(name, this.gw.allocate(this.gwAddresses()));
        }
      } catch (e) {
        c.connected = c.connected?.filter((x) => x !== a);
        await this.unplugAttachment(name, a);
        await this.endpointDelete(endpoint.id).catch(() => {});
        await this.dropUnusedVnis([a.vni]);
        throw new ApiError(
          `cannot connect ${name} to ${network.name}: ${e instanceof Error ? e.message : e}`,
          500,
        );
      } finally {
        this.saveContainers();
      }
      this.log(`container ${name} connected to ${network.name} as ${a.ifname}: ${a.ip}`);
      return a;
    });
  }

  /**
   * `weft network disconnect NET C`: the interface leaves C, the endpoint goes; eth1 goes with the
   * last non-internal network. The network given to `weft run` (eth0) stays: rm the container.
   * @throws ApiError 404 for an unknown container, 404 when C is not on NET, 409 for eth0's network
   */
  disconnect(ref: string, name: string) {
    return this.serial(async () => {
      const c = this.containers.get(name);
      if (!c) throw new ApiError(`no such container: ${name}`, 404);
      const a = attachmentsOf(c).find((x) => x.networkName === ref || x.network === ref);
      if (!a) throw new ApiError(`container ${name} is not connected to network ${ref}`, 404);
      if (a.ifname === "eth0") {
        throw new ApiError(
          `network ${a.networkName} is ${name}'s first network (eth0): weft cannot take it away; use "weft rm -f ${name}"`,
          409,
        );
      }
      await this.unplugAttachment(name, a);
      c.connected = c.connected!.filter((x) => x !== a);
      if (c.gw && attachmentsOf(c).every((x) => x.internal)) {
        await this.gw.detach(c.gw);
        c.gw = undefined;
      }
      this.saveContainers();
      if (c.gw === undefined && !this.gwAddresses().length && this.gw.exists()) {
        await this.gw.teardown().catch((e) => this.log(e.message));
      }
      await this.endpointDelete(a.endpointId).catch((e) => this.log(`disconnect ${name}: ${e.message}`));
      await this.dropUnusedVnis([a.vni]);
      return { disconnected: true };
    });
  }

  private gwAddresses(): string[] {
    return [...this.containers.values()].flatMap((c) => c.gw ? [c.gw.ip] : []);
  }

  rm(name: string, force: boolean) {
    return this.serial(() => this.removeContainer(name, force, false));
  }

  ps() {
    return [...this.containers.values()].map((c) => ({
      ...c,
      status: running(procOf(c)) ? "running" : "exited",
      eth0: this.live.has(c.name) ? "up" : "down",
    }));
  }

  container(name: string) {
    const c = this.containers.get(name);
    if (!c) throw new ApiError(`no such container: ${name}`, 404);
    const up = running(procOf(c));
    return {
      ...c,
      pid: up ? c.pid : 0,
      status: up ? "running" : "exited",
      eth0: this.live.has(c.name) ? "up" : "down",
    };
  }

  inspect(name: string) {
    const c = this.containers.get(name);
    if (!c) throw new ApiError(`no such container: ${name}`, 404);
    const nets = this.manager ? this.manager.networks() : this.snapshot?.networks ?? [];
    const up = new Set(
      attachmentsOf(c).map((x) => x.ifname).filter((i) => this.live.has(liveKey(c.name, i))),
    );
    return [containerInspect(c, running(procOf(c)), up, nets, this.gw)];
  }

  async fdb(network?: string) {
    if (!this.dp.running) {
      throw new ApiError("the data plane is not running: this node is not part of a swarm", 409);
    }
    const f = await this.dp.fdb();
    const nets = this.manager ? this.manager.networks() : this.snapshot?.networks ?? [];
    const byVni = new Map(nets.map((n) => [n.vni, n.name]));
    let entries = f.entries.map((e) => ({ ...e, network: byVni.get(e.vni) ?? "" }));
    if (network) {
      const net = nets.find((n) => n.name === network || n.id === network);
      if (!net) throw new ApiError(`network ${network} not found on this node`, 404);
      entries = entries.filter((e) => e.vni === net.vni);
    }
    return { used: f.used, capacity: f.capacity, entries };
  }

  async stats() {
    if (!this.dp.running) {
      throw new ApiError("the data plane is not running: this node is not part of a swarm", 409);
    }
    const s = { ...await this.dp.stats(), dns: this.dns.counters };
    return this.dp.espError ? { ...s, espError: this.dp.espError } : s;
  }

  // ── HTTP ───────────────────────────────────────────────────────────────────────────────────

  private async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const p = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    const body = async () => {
      try {
        return req.body ? await req.json() : {};
      } catch {
        throw new ApiError("request body is not JSON");
      }
    };
    try {
      if (p[0] !== "v1") throw new ApiError(`no such endpoint ${url.pathname}`, 404);
      const [, a, b] = p;
      const m = req.method;
      let out: unknown;
      if (a === "info" && m === "GET") out = this.info();
      else if (a === "swarm" && b === "init" && m === "POST") out = await this.swarmInit(await body());
      else if (a === "swarm" && b === "join" && m === "POST") out = await this.swarmJoin(await body());
      else if (a === "swarm" && b === "leave" && m === "POST") {
        out = await this.swarmLeave(url.searchParams.get("force") === "1");
      } else if (a === "swarm" && b === "join-token" && m === "GET") {
        out = this.joinToken(url.searchParams.get("role") ?? "worker");
      } else if (a === "swarm" && b === "update" && m === "POST") out = await this.swarmUpdate(await body());
      else if (a === "nodes" && !b && m === "GET") out = await this.nodes();
      else if (a === "nodes" && b && m === "DELETE") {
        out = await this.nodeRemove(b, url.searchParams.get("force") === "1");
      } else if (a === "nodes" && b && (p[3] === "promote" || p[3] === "demote") && m === "POST") {
        out = await this.nodeRole(b, p[3]);
      } else if (a === "networks" && !b && m === "GET") out = this.networks();
      else if (a === "networks" && !b && m === "POST") out = await this.networkCreate(await body());
      else if (a === "networks" && b && m === "GET") out = this.networkInspect(b);
      else if (a === "networks" && b && m === "DELETE") out = await this.networkRemove(b);
      else if (a === "networks" && b && p[3] === "connect" && m === "POST") {
        const body_ = await body();
        out = await this.connect(b, String(body_.container ?? ""), body_);
      } else if (a === "networks" && b && p[3] === "disconnect" && m === "POST") {
        out = await this.disconnect(b, String((await body()).container ?? ""));
      } else if (a === "containers" && !b && m === "GET") out = this.ps();
      else if (a === "containers" && !b && m === "POST") out = await this.runContainer(await body());
      else if (a === "containers" && b && p[3] === "json" && m === "GET") out = this.inspect(b);
      else if (a === "containers" && b && m === "GET") out = this.container(b);
      else if (a === "containers" && b && m === "DELETE") {
        out = await this.rm(b, url.searchParams.get("force") === "1");
      } else if (a === "fdb" && m === "GET") {
        out = await this.fdb(url.searchParams.get("network") ?? undefined);
      } else if (a === "stats" && m === "GET") out = await this.stats();
      else if (a === "esp" && b === "sa" && m === "GET") out = await this.espSa();
      else throw new ApiError(`no such endpoint ${m} ${url.pathname}`, 404);
      return Response.json(out ?? null);
    } catch (e) {
      if (e instanceof ApiError) return Response.json({ message: e.message }, { status: e.status });
      if (e instanceof StoreUnavailableError) return Response.json({ message: e.message }, { status: 503 });
      this.log(`internal error on ${req.method} ${url.pathname}: ${e instanceof Error ? e.stack : e}`);
      return Response.json({ message: e instanceof Error ? e.message : String(e) }, { status: 500 });
    }
  }
}
