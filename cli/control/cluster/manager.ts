// The manager: the cluster's state (embedded store), the CA, and the TLS listener on 2377 that
// nodes join through and keep a session on. Every change is written to the store first, then a
// snapshot is pushed to each connected node (filtered: a node only hears about the networks it
// has endpoints on — lazy extension). Nodes send a heartbeat every second; one silent for
// HEARTBEAT_TIMEOUT_MS is marked Down and its endpoints are withdrawn from everyone's FDB.
//
// Nothing a peer sends can crash the manager: every connection has its own try/catch, a
// handshake and first-message deadline, a line-length bound, and gets one clear error line.

import {
  caDigest,
  createCa,
  formatToken,
  issueCert,
  type KeyPairPem,
  randomSecret,
  sameSecret,
  sha256Hex,
} from "./pki.ts";
import { Store } from "./store.ts";
import { KeyError, NetworkKeys } from "./netkeys.ts";
import { ESP_MTU_REDUCTION } from "../../esp/esp.ts";
import { LineConn, ProtocolError, withTimeout } from "./wire.ts";
import { validAlias } from "../../dns/names.ts";
import {
  allocateAddress,
  allocateSubnet,
  type Cidr,
  contains,
  formatCidr,
  IpamError,
  ipToInt,
  macFor,
  objectId,
  parseCidr,
} from "./ipam.ts";
import {
  allocateAddress6,
  bigToIp6,
  type Cidr6,
  contains6,
  formatCidr6,
  ip6ToBig,
  isIpv6Cidr,
  parseCidr6,
} from "./ipam6.ts";
import { FIRST_VNI } from "../../defaults.ts";
import {
  type ClusterRecord,
  DEFAULT_MTU,
  type EndpointRecord,
  HEARTBEAT_TIMEOUT_MS,
  type NetworkOptions,
  type NetworkRecord,
  type NodeRecord,
  type NodeView,
  type Snapshot,
  validName,
} from "./types.ts";

export class ClusterError extends Error {
  override name = "ClusterError";
  constructor(message: string, readonly status = 400) {
    super(message);
  }
}

const HANDSHAKE_MS = 5000;
const FIRST_MESSAGE_MS = 10000;

export interface InitOptions {
  advertiseAddr: string;
  /** The VTEP's address when it differs from advertiseAddr. */
  dataPathAddr?: string;
  listenAddr: string;
  listenPort: number;
  dataPathPort: number;
  pool: string;
  poolMaskLength: number;
  hostname: string;
  /** `--key-rotation-interval` in ms (DEFAULT_KEY_ROTATION_MS when absent). */
  keyRotationMs?: number;
}

interface Session {
  nodeId: string;
  conn: LineConn;
  lastSeen: number;
}

export class Manager {
  readonly store: Store;
  private ca!: KeyPairPem;
  private server!: KeyPairPem;
  private listener?: Deno.TlsListener;
  private readonly sessions = new Map<string, Session>();
  private readonly lastSeen = new Map<string, number>();
  private readonly down = new Set<string>();
  /** Session secrets issued at join, handed over once in the welcome. */
  private readonly issued = new Map<string, string>();
  private timer?: ReturnType<typeof setInterval>;
  /** When this manager started listening: a node's silence counts from then, not from 1970. */
  private startedAt = Date.now();
  private version = 0;
  /** The manager's own node: its snapshots go to the local daemon directly. */
  onLocalSnapshot: (s: Snapshot) => void = () => {};
  /** Key rings and SAs of encrypted networks. */
  readonly keys: NetworkKeys;
  log: (msg: string) => void = (m) => console.error(m);

  private constructor(readonly stateDir: string) {
    this.store = new Store(`${stateDir}/store.jsonl`);
    this.keys = new NetworkKeys(this.store);
  }

  get cluster(): ClusterRecord {
    return this.store.get<ClusterRecord>("cluster", "cluster")!;
  }

  get localNodeId(): string {
    return this.store.all<NodeRecord>("node").find((n) => n.role === "manager")!.id;
  }

  static async init(stateDir: string, o: InitOptions): Promise<Manager> {
    const m = new Manager(stateDir);
    m.store.open();
    const id = objectId();
    m.ca = await createCa(id);
    await Deno.writeTextFile(`${stateDir}/ca.pem`, m.ca.cert);
    await Deno.writeTextFile(`${stateDir}/ca-key.pem`, m.ca.key, { mode: 0o600 });
    parseCidr(o.pool);
    m.store.put<ClusterRecord>("cluster", "cluster", {
      id,
      createdAt: new Date().toISOString(),
      advertiseAddr: o.advertiseAddr,
      listenAddr: o.listenAddr,
      listenPort: o.listenPort,
      dataPathPort: o.dataPathPort,
      pool: o.pool,
      poolMaskLength: o.poolMaskLength,
      caDigest: await caDigest(m.ca.cert),
      workerSecret: randomSecret(),
      keyRotationMs: o.keyRotationMs,
    });
    const nodeId = objectId();
    m.store.put<NodeRecord>("node", nodeId, {
      id: nodeId,
      hostname: o.hostname,
      addr: o.advertiseAddr,
      ...(o.dataPathAddr ? { dataAddr: o.dataPathAddr } : {}),
      role: "manager",
      availability: "active",
      secretHash: "",
      joinedAt: new Date().toISOString(),
    });
    await m.loadServerCert();
    return m;
  }

  static async open(stateDir: string): Promise<Manager> {
    const m = new Manager(stateDir);
    m.store.open();
    m.ca = {
      cert: await Deno.readTextFile(`${stateDir}/ca.pem`),
      key: await Deno.readTextFile(`${stateDir}/ca-key.pem`),
    };
    await m.loadServerCert();
    return m;
  }

  private async loadServerCert(): Promise<void> {
    const c = this.cluster;
    const ips = ["127.0.0.1", c.advertiseAddr];
    if (c.listenAddr !== "0.0.0.0") ips.push(c.listenAddr);
    this.server = await issueCert(this.ca, `weft-manager-${c.id.slice(0, 12)}`, ips);
  }

  /** `swarm update --key-rotation-interval`, kept in the store. */
  setKeyRotation(ms: number): void {
    this.store.put<ClusterRecord>("cluster", "cluster", { ...this.cluster, keyRotationMs: ms });
    this.keys.rotationMs = ms;
  }

  token(): string {
    return formatToken({ digest: this.cluster.caDigest, secret: this.cluster.workerSecret });
  }

  joinAddress(): string {
    return `${this.cluster.advertiseAddr}:${this.cluster.listenPort}`;
  }

  // ── listener ─────────────────────────────────────────────────────────────────────────────

  start(): void {
    const c = this.cluster;
    this.listener = Deno.listenTls({
      hostname: c.listenAddr,
      port: c.listenPort,
      cert: this.server.cert,
      key: this.server.key,
    });
    this.startedAt = Date.now();
    (async () => {
      for await (const conn of this.listener!) this.accept(conn).catch(() => {});
    })().catch(() => {});
    if (c.keyRotationMs) this.keys.rotationMs = c.keyRotationMs;
    this.timer = setInterval(() => {
      this.checkHeartbeats();
      if (this.keys.rotateDue()) this.broadcast();
    }, 500);
  }

  stop(): void {
    clearInterval(this.timer);
    try {
      this.listener?.close();
    } catch { /* closed */ }
    for (const s of this.sessions.values()) s.conn.close();
    this.sessions.clear();
    this.store.close();
  }

  private async accept(tls: Deno.TlsConn): Promise<void> {
    const remote = `${(tls.remoteAddr as Deno.NetAddr).hostname}:${(tls.remoteAddr as Deno.NetAddr).port}`;
    const conn = new LineConn(tls);
    try {
      await withTimeout(tls.handshake(), HANDSHAKE_MS, "TLS handshake");
    } catch (e) {
      this.log(
        `refused ${remote}: no TLS handshake (${
          e instanceof Error ? e.message : e
        }); the control port speaks TLS only`,
      );
      conn.close();
      return;
    }
    let nodeId: string | undefined;
    try {
      const first = await withTimeout(conn.read(), FIRST_MESSAGE_MS, "first message");
      if (!first) return conn.close();
      if (first.type === "ca") {
        // Over a TLS session the client has not verified yet: it checks this against its token.
        await conn.send({ type: "ca", cert: this.ca.cert });
        return conn.close();
      }
      if (first.type === "join") nodeId = await this.join(first);
      else if (first.type === "hello") nodeId = await this.hello(first);
      else {throw new ClusterError(
          `unexpected message "${String(first.type).slice(0, 40)}": expected join or hello`,
        );}
    } catch (e) {
      const message = e instanceof ClusterError || e instanceof ProtocolError
        ? e.message
        : `bad request: ${e instanceof Error ? e.message : e}`;
      this.log(`refused ${remote}: ${message}`);
      await conn.send({ type: "error", message });
      return conn.close();
    }
    const node = this.store.get<NodeRecord>("node", nodeId)!;
    const prev = this.sessions.get(nodeId);
    prev?.conn.close();
    // Snapshots leave out the endpoints of nodes that are not Ready; a node becoming Ready again
    // (a manager restart leaves every worker without a session) changes everyone's snapshot.
    const wasReady = prev !== undefined && !this.down.has(nodeId);
    const session: Session = { nodeId, conn, lastSeen: Date.now() };
    this.sessions.set(nodeId, session);
    this.lastSeen.set(nodeId, Date.now());
    this.down.delete(nodeId);
    await conn.send({
      type: "welcome",
      nodeId,
      cluster: this.cluster.id,
      dataPathPort: this.cluster.dataPathPort,
      nodeSecret: this.issued.get(nodeId),
    });
    this.issued.delete(nodeId);
    this.log(`node ${node.hostname} (${nodeId.slice(0, 12)}) connected from ${remote}`);
    if (wasReady) this.push(nodeId);
    else this.broadcast();
    try {
      for (;;) {
        const m = await conn.read();
        if (!m) break;
        session.lastSeen = Date.now();
        this.lastSeen.set(nodeId, session.lastSeen);
        if (m.type === "hb") continue;
        if (m.type === "req") {
          try {
            const data = await this.request(nodeId, String(m.op), m.args ?? {});
            await conn.send({ type: "res", id: m.id, ok: true, data });
          } catch (e) {
            await conn.send({
              type: "res",
              id: m.id,
              ok: false,
              error: e instanceof Error ? e.message : String(e),
            });
          }
        }
      }
    } catch (e) {
      this.log(`session of ${node.hostname} ended: ${e instanceof Error ? e.message : e}`);
    } finally {
      if (this.sessions.get(nodeId) === session) this.sessions.delete(nodeId);
      conn.close();
    }
  }

  private async join(m: Record<string, any>): Promise<string> {
    if (typeof m.secret !== "string" || !sameSecret(m.secret, this.cluster.workerSecret)) {
      throw new ClusterError(
        'invalid join token: its secret is not this swarm\'s; get the current one with "weft swarm join-token worker" on a manager',
        401,
      );
    }
    const hostname = String(m.hostname ?? "").slice(0, 64);
    const addr = String(m.addr ?? "");
    try {
      ipToInt(addr);
    } catch {
      throw new ClusterError(`invalid advertise address "${addr.slice(0, 40)}": expected an IPv4 address`);
    }
    if (!hostname) throw new ClusterError("a joining node must send its hostname");
    const dataAddr = m.dataAddr === undefined || m.dataAddr === null ? undefined : String(m.dataAddr);
    if (dataAddr !== undefined) {
      try {
        ipToInt(dataAddr);
      } catch {
        throw new ClusterError(
          `invalid data path address "${dataAddr.slice(0, 40)}": expected an IPv4 address`,
        );
      }
    }
    const clash = this.store.all<NodeRecord>("node").find((n) => n.addr === addr);
    if (clash) {
      // The same host joining again (after a leave it did not announce): replace its record.
      if (clash.role === "manager") throw new ClusterError(`address ${addr} is the manager's own`);
      this.removeNode(clash.id);
    }
    const id = objectId();
    const secret = randomSecret(40);
    this.store.put<NodeRecord>("node", id, {
      id,
      hostname,
      addr,
      ...(dataAddr ? { dataAddr } : {}),
      role: "worker",
      availability: "active",
      secretHash: await sha256Hex(secret),
      joinedAt: new Date().toISOString(),
    });
    this.issued.set(id, secret);
    this.log(`node ${hostname} (${id.slice(0, 12)}) joined from ${addr}`);
    this.broadcast();
    return id;
  }

  private async hello(m: Record<string, any>): Promise<string> {
    const node = typeof m.nodeId === "string" ? this.store.get<NodeRecord>("node", m.nodeId) : undefined;
    if (
      !node || node.role === "manager" || typeof m.nodeSecret !== "string" ||
      !sameSecret(await sha256Hex(m.nodeSecret), node.secretHash)
    ) {
      throw new ClusterError(
        "unknown node or wrong node secret: this node is not (or no longer) part of the swarm; join again",
        401,
      );
    }
    return node.id;
  }

  private checkHeartbeats(): void {
    const now = Date.now();
    let changed = false;
    for (const n of this.store.all<NodeRecord>("node")) {
      if (n.role === "manager") continue;
      const seen = this.lastSeen.get(n.id) ?? this.startedAt;
      const isDown = now - seen > HEARTBEAT_TIMEOUT_MS;
      if (isDown && !this.down.has(n.id)) {
        this.down.add(n.id);
        this.sessions.get(n.id)?.conn.close();
        this.log(
          `node ${n.hostname} (${
            n.id.slice(0, 12)
          }) is Down: no heartbeat for ${HEARTBEAT_TIMEOUT_MS} ms; withdrawing its endpoints`,
        );
        changed = true;
      }
    }
    if (changed) this.broadcast();
  }

  private removeNode(id: string): void {
    this.keys.removeNode(id);
    for (const e of this.store.all<EndpointRecord>("endpoint")) {
      if (e.node === id) this.store.del("endpoint", e.id);
    }
    this.store.del("node", id);
    this.sessions.get(id)?.conn.close();
    this.sessions.delete(id);
    this.down.delete(id);
    this.lastSeen.delete(id);
  }

  // ── state ────────────────────────────────────────────────────────────────────────────────

  status(n: NodeRecord): "Ready" | "Down" {
    if (n.role === "manager") return "Ready";
    return this.sessions.has(n.id) && !this.down.has(n.id) ? "Ready" : "Down";
  }

  nodes(): NodeView[] {
    return this.store.all<NodeRecord>("node").map((n) => ({
      id: n.id,
      hostname: n.hostname,
      addr: n.addr,
      ...(n.dataAddr ? { dataAddr: n.dataAddr } : {}),
      role: n.role,
      availability: n.availability,
      status: this.status(n),
    }));
  }

  networks(): NetworkRecord[] {
    return this.store.all<NetworkRecord>("network").sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  endpoints(): EndpointRecord[] {
    return this.store.all<EndpointRecord>("endpoint");
  }

  findNetwork(ref: string): NetworkRecord | undefined {
    const all = this.networks();
    return all.find((n) => n.name === ref) ?? all.find((n) => n.id === ref) ??
      (ref.length >= 3 ? all.filter((n) => n.id.startsWith(ref)).at(0) : undefined);
  }

  snapshotFor(nodeId: string): Snapshot {
    const nodes = this.nodes();
    const ready = new Set(nodes.filter((n) => n.status === "Ready").map((n) => n.id));
    const eps = this.endpoints();
    const mine = new Set(eps.filter((e) => e.node === nodeId).map((e) => e.network));
    return {
      version: this.version,
      clusterId: this.cluster.id,
      dataPathPort: this.cluster.dataPathPort,
      nodeId,
      nodes,
      networks: this.networks().filter((n) => mine.has(n.id)),
      endpoints: eps.filter((e) => mine.has(e.network) && (e.node === nodeId || ready.has(e.node))),
      ...this.keys.forNetworks(mine),
    };
  }

  private push(nodeId: string): void {
    if (nodeId === this.localNodeId) {
      this.onLocalSnapshot(this.snapshotFor(nodeId));
      return;
    }
    const s = this.sessions.get(nodeId);
    if (s && !this.down.has(nodeId)) s.conn.send({ type: "snapshot", snapshot: this.snapshotFor(nodeId) });
  }

  broadcast(): void {
    this.version++;
    this.push(this.localNodeId);
    for (const id of this.sessions.keys()) this.push(id);
  }

  // ── operations (from the local API, or a node's session) ──────────────────────────────────

  request(nodeId: string, op: string, a: Record<string, any>): Promise<unknown> {
    return Promise.resolve().then(() => this.requestSync(nodeId, op, a));
  }

  private requestSync(nodeId: string, op: string, a: Record<string, any>): unknown {
    switch (op) {
      case "endpoint.create":
        return this.createEndpoint(
          nodeId,
          String(a.network ?? ""),
          String(a.container ?? ""),
          a.ip ? String(a.ip) : undefined,
          a.ip6 ? String(a.ip6) : undefined,
          Array.isArray(a.aliases) ? a.aliases.map(String) : undefined,
        );
      case "endpoint.delete":
        return this.deleteEndpoint(nodeId, String(a.id ?? ""));
      case "node.leave":
        if (nodeId === this.localNodeId) throw new ClusterError("the manager cannot leave this way");
        this.removeNode(nodeId);
        this.broadcast();
        return { left: true };
      case "nodes":
        return this.nodes();
      case "sa.announce": {
        const mine = new Set(this.endpoints().filter((e) => e.node === nodeId).map((e) => e.network));
        try {
          const sa = this.keys.announce(nodeId, a, mine);
          this.broadcast();
          return sa;
        } catch (e) {
          if (e instanceof KeyError) throw new ClusterError(e.message);
          throw e;
        }
      }
      default:
        throw new ClusterError(`unknown operation "${op.slice(0, 40)}"`);
    }
  }

  /**
   * A network as `docker network create -d overlay` makes one: at most one IPv4 and (with
   * `ipv6`) one IPv6 --subnet; each --gateway and --ip-range goes to the subnet that contains it
   * (Docker: "no matching subnet for gateway …"); no IPv4 --subnet: the next free /poolMaskLength
   * of the default pool; gateway defaults to the subnet's first address. `mtu`: the
   * com.docker.network.driver.mtu option (68..65535); without it each node derives its own from
   * its underlay (NetworkRecord.mtu is then DEFAULT_MTU, what older nodes use).
   * An explicit subnet may overlap another network's: each overlay is its own L2 domain, kept
   * apart by its VNI (Docker refuses that); only pool allocation avoids subnets in use.
   * `encrypted`: ESP between nodes, a key drawn now (netkeys.ts); its MTU gives up ESP_MTU_REDUCTION.
   * @throws ClusterError (400) for bad input, (409) for a name in use; nothing is stored then
   */
  createNetwork(o: NetworkOptions): NetworkRecord {
    if (!validName(o.name)) {
      throw new ClusterError(`invalid network name "${o.name}": letters, digits, "_", "." and "-", up to 63`);
    }
    if (this.findNetwork(o.name)?.name === o.name) {
      throw new ClusterError(`network with name ${o.name} already exists`, 409);
    }
    const c = this.cluster;
    const used = this.networks().map((n) => parseCidr(n.subnet));
    const list = (v: string | string[] | undefined) =>
      (v === undefined ? [] : Array.isArray(v) ? v : [v]).map(String);
    const subnets = list(o.subnet), gateways = list(o.gateway), ranges = list(o.ipRange);
    let v4: { subnet?: Cidr; gateway?: string; range?: Cidr } = {};
    let v6: { subnet?: Cidr6; gateway?: string; range?: Cidr6 } = {};
    try {
      for (const t of subnets) {
        if (isIpv6Cidr(t)) {
          if (v6.subnet) {
            throw new IpamError(`only one IPv6 --subnet per network, got ${formatCidr6(v6.subnet)} and ${t}`);
          }
          v6.subnet = parseCidr6(t);
          if (v6.subnet.bits > 124) throw new IpamError(`subnet ${t} is too small: at most /124`);
        } else {
          if (v4.subnet) {
            throw new IpamError(`only one IPv4 --subnet per network, got ${formatCidr(v4.subnet)} and ${t}`);
          }
          v4.subnet = parseCidr(t);
          if (v4.subnet.bits > 30) throw new IpamError(`subnet ${t} is too small: at most /30`);
        }
      }
      if (v6.subnet && !o.ipv6) throw new IpamError(`IPv6 subnet ${formatCidr6(v6.subnet)} needs --ipv6`);
      if (o.ipv6 && !v6.subnet) {
        throw new IpamError(
          "--ipv6 needs an IPv6 --subnet (weft has no default IPv6 pool), e.g. --subnet fd00:10::/64",
        );
      }
      v4.subnet ??= allocateSubnet(parseCidr(c.pool), c.poolMaskLength, used);
      for (const g of gateways) {
        if (g.includes(":")) {
          if (!v6.subnet || !contains6(v6.subnet, ip6ToBig(g))) {
            throw new IpamError(`no matching subnet for gateway ${g}`);
          }
          v6.gateway = bigToIp6(ip6ToBig(g));
        } else {
          if (!contains(v4.subnet, ipToInt(g))) throw new IpamError(`no matching subnet for gateway ${g}`);
          v4.gateway = g;
        }
      }
      for (const r of ranges) {
        if (isIpv6Cidr(r)) {
          const rr = parseCidr6(r);
          if (!v6.subnet || !contains6(v6.subnet, rr.base) || rr.bits < v6.subnet.bits) {
            throw new IpamError(`no matching subnet for range ${r}`);
          }
          v6.range = rr;
        } else {
          const rr = parseCidr(r);
          if (!contains(v4.subnet, rr.base) || rr.bits < v4.subnet.bits) {
            throw new IpamError(`no matching subnet for range ${r}`);
          }
          v4.range = rr;
        }
      }
      if (o.mtu !== undefined && (!Number.isInteger(o.mtu) || o.mtu < 68 || o.mtu > 65535)) {
        throw new IpamError(`com.docker.network.driver.mtu must be an integer in 68..65535, got ${o.mtu}`);
      }
    } catch (e) {
      if (e instanceof IpamError) throw new ClusterError(e.message);
      throw e;
    }
    const subnet = v4.subnet;
    const gateway = v4.gateway ?? allocateAddress(subnet, "", new Set());
    const vnis = new Set(this.networks().map((n) => n.vni));
    let vni = FIRST_VNI;
    while (vnis.has(vni)) vni++;
    const net: NetworkRecord = {
      id: objectId(),
      name: o.name,
      driver: "overlay",
      scope: "swarm",
      subnet: formatCidr(subnet),
      gateway,
      vni,
      mtu: (o.mtu ?? DEFAULT_MTU) - (o.encrypted && o.mtu === undefined ? ESP_MTU_REDUCTION : 0),
      attachable: o.attachable ?? false,
      internal: o.internal ?? false,
      createdAt: new Date().toISOString(),
    };
    if (v4.range) net.ipRange = formatCidr(v4.range);
    if (v6.subnet) {
      net.enableIPv6 = true;
      net.subnet6 = formatCidr6(v6.subnet);
      net.gateway6 = v6.gateway ?? bigToIp6(v6.subnet.base + 1n);
      if (v6.range) net.ipRange6 = formatCidr6(v6.range);
    }
    if (o.mtu !== undefined) net.mtuOption = o.mtu;
    if (o.labels && Object.keys(o.labels).length) net.labels = { ...o.labels };
    if (o.encrypted) {
      net.encrypted = true;
      this.keys.create(net.id);
    }
    this.store.put("network", net.id, net);
    this.broadcast();
    return net;
  }

  removeNetwork(ref: string): NetworkRecord {
    const net = this.findNetwork(ref);
    if (!net) throw new ClusterError(`network ${ref} not found`, 404);
    const users = this.endpoints().filter((e) => e.network === net.id);
    if (users.length) {
      throw new ClusterError(
        `network ${net.name} is in use by ${users.length} container(s): ${
          users.map((u) => u.container).join(", ")
        }; remove them first`,
        409,
      );
    }
    this.store.del("network", net.id);
    this.keys.remove(net.id);
    this.broadcast();
    return net;
  }

  private createEndpoint(
    nodeId: string,
    ref: string,
    container: string,
    ip?: string,
    ip6?: string,
    aliases?: string[],
  ): { endpoint: EndpointRecord; network: NetworkRecord } {
    const net = this.findNetwork(ref);
    if (!net) throw new ClusterError(`network ${ref} not found`, 404);
    const badAlias = aliases?.find((a) => !validAlias(a));
    if (badAlias !== undefined) {
      throw new ClusterError(`invalid --network-alias "${badAlias}": not a hostname`);
    }
    const subnet = parseCidr(net.subnet);
    const mine = this.endpoints().filter((e) => e.network === net.id);
    const used = new Set(mine.map((e) => e.ip));
    if (ip) {
      try {
        if (!contains(subnet, ipToInt(ip))) {
          throw new IpamError(`address ${ip} is not in ${net.name}'s subnet ${net.subnet}`);
        }
      } catch (e) {
        throw new ClusterError(e instanceof Error ? e.message : String(e));
      }
      if (ip === net.gateway) throw new ClusterError(`address ${ip} is the gateway of ${net.name}`, 409);
      if (used.has(ip)) throw new ClusterError(`address ${ip} is already in use on ${net.name}`, 409);
    } else {
      try {
        ip = allocateAddress(subnet, net.gateway, used, net.ipRange ? parseCidr(net.ipRange) : undefined);
      } catch (e) {
        throw new ClusterError(e instanceof Error ? e.message : String(e), 409);
      }
    }
    if (ip6 && !net.subnet6) {
      throw new ClusterError(`network ${net.name} has no IPv6 subnet: --ip6 needs one`);
    }
    if (net.subnet6) {
      const s6 = parseCidr6(net.subnet6);
      const used6 = new Set(mine.flatMap((e) => e.ip6 ? [e.ip6] : []));
      try {
        if (ip6) {
          const n = ip6ToBig(ip6);
          ip6 = bigToIp6(n);
          if (!contains6(s6, n)) {
            throw new IpamError(`address ${ip6} is not in ${net.name}'s subnet ${net.subnet6}`);
          }
          if (ip6 === net.gateway6) throw new IpamError(`address ${ip6} is the gateway of ${net.name}`);
          if (used6.has(ip6)) throw new IpamError(`address ${ip6} is already in use on ${net.name}`);
        } else {
          ip6 = allocateAddress6(
            s6,
            net.gateway6 ?? "",
            used6,
            net.ipRange6 ? parseCidr6(net.ipRange6) : undefined,
          );
        }
      } catch (e) {
        throw new ClusterError(e instanceof Error ? e.message : String(e));
      }
    }
    const endpoint: EndpointRecord = {
      id: objectId(),
      network: net.id,
      node: nodeId,
      container,
      ip,
      mac: macFor(ip),
      ...(aliases?.length ? { aliases: [...new Set(aliases)] } : {}),
    };
    if (ip6) endpoint.ip6 = ip6;
    this.store.put("endpoint", endpoint.id, endpoint);
    this.broadcast();
    return { endpoint, network: net };
  }

  private deleteEndpoint(nodeId: string, id: string): { deleted: boolean } {
    const e = this.store.get<EndpointRecord>("endpoint", id);
    if (!e) return { deleted: false };
    if (e.node !== nodeId) throw new ClusterError(`endpoint ${id} belongs to another node`, 403);
    this.store.del("endpoint", id);
    this.broadcast();
    return { deleted: true };
  }
}
