// The daemon's data-plane loop, in its own Worker (the Wasm core is single-threaded). The frame
// path is the vtep's (cli/dataplane/worker.ts): poll() on the TAPs, the UDP socket and an
// eventfd; TAP reads and one recvmmsg() straight into frame slots; one core.process() per burst;
// TAP writes and one sendmmsg() out. What differs: VNIs, ports and remote endpoints change at run
// time through "ops" messages, so the pollfd array is rebuilt when the ports change.

/// <reference lib="deno.worker" />

import { loadCore } from "../../core/load.ts";
import { PORT_UNDERLAY, RX_DESC_LEN, TARGET_REMOTE, TX_ENTRY_LEN, type WeftCore } from "../../core/core.ts";
import { parseIp } from "../../core/addr.ts";
import {
  addressOf,
  IOVEC_LEN,
  libc,
  MMSGHDR_LEN,
  MSG_DONTWAIT,
  POLLERR,
  POLLFD_LEN,
  POLLIN,
  POLLOUT,
  SOCKADDR_IN6_LEN,
  UIO_MAXIOV,
} from "../../sys/libc.ts";
import { EAGAIN, EINTR, ENOBUFS, errnoOf } from "../../sys/errno.ts";
import { readSockaddrInto, sockaddrLen, writeSockaddr } from "../../phy/sockaddr.ts";
import type { DpOp, FromDpWorker, ToDpWorker } from "./dp_protocol.ts";

const BURST = 64;
const TX_MAX = 4096;
const MAX_PORTS = 256;
const IDLE_POLL_MS = 1000;
const AGE_BUDGET = 4096;
const SEND_WAIT_MS = 20;

const MSG_NAME = 0, MSG_NAMELEN = 8, MSG_IOV = 16, MSG_IOVLEN = 24, MSG_LEN = 56;
const IOV_BASE = 0, IOV_LEN = 8;
const PFD_FD = 0, PFD_EVENTS = 4, PFD_REVENTS = 6;

const c = libc();

function region(bytes: number) {
  const buf = new ArrayBuffer(Math.max(bytes, 128));
  return { buf, view: new DataView(buf), base: addressOf(new Uint8Array(buf)) };
}

function setPtr(v: DataView, off: number, addr: number): void {
  v.setUint32(off, addr >>> 0, true);
  v.setUint32(off + 4, Math.floor(addr / 0x100000000), true);
}

interface Port {
  id: number;
  fd: number;
  name: string;
  vni: number;
  mac: string;
  ip: string;
}

class Loop {
  private readonly mem: DataView;
  private readonly memBase: number;
  private readonly slotPtr: number[] = [];
  private readonly slotCap: number;
  private readonly ports = new Map<number, Port>();
  private pollPorts: Port[] = [];
  private pfd = region(POLLFD_LEN * 2);
  private nfds = 2;
  private readonly wakeBuf = region(8);
  private readonly rxVec = region(BURST * MMSGHDR_LEN);
  private readonly rxIov = region(BURST * IOVEC_LEN);
  private readonly rxNames = region(BURST * SOCKADDR_IN6_LEN);
  private readonly txVec = region(TX_MAX * MMSGHDR_LEN);
  private readonly txIov = region(TX_MAX * IOVEC_LEN);
  private readonly peers: ReturnType<typeof region>;
  private readonly saLen: number;
  private peersBuilt = 0;
  private readonly waitPfd = region(POLLFD_LEN);
  private readonly origin = performance.now();
  private lastAge = 0;
  readonly io = { bursts: 0, udp_send_errors: 0, udp_send_dropped: 0, tap_write_errors: 0 };

  constructor(
    readonly core: WeftCore,
    readonly udpFd: number,
    readonly family: number,
    readonly wakeFd: number,
  ) {
    this.mem = core.view;
    this.memBase = addressOf(core.bytes);
    this.slotCap = core.slotCapacity;
    this.saLen = sockaddrLen(family);
    this.peers = region(core.config.maxVteps * SOCKADDR_IN6_LEN);
    this.waitPfd.view.setInt32(PFD_FD, udpFd, true);
    this.waitPfd.view.setInt16(PFD_EVENTS, POLLOUT, true);
    for (let i = 0; i < BURST; i++) {
      this.slotPtr.push(core.slotData(i));
      const m = i * MMSGHDR_LEN;
      setPtr(this.rxIov.view, i * IOVEC_LEN + IOV_BASE, this.memBase + core.slotData(i));
      setPtr(this.rxIov.view, i * IOVEC_LEN + IOV_LEN, this.slotCap);
      setPtr(this.rxVec.view, m + MSG_NAME, this.rxNames.base + i * SOCKADDR_IN6_LEN);
      this.rxVec.view.setUint32(m + MSG_NAMELEN, SOCKADDR_IN6_LEN, true);
      setPtr(this.rxVec.view, m + MSG_IOV, this.rxIov.base + i * IOVEC_LEN);
      setPtr(this.rxVec.view, m + MSG_IOVLEN, 1);
    }
    for (let i = 0; i < TX_MAX; i++) {
      const m = i * MMSGHDR_LEN;
      setPtr(this.txVec.view, m + MSG_IOV, this.txIov.base + i * IOVEC_LEN);
      setPtr(this.txVec.view, m + MSG_IOVLEN, 1);
      this.txVec.view.setUint32(m + MSG_NAMELEN, this.saLen, true);
    }
    this.rebuildPoll();
  }

  now(): number {
    return Math.floor((performance.now() - this.origin) / 1000) + 1;
  }

  /** pollfd: the TAPs, then the UDP socket, then the eventfd. */
  private rebuildPoll(): void {
    this.pollPorts = [...this.ports.values()];
    this.nfds = this.pollPorts.length + 2;
    this.pfd = region(this.nfds * POLLFD_LEN);
    [...this.pollPorts.map((p) => p.fd), this.udpFd, this.wakeFd].forEach((fd, i) => {
      this.pfd.view.setInt32(i * POLLFD_LEN + PFD_FD, fd, true);
      this.pfd.view.setInt16(i * POLLFD_LEN + PFD_EVENTS, POLLIN, true);
    });
  }

  private buildPeers(): void {
    const n = this.core.vtepCount;
    for (let id = this.peersBuilt; id < n; id++) {
      const v = this.core.vtep(id);
      writeSockaddr(this.peers.view, id * SOCKADDR_IN6_LEN, v.raw, v.port, this.family);
    }
    this.peersBuilt = n;
  }

  apply(o: DpOp): void {
    const core = this.core;
    switch (o.op) {
      case "vni.add":
        if (!core.hasVni(o.vni)) core.addVni(o.vni, { mtu: o.mtu, learning: true, suppress: true });
        break;
      case "vni.remove":
        for (const p of [...this.ports.values()]) {
          if (p.vni === o.vni) this.apply({ op: "port.remove", port: p.id });
        }
        if (core.hasVni(o.vni)) core.removeVni(o.vni);
        break;
      case "port.add":
        if (o.port >= MAX_PORTS) throw new Error(`port ${o.port} out of range`);
        core.attachPort(o.port, o.vni);
        core.addStatic(o.vni, o.mac, { port: o.port });
        core.addNeighbour(o.vni, o.ip, o.mac);
        this.ports.set(o.port, { id: o.port, fd: o.fd, name: o.name, vni: o.vni, mac: o.mac, ip: o.ip });
        this.rebuildPoll();
        break;
      case "port.remove": {
        const p = this.ports.get(o.port);
        if (!p) break;
        core.removeNeighbour(p.vni, p.ip);
        try {
          core.detachPort(p.id);
        } catch { /* already */ }
        this.ports.delete(o.port);
        this.rebuildPoll();
        break;
      }
      case "remote.add": {
        const id = core.addVtep(parseIp(o.addr), o.port);
        this.buildPeers();
        core.addStatic(o.vni, o.mac, { vtep: id });
        core.addNeighbour(o.vni, o.ip, o.mac);
        break;
      }
      case "remote.remove":
        if (!core.hasVni(o.vni)) break;
        core.removeFdb(o.vni, o.mac);
        core.removeNeighbour(o.vni, o.ip);
        break;
      case "flood.add": {
        const id = core.addVtep(parseIp(o.addr), o.port);
        this.buildPeers();
        core.addFlood(o.vni, id);
        break;
      }
      case "flood.remove": {
        const id = core.findVtep(parseIp(o.addr));
        if (id >= 0 && core.hasVni(o.vni)) core.forgetVtep(o.vni, id);
        break;
      }
    }
  }

  poll(): boolean {
    const r = c.poll(this.pfd.base, BigInt(this.nfds), IDLE_POLL_MS);
    const now = this.now();
    if (now !== this.lastAge) {
      this.lastAge = now;
      this.core.age(now, AGE_BUDGET);
    }
    if (r <= 0) return false;
    this.burst(now);
    return (this.revents(this.nfds - 1) & POLLIN) !== 0;
  }

  drainWake(): number {
    const n = c.read(this.wakeFd, this.wakeBuf.base, 8);
    return n === 8 ? this.wakeBuf.view.getUint32(0, true) : 0;
  }

  private revents(i: number): number {
    return this.pfd.view.getInt16(i * POLLFD_LEN + PFD_REVENTS, true);
  }

  private describe(k: number, ptr: number, len: number, port: number): void {
    const d = this.core.rxPtr + k * RX_DESC_LEN;
    this.mem.setUint32(d, ptr, true);
    this.mem.setUint32(d + 4, len, true);
    this.mem.setUint16(d + 8, port, true);
    this.mem.setUint16(d + 10, 0, true);
    this.mem.setUint16(d + 12, 0, true);
  }

  private burst(now: number): void {
    const taps = this.pollPorts.length;
    const udpReady = (this.revents(taps) & (POLLIN | POLLERR)) !== 0;
    let ready = udpReady ? 1 : 0;
    for (let i = 0; i < taps; i++) if (this.revents(i) & POLLIN) ready++;
    if (ready === 0) return;
    const quota = Math.max(1, Math.floor(BURST / ready));
    let k = 0;
    for (let i = 0; i < taps; i++) {
      if (!(this.revents(i) & POLLIN)) continue;
      const p = this.pollPorts[i];
      for (let q = 0; q < quota && k < BURST; q++) {
        const ptr = this.slotPtr[k];
        const n = c.read(p.fd, this.memBase + ptr, this.slotCap);
        if (n <= 0) break;
        this.describe(k++, ptr, n, p.id);
      }
    }
    if (udpReady && k < BURST) {
      const n = c.recvmmsg(this.udpFd, this.rxVec.base + k * MMSGHDR_LEN, BURST - k, MSG_DONTWAIT, 0);
      const v = this.rxVec.view;
      for (let j = 0; j < n; j++, k++) {
        const m = k * MMSGHDR_LEN;
        this.describe(k, this.slotPtr[k], v.getUint32(m + MSG_LEN, true), PORT_UNDERLAY);
        const d = this.core.rxPtr + k * RX_DESC_LEN;
        const port = readSockaddrInto(this.rxNames.view, k * SOCKADDR_IN6_LEN, this.mem, d + 16);
        this.mem.setUint16(d + 10, port, true);
        v.setUint32(m + MSG_NAMELEN, SOCKADDR_IN6_LEN, true);
      }
    }
    if (k === 0) return;
    this.io.bursts++;
    this.transmit(this.core.process(k, now));
  }

  private transmit(count: number): void {
    const mem = this.mem, txv = this.txVec.view, iov = this.txIov.view;
    let m = 0;
    for (let i = 0; i < count; i++) {
      const e = this.core.txPtr + i * TX_ENTRY_LEN;
      const ptr = mem.getUint32(e, true);
      const len = mem.getUint32(e + 4, true);
      const target = mem.getUint32(e + 8, true);
      if (target >= TARGET_REMOTE) {
        const vtep = target - TARGET_REMOTE;
        if (vtep >= this.peersBuilt) this.buildPeers();
        setPtr(iov, m * IOVEC_LEN + IOV_BASE, this.memBase + ptr);
        setPtr(iov, m * IOVEC_LEN + IOV_LEN, len);
        setPtr(txv, m * MMSGHDR_LEN + MSG_NAME, this.peers.base + vtep * SOCKADDR_IN6_LEN);
        m++;
      } else {
        const p = this.ports.get(target);
        if (!p || c.write(p.fd, this.memBase + ptr, len) < 0) this.io.tap_write_errors++;
      }
    }
    if (m > 0) this.sendAll(m);
  }

  private sendAll(m: number): void {
    let off = 0;
    while (off < m) {
      const n = c.sendmmsg(this.udpFd, this.txVec.base + off * MMSGHDR_LEN, Math.min(m - off, UIO_MAXIOV), 0);
      if (n > 0) {
        off += n;
        continue;
      }
      const err = errnoOf();
      if (err === EINTR) continue;
      if ((err === EAGAIN || err === ENOBUFS) && c.poll(this.waitPfd.base, 1n, SEND_WAIT_MS) > 0) continue;
      if (err === EAGAIN || err === ENOBUFS) {
        this.io.udp_send_dropped += m - off;
        return;
      }
      this.io.udp_send_errors++;
      off++;
    }
  }

  fdb() {
    const entries = this.core.fdb(this.now()).map((e) => {
      let where: string;
      if (e.vtep !== undefined) {
        const v = this.core.vtep(e.vtep);
        where = `${v.address}:${v.port}`;
      } else where = `tap ${this.ports.get(e.port!)?.name ?? e.port}`;
      return { ...e, where };
    });
    return { used: this.core.fdbSize, capacity: this.core.fdbCapacity, entries };
  }

  stats() {
    const vnis = [...new Set([...this.ports.values()].map((p) => p.vni))];
    const vteps = [];
    for (let id = 0; id < this.core.vtepCount; id++) {
      const v = this.core.vtep(id);
      vteps.push({ id, name: `${v.address}:${v.port}`, ...this.core.vtepCounters(id) });
    }
    return {
      vnis: vnis.filter((v) => this.core.hasVni(v)).map((vni) => ({
        vni,
        counters: this.core.counters(vni),
      })),
      global: this.core.counters(),
      ports: [...this.ports.values()].map((p) => ({
        id: p.id,
        name: p.name,
        vni: p.vni,
        ...this.core.portCounters(p.id),
      })),
      vteps,
      io: { ...this.io },
      fdb: { used: this.core.fdbSize, capacity: this.core.fdbCapacity },
    };
  }
}

const inbox: ToDpWorker[] = [];
let wakeInbox: (() => void) | undefined;
const post = (m: FromDpWorker) => self.postMessage(m);
self.onmessage = (e: MessageEvent<ToDpWorker>) => {
  inbox.push(e.data);
  wakeInbox?.();
};
function nextMessage(): Promise<ToDpWorker> {
  if (inbox.length) return Promise.resolve(inbox.shift()!);
  return new Promise((resolve) => (wakeInbox = () => {
    wakeInbox = undefined;
    resolve(inbox.shift()!);
  }));
}

async function run(): Promise<void> {
  const first = await nextMessage();
  if (first.type !== "start") throw new Error(`expected start, got ${first.type}`);
  const core = await loadCore({
    burst: BURST,
    slots: BURST,
    txEntries: TX_MAX,
    maxPorts: MAX_PORTS,
    fdbBits: 16,
  });
  core.setVxlanPort(first.vxlanPort);
  const loop = new Loop(core, first.udpFd, first.family, first.wakeFd);
  post({ type: "ready" });
  for (;;) {
    if (!loop.poll()) continue;
    for (let n = loop.drainWake(); n > 0; n--) {
      const msg = await nextMessage();
      if (msg.type === "stop") {
        post({ type: "stopped" });
        return;
      }
      if (msg.type === "ops") {
        let error: string | undefined;
        for (const o of msg.ops) {
          try {
            loop.apply(o);
          } catch (e) {
            error = `${o.op}: ${e instanceof Error ? e.message : e}`;
          }
        }
        post({ type: "reply", id: msg.id, data: null, error });
      } else if (msg.type === "fdb") post({ type: "reply", id: msg.id, data: loop.fdb() });
      else if (msg.type === "stats") post({ type: "reply", id: msg.id, data: loop.stats() });
    }
  }
}

run().catch((e) => post({ type: "fatal", message: e instanceof Error ? e.message : String(e) }));
