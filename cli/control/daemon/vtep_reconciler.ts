// The daemon's side of the shared data plane (cli/dataplane/): it owns this node's VTEP (NodeVtep)
// and remembers what it programmed per VNI, so the control plane can hand it the desired state
// and only the difference goes to the worker as ops (static FDB + ARP/ND entries per remote
// endpoint, a flood list per VNI).

import { VXLAN_PORT } from "../../defaults.ts";
import { formatIp, parseIp } from "../../core/addr.ts";
import type { DataplaneWorker } from "../../dataplane/dataplane.ts";
import { NodeVtep } from "../../dataplane/node_vtep.ts";
import type { DpOp, FdbReply, StatsReply } from "../../dataplane/protocol.ts";
import type { EspDesired } from "./encryption.ts";
import { ESP_PORT } from "../../esp/port.ts";

/** An endpoint on another node: its MAC and addresses, and that node's VTEP address `addr`. */
export interface RemoteEndpoint {
  mac: string;
  ip: string;
  ip6?: string;
  addr: string;
}

/** What one VNI of this node's data plane should hold (reconcile.ts desiredVni makes it). */
export interface DesiredVni {
  vni: number;
  mtu: number;
  remotes: RemoteEndpoint[];
  /** Underlay addresses of the other nodes with endpoints on this VNI. */
  floods: string[];
  /** An encrypted network: only ESP, with these SAs. */
  esp?: EspDesired;
}

interface Programmed {
  remotes: Map<string, RemoteEndpoint>;
  floods: Set<string>;
  /** SPIs of the SAs the worker holds. */
  espOut?: number;
  espIn: Set<number>;
}

const NOT_RUNNING = "the data plane is not running: this node is not in a swarm";

/**
 * This node's VTEP as the daemon runs it: opened (NodeVtep.open) when the node joins a swarm,
 * closed when it leaves, and programmed by reconcile(), which turns the desired state of a VNI
 * into only the ops that differ from what was programmed before.
 */
export class VtepReconciler {
  /** TAP offloads and UDP GSO/GRO: containers' TAPs must then be opened with IFF_VNET_HDR. */
  constructor(readonly offload = true) {}
  private vtep?: NodeVtep;
  /** Why this node cannot encrypt (libcrypto missing, ESP port taken); undefined when it can. */
  espError?: string;
  private readonly vnis = new Map<number, Programmed>();
  /** Serialises reconciliations. */
  private chain: Promise<unknown> = Promise.resolve();
  private dataPort = VXLAN_PORT;
  /** This node's VTEP address (formatIp form), never programmed as a peer of itself. */
  private ownAddress?: string;
  /** "VNI addr" pairs already logged as skipped, so a reconcile loop logs each once. */
  private readonly skippedSelf = new Set<string>();
  log: (m: string) => void = (m) => console.error(m);

  /** Whether the VTEP is open (start() succeeded, stop() not called since). */
  get running(): boolean {
    return this.vtep !== undefined;
  }

  /**
   * Opens this node's VTEP on `addr` (IPv4 or IPv6 text) and UDP `port` (the swarm's data path
   * port, VXLAN_PORT by default), with SOURCE_PORTS senders and, when libcrypto loads, the ESP
   * socket on `espPort` (the swarm's `--esp-port`, ESP_PORT by default); nothing when it is open
   * already. The kernel's defaults on the wire: DF 0, a UDP checksum; the outer ECN is read for
   * RFC 6040.
   * @throws as NodeVtep.open; {AddressError} for an unparsable address.
   */
  async start(addr: string, port: number, espPort = ESP_PORT): Promise<void> {
    if (this.vtep) return;
    this.dataPort = port;
    this.ownAddress = formatIp(parseIp(addr));
    const on = this.offload;
    this.vtep = await NodeVtep.open(
      {
        address: parseIp(addr),
        port,
        offload: { tap: on, gso: on, gro: on },
        esp: { port: espPort, optional: true },
      },
      (m) => this.log(m),
    );
    this.espError = this.vtep.espError;
    this.vtep.worker.failed.catch((e: Error) => this.log(e.message));
  }

  private get handle(): DataplaneWorker {
    if (!this.vtep) throw new Error(NOT_RUNNING);
    return this.vtep.worker;
  }

  /** Sends data-plane ops (port.add, remote.add, …) to the worker, in order.
   * @throws Error when the data plane is not running or the worker refuses an op (logged too) */
  async ops(ops: DpOp[]): Promise<void> {
    try {
      await this.handle.ops(ops);
    } catch (e) {
      this.log(e instanceof Error ? e.message : String(e));
      throw e;
    }
  }

  /** The switch's FDB. @throws Error when not running */
  async fdb(): Promise<FdbReply> {
    return await this.handle.fdb();
  }

  /** The data plane's counters. @throws Error when not running */
  async stats(): Promise<StatsReply> {
    return await this.handle.stats();
  }

  /** Whether `vni` is programmed. */
  hasVni(vni: number): boolean {
    return this.vnis.has(vni);
  }

  /** Brings one VNI to the desired state (null: tear it down). */
  reconcile(vni: number, want: DesiredVni | null): Promise<void> {
    const run = () => this.ops(this.diff(vni, want));
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => {});
    return next;
  }

  /** The ops from what is programmed to `want`; records `want` as programmed. */
  private diff(vni: number, want: DesiredVni | null): DpOp[] {
    const have = this.vnis.get(vni);
    if (!want) {
      if (!have) return [];
      this.vnis.delete(vni);
      return [{ op: "vni.remove", vni }];
    }
    const ops: DpOp[] = [];
    let p = have;
    if (!p) {
      ops.push({ op: "vni.add", vni, mtu: want.mtu, suppress: true, encrypted: want.esp !== undefined });
      p = { remotes: new Map(), floods: new Set(), espIn: new Set() };
      this.vnis.set(vni, p);
    }
    const port = this.dataPort;
    // A VTEP never lists itself (a stale record, a node re-joining from another address): the
    // copy sent to itself would move local MACs to "remote self" and black-hole their replies.
    const self = (addr: string) => {
      if (formatIp(parseIp(addr)) !== this.ownAddress) return false;
      const key = `${vni} ${addr}`;
      if (!this.skippedSelf.has(key)) {
        this.skippedSelf.add(key);
        this.log(`VNI ${vni}: not adding ${addr} as a peer: it is this node's own VTEP address`);
      }
      return true;
    };
    const wantFloods = new Set(want.floods.filter((a) => !self(a)));
    for (const addr of p.floods) if (!wantFloods.has(addr)) ops.push({ op: "flood.remove", vni, addr, port });
    const wantRemotes = new Map(want.remotes.filter((r) => !self(r.addr)).map((r) => [r.mac, r]));
    const same = (a?: RemoteEndpoint, b?: RemoteEndpoint) =>
      a && b && a.ip === b.ip && a.ip6 === b.ip6 && a.addr === b.addr;
    for (const [mac, r] of p.remotes) {
      if (!same(wantRemotes.get(mac), r)) ops.push({ op: "remote.remove", vni, mac, ip: r.ip, ip6: r.ip6 });
    }
    for (const addr of wantFloods) if (!p.floods.has(addr)) ops.push({ op: "flood.add", vni, addr, port });
    for (const [mac, w] of wantRemotes) {
      if (!same(p.remotes.get(mac), w)) {
        ops.push({ op: "remote.add", vni, mac, ip: w.ip, ip6: w.ip6, addr: w.addr, port });
      }
    }
    p.floods = wantFloods;
    p.remotes = wantRemotes;
    if (want.esp) {
      // Inbound SAs before the outbound one: a peer's first datagram under a new SA finds it.
      const wantIn = new Map(want.esp.in.map((s) => [s.spi, s]));
      for (const [spi, s] of wantIn) {
        if (!p.espIn.has(spi)) ops.push({ op: "esp.in", vni, spi, keymat: s.keymat });
      }
      for (const spi of p.espIn) if (!wantIn.has(spi)) ops.push({ op: "esp.in.remove", spi });
      p.espIn = new Set(wantIn.keys());
      const out = want.esp.out;
      if (out && out.spi !== p.espOut) ops.push({ op: "esp.out", vni, spi: out.spi, keymat: out.keymat });
      if (out) p.espOut = out.spi;
    }
    return ops;
  }

  /** Closes the VTEP (worker, sockets) and forgets what was programmed. */
  async stop(): Promise<void> {
    const vtep = this.vtep;
    if (!vtep) return;
    this.vtep = undefined;
    await vtep.close();
    this.vnis.clear();
  }
}
