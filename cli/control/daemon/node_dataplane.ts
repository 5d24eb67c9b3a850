// The daemon's handle on its data plane: the underlay UDP socket, the worker, and the programmed
// state per VNI, so the control plane can hand it the desired state and only the difference is
// sent to the worker (static FDB + ARP/ND entries per remote endpoint, a flood list per VNI).

import { check } from "../../sys/errno.ts";
import { addressOf, EFD_CLOEXEC, EFD_NONBLOCK, libc } from "../../sys/libc.ts";
import { closeUdp, openUdp, type UdpSocket } from "../../phy/udp.ts";
import { parseIp } from "../../core/addr.ts";
import type { DpOp, FromDpWorker, ToDpWorker } from "./dp_protocol.ts";

export interface RemoteEndpoint {
  mac: string;
  ip: string;
  addr: string;
}

export interface DesiredVni {
  vni: number;
  mtu: number;
  remotes: RemoteEndpoint[];
  /** Underlay addresses of the other nodes with endpoints on this VNI. */
  floods: string[];
}

interface Programmed {
  mtu: number;
  remotes: Map<string, RemoteEndpoint>;
  floods: Set<string>;
}

export class DataPlane {
  private worker?: Worker;
  private wakeFd = -1;
  private udp?: UdpSocket;
  private readonly one = new ArrayBuffer(128);
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly vnis = new Map<number, Programmed>();
  /** Serialises reconciliations. */
  private chain: Promise<unknown> = Promise.resolve();
  dataPort = 4789;
  log: (m: string) => void = (m) => console.error(m);

  get running(): boolean {
    return this.worker !== undefined;
  }

  async start(addr: string, port: number): Promise<void> {
    if (this.worker) return;
    this.dataPort = port;
    this.udp = openUdp(parseIp(addr), port);
    new DataView(this.one).setUint32(0, 1, true);
    this.wakeFd = check(libc().eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd", "cannot create an eventfd");
    const worker = new Worker(new URL("./dp_worker.ts", import.meta.url).href, { type: "module" });
    this.worker = worker;
    const ready = new Promise<void>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<FromDpWorker>) => {
        const m = e.data;
        if (m.type === "ready") resolve();
        else if (m.type === "fatal") {
          reject(new Error(m.message));
          this.log(`data plane failed: ${m.message}`);
        } else if (m.type === "reply") {
          const p = this.pending.get(m.id);
          this.pending.delete(m.id);
          if (m.error) {
            this.log(`data plane: ${m.error}`);
            p?.reject(new Error(m.error));
          } else p?.resolve(m.data);
        }
      };
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(e.message));
        this.log(`data plane failed: ${e.message}`);
      };
    });
    worker.postMessage(
      {
        type: "start",
        udpFd: this.udp.fd,
        family: this.udp.family,
        vxlanPort: port,
        wakeFd: this.wakeFd,
      } satisfies ToDpWorker,
    );
    await ready;
  }

  private post(m: ToDpWorker): void {
    this.worker!.postMessage(m);
    libc().write(this.wakeFd, addressOf(new Uint8Array(this.one)), 8);
  }

  private request<T>(m: { type: "fdb" | "stats" } | { type: "ops"; ops: DpOp[] }): Promise<T> {
    if (!this.worker) {
      return Promise.reject(new Error("the data plane is not running: this node is not in a swarm"));
    }
    const id = this.nextId++;
    const p = new Promise<T>((resolve, reject) =>
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
    );
    this.post({ ...m, id } as ToDpWorker);
    return p;
  }

  ops(ops: DpOp[]): Promise<void> {
    if (!ops.length) return Promise.resolve();
    return this.request<void>({ type: "ops", ops });
  }

  fdb(): Promise<{ used: number; capacity: number; entries: any[] }> {
    return this.request({ type: "fdb" });
  }

  stats(): Promise<any> {
    return this.request({ type: "stats" });
  }

  hasVni(vni: number): boolean {
    return this.vnis.has(vni);
  }

  /** Brings one VNI to the desired state (null: tear it down). */
  reconcile(vni: number, want: DesiredVni | null): Promise<void> {
    const run = async () => {
      const have = this.vnis.get(vni);
      const ops: DpOp[] = [];
      if (!want) {
        if (!have) return;
        ops.push({ op: "vni.remove", vni });
        this.vnis.delete(vni);
        return this.ops(ops);
      }
      let p = have;
      if (!p) {
        ops.push({ op: "vni.add", vni, mtu: want.mtu });
        p = { mtu: want.mtu, remotes: new Map(), floods: new Set() };
        this.vnis.set(vni, p);
      }
      const wantFloods = new Set(want.floods);
      for (const a of p.floods) {
        if (!wantFloods.has(a)) ops.push({ op: "flood.remove", vni, addr: a, port: this.dataPort });
      }
      const wantRemotes = new Map(want.remotes.map((r) => [r.mac, r]));
      for (const [mac, r] of p.remotes) {
        const w = wantRemotes.get(mac);
        if (!w || w.ip !== r.ip || w.addr !== r.addr) ops.push({ op: "remote.remove", vni, mac, ip: r.ip });
      }
      for (const a of wantFloods) {
        if (!p.floods.has(a)) ops.push({ op: "flood.add", vni, addr: a, port: this.dataPort });
      }
      for (const [mac, w] of wantRemotes) {
        const r = p.remotes.get(mac);
        if (!r || w.ip !== r.ip || w.addr !== r.addr) {
          ops.push({ op: "remote.add", vni, mac, ip: w.ip, addr: w.addr, port: this.dataPort });
        }
      }
      p.floods = wantFloods;
      p.remotes = wantRemotes;
      await this.ops(ops);
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => {});
    return next;
  }

  async stop(): Promise<void> {
    if (!this.worker) return;
    const w = this.worker;
    this.worker = undefined;
    const done = new Promise<void>((resolve) => {
      w.onmessage = (e: MessageEvent<FromDpWorker>) => e.data.type === "stopped" && resolve();
    });
    w.postMessage({ type: "stop" } satisfies ToDpWorker);
    libc().write(this.wakeFd, addressOf(new Uint8Array(this.one)), 8);
    await Promise.race([done, new Promise((r) => setTimeout(r, 2000))]);
    w.terminate();
    libc().close(this.wakeFd);
    if (this.udp) closeUdp(this.udp);
    this.udp = undefined;
    this.vnis.clear();
    for (const p of this.pending.values()) p.reject(new Error("the data plane stopped"));
    this.pending.clear();
  }
}
