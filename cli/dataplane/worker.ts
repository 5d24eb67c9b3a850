// The data-plane worker, shared by `weft vtep` and the daemon: the Wasm core lives here (it is
// single-threaded) with the frame loop (loop.ts). Between bursts it applies the main thread's
// ops (VNIs, TAP ports, remote endpoints, flood lists) and answers FDB and counter requests.

/// <reference lib="deno.worker" />

import { loadCore } from "../core/load.ts";
import { OFFLOAD_CONFIG } from "../core/config.ts";
import type { WeftCore } from "../core/core.ts";
import { formatEndpoint, parseIp } from "../core/addr.ts";
import { BURST, FrameLoop, TX_MAX } from "./loop.ts";
import type { DpOp, FdbReply, FromWorker, StartConfig, StatsReply, ToWorker } from "./protocol.ts";

/** A TAP the worker reads and writes, and what the core was told about it. */
interface Port {
  id: number;
  name: string;
  vni: number;
  ip?: string;
  ip6?: string;
}

/** "198.18.0.2:4789", "[2001:db8::2]:4789". */
function vtepText(core: WeftCore, id: number): string {
  const v = core.vtep(id);
  return formatEndpoint(v.raw, v.port);
}

/**
 * The worker's side of the data plane: the core and its frame loop, plus what the ops put in it
 * (ports by id, VNIs in order), from which it answers FDB and counter requests.
 */
class WorkerSwitch {
  private readonly ports = new Map<number, Port>();
  /** VNIs in the order they were added, for stats. */
  private readonly vnis = new Set<number>();
  readonly loop: FrameLoop;

  constructor(private readonly core: WeftCore, cfg: StartConfig) {
    core.setVxlanPort(cfg.vxlanPort);
    for (const a of cfg.localAddresses ?? []) core.addLocalAddress(a);
    this.loop = new FrameLoop(core, cfg);
  }

  /** Applies one op to the core and the loop.
   *  @throws {CoreError} with the core's code (E_NOT_FOUND, E_FULL, …), {AddressError}, or
   *  Error for an ESP op on a node without the ESP socket. */
  apply(o: DpOp): void {
    const core = this.core;
    switch (o.op) {
      case "vni.add":
        if (!core.hasVni(o.vni)) {
          core.addVni(o.vni, {
            mtu: o.mtu,
            ageing: o.ageing,
            learnMax: o.learnMax,
            learning: true,
            suppress: o.suppress ?? true,
          });
        }
        this.vnis.add(o.vni);
        if (o.encrypted) {
          if (!this.loop.esp) throw new Error(`VNI ${o.vni} is encrypted but this node has no ESP socket`);
          this.loop.esp.encrypt(o.vni);
        }
        break;
      case "vni.remove":
        for (const p of [...this.ports.values()]) {
          if (p.vni === o.vni) this.apply({ op: "port.remove", port: p.id });
        }
        if (core.hasVni(o.vni)) core.removeVni(o.vni);
        this.vnis.delete(o.vni);
        this.loop.esp?.unencrypt(o.vni);
        break;
      case "port.add":
        core.attachPort(o.port, o.vni);
        if (o.mac) core.addStatic(o.vni, o.mac, { port: o.port });
        if (o.mac && o.ip) core.addNeighbour(o.vni, o.ip, o.mac);
        if (o.mac && o.ip6) core.addNeighbour(o.vni, o.ip6, o.mac);
        this.ports.set(o.port, {
          id: o.port,
          name: o.name,
          vni: o.vni,
          ip: o.mac ? o.ip : undefined,
          ip6: o.mac ? o.ip6 : undefined,
        });
        this.loop.setPort(o.port, o.fd);
        break;
      case "port.remove": {
        const p = this.ports.get(o.port);
        if (!p) break;
        if (p.ip) core.removeNeighbour(p.vni, p.ip);
        if (p.ip6) core.removeNeighbour(p.vni, p.ip6);
        core.detachPort(p.id); // also forgets the MACs behind it
        this.ports.delete(o.port);
        this.loop.setPort(o.port, undefined);
        break;
      }
      case "remote.add": {
        const id = core.addVtep(parseIp(o.addr), o.port);
        this.loop.buildPeers();
        core.addStatic(o.vni, o.mac, { vtep: id });
        core.addNeighbour(o.vni, o.ip, o.mac);
        if (o.ip6) core.addNeighbour(o.vni, o.ip6, o.mac);
        break;
      }
      case "remote.remove":
        if (!core.hasVni(o.vni)) break;
        core.removeFdb(o.vni, o.mac);
        core.removeNeighbour(o.vni, o.ip);
        if (o.ip6) core.removeNeighbour(o.vni, o.ip6);
        break;
      case "flood.add":
        core.addFlood(o.vni, core.addVtep(parseIp(o.addr), o.port));
        this.loop.buildPeers();
        break;
      case "esp.out":
        this.espOf(o.op).setOutbound(o.vni, o.spi, Uint8Array.from(o.keymat));
        break;
      case "esp.in":
        this.espOf(o.op).addInbound(o.vni, o.spi, Uint8Array.from(o.keymat));
        break;
      case "esp.in.remove":
        this.loop.esp?.removeInbound(o.spi);
        break;
      case "flood.remove": {
        const id = core.findVtep(parseIp(o.addr));
        if (id >= 0 && core.hasVni(o.vni)) core.forgetVtep(o.vni, id);
        break;
      }
    }
  }

  private espOf(op: string) {
    if (!this.loop.esp) throw new Error(`${op}: this node has no ESP socket`);
    return this.loop.esp;
  }

  /** Applies every op it can; the failures, if any, in one message. */
  applyAll(ops: DpOp[]): string | undefined {
    const errors: string[] = [];
    for (const o of ops) {
      try {
        this.apply(o);
      } catch (e) {
        errors.push(`${o.op}: ${e instanceof Error ? e.message : e}`);
      }
    }
    return errors.length ? errors.join("; ") : undefined;
  }

  /**
   * Finishes the ageing sweep the loop does a slice per second of: the dump alone already hides
   * expired entries, but `used` and the fdb_aged counter would lag it by up to a whole sweep.
   */
  private ageAll(): number {
    const now = this.loop.now();
    this.core.age(now);
    return now;
  }

  /** The FDB after a full ageing sweep, each entry with its TAP name or VTEP endpoint. */
  fdb(): FdbReply {
    const entries = this.core.fdb(this.ageAll()).map((e) => ({
      ...e,
      where: e.vtep !== undefined
        ? vtepText(this.core, e.vtep)
        : `tap ${this.ports.get(e.port!)?.name ?? e.port}`,
    }));
    return { used: this.core.fdbSize, capacity: this.core.fdbCapacity, entries };
  }

  /** Every counter the core and the loop keep (see StatsReply). */
  stats(): StatsReply {
    this.ageAll();
    const vteps = [];
    for (let id = 0; id < this.core.vtepCount; id++) {
      vteps.push({ id, name: vtepText(this.core, id), ...this.core.vtepCounters(id) });
    }
    return {
      vnis: [...this.vnis].map((vni) => ({ vni, counters: this.core.counters(vni) })),
      global: this.core.counters(),
      ports: [...this.ports.values()].map((p) => ({
        id: p.id,
        name: p.name,
        vni: p.vni,
        ...this.core.portCounters(p.id),
      })),
      vteps,
      io: this.loop.io,
      fdb: { used: this.core.fdbSize, capacity: this.core.fdbCapacity },
      esp: this.loop.esp?.stats(),
      espNode: this.loop.esp?.nodeCounters(),
    };
  }
}

// ── messages ────────────────────────────────────────────────────────────────────────────────

const inbox: ToWorker[] = [];
let wakeInbox: (() => void) | undefined;
const post = (m: FromWorker) => self.postMessage(m);

self.onmessage = (e: MessageEvent<ToWorker>) => {
  inbox.push(e.data);
  wakeInbox?.();
};

function nextMessage(): Promise<ToWorker> {
  if (inbox.length) return Promise.resolve(inbox.shift()!);
  return new Promise((resolve) => (wakeInbox = () => {
    wakeInbox = undefined;
    resolve(inbox.shift()!);
  }));
}

async function run(): Promise<void> {
  const first = await nextMessage();
  if (first.type !== "start") throw new Error(`expected start, got ${first.type}`);
  const cfg = first.config;
  // Super-frames need 64 KiB slots and an arena to cut them in; UDP GRO buffers need the slots.
  const offloads = cfg.vnetHdr || cfg.udpGro ? OFFLOAD_CONFIG : {};
  const core = await loadCore({ burst: BURST, slots: BURST, txEntries: TX_MAX, fdbBits: 16, ...offloads });
  // Merged super-frames can only go to TAPs that take a virtio_net_hdr; a pcap wants the segments
  // as they crossed the wire, so it keeps them apart.
  core.setCoalescing(cfg.vnetHdr === true && cfg.pcapFd === undefined);
  const dp = new WorkerSwitch(core, cfg);
  post({ type: "ready" });
  for (;;) {
    if (!dp.loop.poll()) continue;
    // Only now yield to the event loop: the main thread said how many messages it posted.
    for (let n = dp.loop.drainWake(); n > 0; n--) {
      const msg = await nextMessage();
      if (msg.type === "stop") {
        post({ type: "stopped" });
        return;
      }
      if (msg.type === "ops") post({ type: "reply", id: msg.id, data: null, error: dp.applyAll(msg.ops) });
      else if (msg.type === "fdb") post({ type: "reply", id: msg.id, data: dp.fdb() });
      else if (msg.type === "stats") post({ type: "reply", id: msg.id, data: dp.stats() });
    }
  }
}

run().catch((e) => post({ type: "fatal", message: e instanceof Error ? e.message : String(e) }));
