// The weft daemon, one per host: the HTTP/JSON API on a unix socket that every other command is a
// client of, the cluster role (a Manager with the store and the 2377 listener, or an Agent with a
// session to one), the data plane (one UDP socket, one switch per VNI, one TAP per container),
// and the containers of this host. Everything it must remember lives under --state-dir:
//   daemon.json      role, addresses, and a worker's credentials (node id, secret, CA)
//   containers.json  this host's containers: namespace, endpoint, address, process
//   cache.json       a worker's last snapshot from the manager (replaced on every resync)
//   store.jsonl, ca.pem, ca-key.pem   the manager's cluster store and CA

import { ClusterError, type InitOptions, Manager } from "../cluster/manager.ts";
import { Agent, type Credentials, join, JoinError, parseRemote } from "../cluster/agent.ts";
import { TokenError } from "../cluster/pki.ts";
import { ipToInt, parseCidr } from "../cluster/ipam.ts";
import {
  CONTROL_PORT,
  type EndpointRecord,
  type NetworkRecord,
  type Snapshot,
  validName,
} from "../cluster/types.ts";
import { type DesiredVni, NodeDataplane } from "./node_dataplane.ts";
import { type EspDesired, NodeEncryption } from "./encryption.ts";
import { espSaLines } from "../../esp/sad.ts";
import { MIN_KEY_ROTATION_MS, type SaAnnouncement } from "../../esp/keys.ts";
import { answering } from "../server.ts";
import type { Tap } from "../../phy/tap.ts";
import {
  alive,
  createNamespace,
  deleteNamespace,
  killProcess,
  namespaceExists,
  plugEth0,
  SandboxError,
  startProcess,
  unplug,
} from "./sandbox.ts";

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
  creds?: Credentials;
}

export interface ContainerRecord {
  name: string;
  network: string;
  networkName: string;
  vni: number;
  mtu: number;
  prefix: number;
  endpointId: string;
  ip: string;
  mac: string;
  cmd: string[];
  pid?: number;
  created: string;
  /** The network is `--opt encrypted`: its VNI only ever carries ESP. */
  encrypted?: boolean;
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
}

export class Daemon {
  private config?: DaemonConfig;
  private manager?: Manager;
  private agent?: Agent;
  readonly dp: NodeDataplane;
  private containers = new Map<string, ContainerRecord>();
  private readonly live = new Map<string, Live>();
  private snapshot?: Snapshot;
  private server?: Deno.HttpServer;
  /** Serialises container and swarm changes. */
  private lock: Promise<unknown> = Promise.resolve();
  /** Encrypted networks: this node's SAs (cli/control/daemon/encryption.ts). */
  private readonly enc: NodeEncryption;
  /** The SAs last planned per network id. */
  private readonly espPlans = new Map<string, EspDesired>();

  constructor(readonly o: DaemonOptions) {
    this.dp = new NodeDataplane(o.offload ?? true);
    this.dp.log = (m) => this.log(m);
    this.enc = new NodeEncryption((a) => this.announceSa(a), (m) => this.log(m));
    this.enc.onDue = () => {
      if (this.snapshot) this.apply(this.snapshot).catch((e) => this.log(`apply: ${e}`));
    };
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
      await this.dp.start(this.config.advertiseAddr, this.config.dataPathPort);
      if (this.config.role === "manager") {
        this.manager = await Manager.open(this.o.stateDir);
        this.log(`store replayed: ${this.manager.store.replayed} records`);
        this.startManager();
      } else {
        this.snapshot = this.readJson<Snapshot>("cache.json");
        this.startAgent(this.config.creds!);
      }
      // Containers outlive the daemon (their namespaces stay); their eth0 died with our fds.
      for (const c of [...this.containers.values()]) {
        if (!namespaceExists(c.name)) {
          this.log(`container ${c.name}: namespace gone; forgetting it`);
          this.containers.delete(c.name);
          this.endpointDelete(c.endpointId).catch(() => {});
          continue;
        }
        try {
          await this.plug(c);
        } catch (e) {
          this.log(`container ${c.name}: cannot restore eth0: ${e instanceof Error ? e.message : e}`);
        }
      }
      this.saveContainers();
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
    await this.server?.shutdown();
    try {
      Deno.removeSync(this.o.socket);
    } catch { /* gone */ }
    this.enc.stop();
    this.agent?.stop();
    this.manager?.stop();
    for (const l of this.live.values()) if (l.tap) unplug(l.tap);
    await this.dp.stop();
  }

  private startManager(): void {
    const m = this.manager!;
    m.log = (s) => this.log(s);
    m.onLocalSnapshot = (s) => {
      this.apply(s).catch((e) => this.log(`apply: ${e}`));
    };
    m.start();
    this.apply(m.snapshotFor(m.localNodeId)).catch((e) => this.log(`apply: ${e}`));
  }

  private startAgent(creds: Credentials): void {
    const a = new Agent(creds);
    a.log = (s) => this.log(s);
    a.onSnapshot = (s) => {
      this.snapshot = s;
      try {
        this.writeJson("cache.json", s);
      } catch { /* best effort */ }
      this.apply(s).catch((e) => this.log(`apply: ${e}`));
    };
    this.agent = a;
    a.start();
  }

  // ── control plane → data plane ─────────────────────────────────────────────────────────────

  private get nodeId(): string | undefined {
    return this.manager?.localNodeId ?? this.config?.creds?.nodeId;
  }

  /** Every network with a local container gets its VNI programmed from the snapshot; others go. */
  private async apply(s: Snapshot): Promise<void> {
    this.snapshot = s;
    if (!this.dp.running) return;
    const local = new Map<number, ContainerRecord>();
    for (const c of this.containers.values()) local.set(c.vni, c);
    const addrOf = new Map(s.nodes.map((n) => [n.id, n.addr]));
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
      await this.dp.reconcile(net.vni, this.desired(net.vni, net.mtu, net.id, s, addrOf));
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
    addrOf ??= new Map((s?.nodes ?? []).map((n) => [n.id, n.addr]));
    const remotes = (s?.endpoints ?? []).filter((e) =>
      e.network === networkId && e.node !== me && addrOf!.has(e.node)
    )
      .map((e) => ({ mac: e.mac, ip: e.ip, addr: addrOf!.get(e.node)! }));
    const encrypted = s?.networks.find((n) => n.id === networkId)?.encrypted ??
      [...this.containers.values()].some((c) => c.network === networkId && c.encrypted);
    // An encrypted network without SAs yet is still encrypted: nothing crosses until keys come.
    const esp = encrypted ? this.espPlans.get(networkId) ?? { in: [] } : undefined;
    return { vni, mtu, remotes, floods: [...new Set(remotes.map((r) => r.addr))], esp };
  }

  private async ensureVni(c: ContainerRecord): Promise<void> {
    if (c.encrypted && this.dp.espError) return; // stays down: apply() says why
    // The first container of an encrypted network: announce this node's SAs now, not at the
    // next snapshot (there may be none for a while).
    const net = c.encrypted ? this.snapshot?.networks.find((n) => n.id === c.network) : undefined;
    if (net && this.nodeId) this.espPlans.set(net.id, await this.enc.plan(net, this.snapshot!, this.nodeId));
    await this.dp.reconcile(c.vni, this.desired(c.vni, c.mtu, c.network, this.snapshot));
  }

  private async plug(c: ContainerRecord): Promise<void> {
    const tap = await plugEth0(
      c.name,
      { mac: c.mac, mtu: c.mtu, address: `${c.ip}/${c.prefix}` },
      this.dp.offload,
    );
    const used = new Set([...this.live.values()].map((l) => l.port));
    let port = 0;
    while (used.has(port)) port++;
    this.live.set(c.name, { tap, port });
    await this.ensureVni(c);
    await this.dp.ops([{ op: "port.add", port, fd: tap.fd, name: c.name, vni: c.vni, mac: c.mac, ip: c.ip }]);
  }

  private async endpointCreate(network: string, container: string, ip?: string) {
    const args = { network, container, ip };
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
      const listen = parseRemote(String(b.listenAddr ?? `0.0.0.0:${CONTROL_PORT}`), CONTROL_PORT);
      const dataPathPort = Number(b.dataPathPort ?? 4789);
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
      const o: InitOptions = {
        advertiseAddr,
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
      await this.dp.start(advertiseAddr, dataPathPort);
      try {
        this.manager = await Manager.init(this.o.stateDir, o);
        this.startManager();
      } catch (e) {
        this.manager?.stop();
        this.manager = undefined;
        for (const f of ["store.jsonl", "ca.pem", "ca-key.pem"]) {
          try {
            Deno.removeSync(this.path(f));
          } catch { /* not created */ }
        }
        await this.dp.stop();
        throw new ApiError(`cannot start the manager: ${e instanceof Error ? e.message : e}`, 500);
      }
      this.config = {
        role: "manager",
        hostname: this.o.hostname,
        advertiseAddr,
        listenAddr: `${listen.host}:${listen.port}`,
        dataPathPort,
      };
      this.writeJson("daemon.json", this.config);
      return {
        nodeId: this.manager.localNodeId,
        token: this.manager.token(),
        join: this.manager.joinAddress(),
      };
    });
  }

  joinToken() {
    const m = this.requireManager();
    return { token: m.token(), join: m.joinAddress() };
  }

  async swarmJoin(b: Record<string, any>) {
    return await this.serial(async () => {
      const advertiseAddr = this.outsideSwarm(b);
      let creds: Credentials;
      try {
        creds = await join(String(b.token ?? ""), parseRemote(String(b.remote ?? ""), CONTROL_PORT), {
          hostname: this.o.hostname,
          addr: advertiseAddr,
        });
      } catch (e) {
        if (e instanceof JoinError || e instanceof TokenError) throw new ApiError(e.message, 400);
        throw new ApiError(`cannot join: ${e instanceof Error ? e.message : e}`, 502);
      }
      await this.dp.start(advertiseAddr, creds.dataPathPort);
      this.config = {
        role: "worker",
        hostname: this.o.hostname,
        advertiseAddr,
        listenAddr: String(b.listenAddr ?? ""),
        dataPathPort: creds.dataPathPort,
        creds,
      };
      this.writeJson("daemon.json", this.config);
      this.startAgent(creds);
      return { nodeId: creds.nodeId };
    });
  }

  async swarmLeave(force: boolean) {
    return await this.serial(async () => {
      if (!this.config) throw new ApiError("this node is not part of a swarm", 409);
      if (this.manager && !force) {
        throw new ApiError(
          "you are attempting to leave the swarm on a node that is its only manager: this erases the cluster state (networks, nodes). Use --force to do it anyway",
          409,
        );
      }
      for (const name of [...this.containers.keys()]) await this.removeContainer(name, true, false);
      if (this.agent) {
        await this.agent.rpc("node.leave").catch((e) => this.log(`leave: ${e.message}`));
        this.agent.stop();
        this.agent = undefined;
      }
      if (this.manager) {
        this.manager.stop();
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
  swarmUpdate(b: Record<string, any>) {
    const m = this.requireManager();
    const ms = Number(b.keyRotationMs);
    if (!Number.isInteger(ms) || ms < MIN_KEY_ROTATION_MS) {
      throw new ApiError(`--key-rotation-interval must be at least 1s, got ${b.keyRotationMs} ms`);
    }
    m.setKeyRotation(ms);
    return { keyRotationMs: ms };
  }

  nodes() {
    if (this.manager) {
      return this.manager.nodes().map((n) => ({ ...n, self: n.id === this.manager!.localNodeId }));
    }
    this.requireManager();
  }

  info() {
    return {
      hostname: this.o.hostname,
      swarm: this.config ? "active" : "inactive",
      role: this.config?.role ?? null,
      nodeId: this.nodeId ?? null,
      advertiseAddr: this.config?.advertiseAddr ?? null,
      dataPathPort: this.config?.dataPathPort ?? null,
      managerReachable: this.manager ? true : this.agent?.connected ?? false,
      /** Why the manager refused this node (it has to leave and join again), or null. */
      refused: this.agent?.refusal ?? null,
      containers: this.containers.size,
      snapshotVersion: this.snapshot?.version ?? null,
    };
  }

  /** A manager sees every network; a worker only those it has containers on (lazy extension). */
  private visibleNetworks(): NetworkRecord[] {
    if (this.manager) return this.manager.networks();
    if (!this.config) throw new ApiError("this node is not part of a swarm", 409);
    const vnis = new Set([...this.containers.values()].map((c) => c.network));
    return (this.snapshot?.networks ?? []).filter((n) => vnis.has(n.id));
  }

  networks() {
    return this.visibleNetworks();
  }

  networkCreate(b: Record<string, any>) {
    const m = this.requireManager();
    if (b.driver && b.driver !== "overlay") {
      throw new ApiError(`driver "${b.driver}" is not supported: weft only has "overlay"`);
    }
    try {
      return m.createNetwork({
        name: String(b.name ?? ""),
        subnet: b.subnet,
        gateway: b.gateway,
        attachable: !!b.attachable,
        encrypted: !!b.encrypted,
      });
    } catch (e) {
      if (e instanceof ClusterError) throw new ApiError(e.message, e.status);
      throw e;
    }
  }

  networkRemove(ref: string) {
    const m = this.requireManager();
    try {
      return m.removeNetwork(ref);
    } catch (e) {
      if (e instanceof ClusterError) throw new ApiError(e.message, e.status);
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
    const all = this.visibleNetworks();
    const net = all.find((n) => n.name === ref) ??
      all.find((n) => n.id === ref || (ref.length >= 3 && n.id.startsWith(ref)));
    if (!net) throw new ApiError(`network ${ref} not found`, 404);
    const eps = this.manager ? this.manager.endpoints() : this.snapshot?.endpoints ?? [];
    const nodes = this.manager ? this.manager.nodes() : this.snapshot?.nodes ?? [];
    const peers = [...new Set(eps.filter((e) => e.network === net.id).map((e) => e.node))]
      .map((id) => nodes.find((n) => n.id === id)).filter((n) => n).map((n) => ({
        Name: n!.hostname,
        IP: n!.addr,
      }));
    const containers: Record<string, unknown> = {};
    for (const c of this.containers.values()) {
      if (c.network !== net.id) continue;
      containers[c.endpointId] = {
        Name: c.name,
        EndpointID: c.endpointId,
        MacAddress: c.mac,
        IPv4Address: `${c.ip}/${c.prefix}`,
      };
    }
    return [{
      Name: net.name,
      Id: net.id,
      Created: net.createdAt,
      Scope: net.scope,
      Driver: net.driver,
      IPAM: { Driver: "default", Config: [{ Subnet: net.subnet, Gateway: net.gateway }] },
      Attachable: net.attachable,
      VNI: net.vni,
      MTU: net.mtu,
      Options: {
        "com.docker.network.driver.overlay.vxlanid_list": String(net.vni),
        "com.docker.network.driver.mtu": String(net.mtu),
        ...(net.encrypted ? { encrypted: "" } : {}),
      },
      ...(net.encrypted ? { Encryption: this.encryptionStatus(net.id) } : {}),
      Containers: containers,
      Peers: peers,
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
      let created;
      try {
        created = await this.endpointCreate(String(b.network), name, b.ip ? String(b.ip) : undefined);
      } catch (e) {
        if (e instanceof ApiError) throw e;
        throw new ApiError(e instanceof Error ? e.message : String(e), 409);
      }
      const { endpoint, network } = created;
      if (network.encrypted && this.dp.espError) {
        // Fail closed: no container on an encrypted network this node cannot encrypt for.
        await this.endpointDelete(endpoint.id).catch(() => {});
        throw new ApiError(`network ${network.name} is encrypted and ${this.dp.espError}; nothing was created`, 409);
      }
      const c: ContainerRecord = {
        name,
        network: network.id,
        networkName: network.name,
        vni: network.vni,
        mtu: network.mtu,
        prefix: parseCidr(network.subnet).bits,
        endpointId: endpoint.id,
        ip: endpoint.ip,
        mac: endpoint.mac,
        cmd,
        created: new Date().toISOString(),
        encrypted: network.encrypted,
      };
      try {
        await createNamespace(name);
        this.containers.set(name, c);
        await this.plug(c);
        if (cmd.length) c.pid = startProcess(name, cmd, this.path(`logs/${name}.log`));
        this.saveContainers();
      } catch (e) {
        await this.removeContainer(name, true, true).catch(() => {});
        await deleteNamespace(name).catch(() => {});
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
    if (c.pid && alive(c.pid) && !force) {
      throw new ApiError(
        `container ${name} is running ${c.cmd.join(" ")}; stop it or use "weft rm -f ${name}"`,
        409,
      );
    }
    killProcess(c.pid);
    const l = this.live.get(name);
    if (l?.port !== undefined) await this.dp.ops([{ op: "port.remove", port: l.port }]).catch(() => {});
    if (l?.tap) unplug(l.tap);
    this.live.delete(name);
    await deleteNamespace(name).catch((e) => this.log(`rm ${name}: ${e.message}`));
    this.containers.delete(name);
    this.saveContainers();
    if (!internal) {
      await this.endpointDelete(c.endpointId).catch((e) => this.log(`rm ${name}: endpoint: ${e.message}`));
    }
    // The last local container of a network takes the network's VNI with it.
    if (![...this.containers.values()].some((o) => o.vni === c.vni)) {
      await this.dp.reconcile(c.vni, null).catch(() => {});
    }
    return c;
  }

  rm(name: string, force: boolean) {
    return this.serial(() => this.removeContainer(name, force, false));
  }

  ps() {
    return [...this.containers.values()].map((c) => ({
      ...c,
      status: c.cmd.length ? (c.pid && alive(c.pid) ? "running" : "exited") : "up",
      eth0: this.live.has(c.name) ? "up" : "down",
    }));
  }

  container(name: string) {
    const c = this.containers.get(name);
    if (!c) throw new ApiError(`no such container: ${name}`, 404);
    return c;
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
    const s = await this.dp.stats();
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
      } else if (a === "swarm" && b === "join-token" && m === "GET") out = this.joinToken();
      else if (a === "swarm" && b === "update" && m === "POST") out = this.swarmUpdate(await body());
      else if (a === "nodes" && m === "GET") out = await this.nodes();
      else if (a === "networks" && !b && m === "GET") out = this.networks();
      else if (a === "networks" && !b && m === "POST") out = this.networkCreate(await body());
      else if (a === "networks" && b && m === "GET") out = this.networkInspect(b);
      else if (a === "networks" && b && m === "DELETE") out = this.networkRemove(b);
      else if (a === "containers" && !b && m === "GET") out = this.ps();
      else if (a === "containers" && !b && m === "POST") out = await this.runContainer(await body());
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
      this.log(`internal error on ${req.method} ${url.pathname}: ${e instanceof Error ? e.stack : e}`);
      return Response.json({ message: e instanceof Error ? e.message : String(e) }, { status: 500 });
    }
  }
}
