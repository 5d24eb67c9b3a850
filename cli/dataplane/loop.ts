// The frame path of the data-plane worker: it blocks in poll() on every TAP, the UDP socket and
// an eventfd the main thread writes to when it has posted a message.
//
// One turn of the loop:
//   poll(TAPs, UDP socket, eventfd)
//   ├─ TAP:  read() each frame straight into a frame slot of linear memory, port = the TAP's id
//   ├─ UDP:  one recvmmsg() whose iovecs point into the next free slots; the sender's sockaddr
//   │        becomes the descriptor's 16-byte peer, port = PORT_UNDERLAY
//   ├─ ONE core.process() for the whole burst
//   ├─ pcap: one writev() of every inner frame the switch accepted (record header + frame bytes)
//   └─ TX:   local entries write() to the port's TAP; remote entries ONE sendmmsg() whose iovecs
//            point at the entry's bytes and whose msg_name is the VTEP's prebuilt sockaddr
// No frame is copied between buffers on the way: kernel → slot → (core edits in place) → kernel.

import {
  PORT_UNDERLAY,
  RX,
  RX_DESC_LEN,
  TARGET_REMOTE,
  TX,
  TX_ENTRY_LEN,
  type WeftCore,
} from "../core/core.ts";
import { DROP_REASONS } from "../core/counters.ts";
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
} from "../sys/libc.ts";
import { EAGAIN, EINTR, ENOBUFS, errnoOf } from "../sys/errno.ts";
import { readSockaddrInto, sockaddrLen, writeSockaddr } from "../phy/sockaddr.ts";
import type { IoCounters, StartConfig } from "./protocol.ts";

/** Frames per burst: DPDK's and OVS's 32 is a latency choice; 64 halves the poll()s at load. */
export const BURST = 64;
/** TX entries per burst: a flood takes one per recipient. */
export const TX_MAX = 4096;
const VXLAN_HEADER_LEN = 8;
const ETH_HEADER_LEN = 14;
const PCAP_RECORD_HEADER_LEN = 16;
/** poll() timeout when idle: the cadence of FDB ageing. */
const IDLE_POLL_MS = 1000;
/** Buckets fdbAge() scans per call, so a big table never stalls a burst. */
const AGE_BUDGET = 4096;
/** How long a full socket send buffer may hold up a burst before its rest is dropped. */
const SEND_WAIT_MS = 20;
/** pollfd entries after the TAPs: the UDP socket, then the eventfd. */
const POLL_EXTRA = 2;
const NO_FD = -1;

// struct msghdr offsets inside struct mmsghdr (x86-64).
const MSG_NAME = 0;
const MSG_NAMELEN = 8;
const MSG_IOV = 16;
const MSG_IOVLEN = 24;
const MSG_LEN = 56;
const IOV_BASE = 0;
const IOV_LEN = 8;
// struct pollfd
const PFD_FD = 0;
const PFD_EVENTS = 4;
const PFD_REVENTS = 6;

/** Verdicts (reason + 1) of frames that never became an inner frame of a VNI: not recorded. */
const NOT_INNER = new Set(
  ["bad_descriptor", "vxlan_runt", "vxlan_bad_flags", "unknown_vni"].map((r) =>
    DROP_REASONS.findIndex(([n]) => n === r) + 1
  ),
);

const c = libc();

type Region = { buf: ArrayBuffer; view: DataView; base: number };

/** A zeroed, off-heap buffer with its address: what the kernel reads and writes. */
function region(bytes: number): Region {
  const buf = new ArrayBuffer(Math.max(bytes, 128)); // > 64 B: V8 keeps small buffers on-heap
  return { buf, view: new DataView(buf), base: addressOf(new Uint8Array(buf)) };
}

/** Stores a 64-bit pointer without a BigInt: user addresses fit in 2^53. */
function setPtr(v: DataView, off: number, addr: number): void {
  v.setUint32(off, addr >>> 0, true);
  v.setUint32(off + 4, Math.floor(addr / 0x100000000), true);
}

export class FrameLoop {
  private readonly core: WeftCore;
  private readonly cfg: StartConfig;
  private readonly mem: DataView;
  private readonly memBase: number;
  /** TAP fd by port id (NO_FD where none): where local TX entries go. */
  private readonly portFd: number[] = [];
  /** Port ids in pollfd order. */
  private pollIds: number[] = [];
  private nfds = POLL_EXTRA;
  private pfd: Region;
  /** eventfd counter, read as a u64. */
  private readonly wakeBuf = region(8);
  private readonly slotPtr: number[] = [];
  private readonly slotCap: number;
  // recvmmsg: one mmsghdr, iovec and sockaddr per slot, pointing at that slot.
  private readonly rxVec = region(BURST * MMSGHDR_LEN);
  private readonly rxIov = region(BURST * IOVEC_LEN);
  private readonly rxNames = region(BURST * SOCKADDR_IN6_LEN);
  // sendmmsg: one mmsghdr + iovec per TX entry; msg_name points into `peers`.
  private readonly txVec = region(TX_MAX * MMSGHDR_LEN);
  private readonly txIov = region(TX_MAX * IOVEC_LEN);
  private readonly peers: Region;
  private readonly saLen: number;
  private peersBuilt = 0;
  // pcap: record headers, and iovecs alternating header / frame.
  private readonly pcapHdr = region(BURST * PCAP_RECORD_HEADER_LEN);
  private readonly pcapIov = region(2 * BURST * IOVEC_LEN);
  private readonly waitPfd = region(POLLFD_LEN);
  private readonly origin = performance.now();
  private lastAge = 0;
  readonly io: IoCounters = {
    bursts: 0,
    udp_send_errors: 0,
    udp_send_dropped: 0,
    tap_write_errors: 0,
    pcap_errors: 0,
    pcap_records: 0,
  };

  constructor(core: WeftCore, cfg: StartConfig) {
    this.core = core;
    this.cfg = cfg;
    this.mem = core.view;
    this.memBase = addressOf(core.bytes);
    this.slotCap = core.slotCapacity;
    this.saLen = sockaddrLen(cfg.family);
    this.peers = region(core.config.maxVteps * SOCKADDR_IN6_LEN);
    this.pfd = this.buildPoll();
    this.waitPfd.view.setInt32(PFD_FD, cfg.udpFd, true);
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
    for (let i = 0; i < BURST; i++) {
      setPtr(this.pcapIov.view, 2 * i * IOVEC_LEN + IOV_BASE, this.pcapHdr.base + i * PCAP_RECORD_HEADER_LEN);
      setPtr(this.pcapIov.view, 2 * i * IOVEC_LEN + IOV_LEN, PCAP_RECORD_HEADER_LEN);
    }
  }

  /** Seconds on a monotonic clock, as the core stamps FDB entries. */
  now(): number {
    return Math.floor((performance.now() - this.origin) / 1000) + 1;
  }

  /** Starts (fd) or stops (undefined) reading and writing port `id`'s TAP. */
  setPort(id: number, fd: number | undefined): void {
    while (this.portFd.length <= id) this.portFd.push(NO_FD);
    this.portFd[id] = fd ?? NO_FD;
    this.pfd = this.buildPoll();
  }

  /** pollfd: the TAPs, then the UDP socket, then the eventfd. Rebuilt only when ports change. */
  private buildPoll(): Region {
    this.pollIds = [];
    this.portFd.forEach((fd, id) => fd !== NO_FD && this.pollIds.push(id));
    this.nfds = this.pollIds.length + POLL_EXTRA;
    const pfd = region(this.nfds * POLLFD_LEN);
    [...this.pollIds.map((id) => this.portFd[id]), this.cfg.udpFd, this.cfg.wakeFd].forEach((fd, i) => {
      pfd.view.setInt32(i * POLLFD_LEN + PFD_FD, fd, true);
      pfd.view.setInt16(i * POLLFD_LEN + PFD_EVENTS, POLLIN, true);
    });
    return pfd;
  }

  /** Sockaddrs for VTEPs the core knows but we have not prepared (configured, or learned). */
  buildPeers(): void {
    const n = this.core.vtepCount;
    for (let id = this.peersBuilt; id < n; id++) {
      const v = this.core.vtep(id);
      writeSockaddr(this.peers.view, id * SOCKADDR_IN6_LEN, v.raw, v.port, this.cfg.family);
    }
    this.peersBuilt = n;
  }

  /** Blocks until a fd is ready (or the ageing tick); returns true when the eventfd fired. */
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

  /** Messages the main thread announced on the eventfd since the last read. */
  drainWake(): number {
    const n = c.read(this.cfg.wakeFd, this.wakeBuf.base, 8);
    return n === 8 ? this.wakeBuf.view.getUint32(0, true) : 0;
  }

  private revents(i: number): number {
    return this.pfd.view.getInt16(i * POLLFD_LEN + PFD_REVENTS, true);
  }

  /** Fills one burst from the ready fds, switches it, records it, sends it. */
  private burst(now: number): void {
    const taps = this.pollIds.length;
    const udpReady = (this.revents(taps) & (POLLIN | POLLERR)) !== 0;
    let ready = udpReady ? 1 : 0;
    for (let i = 0; i < taps; i++) if (this.revents(i) & POLLIN) ready++;
    if (ready === 0) return;
    // Share the burst among ready sources so a busy TAP cannot starve the tunnel (or TCP's ACKs).
    const quota = Math.max(1, Math.floor(BURST / ready));
    let k = 0;
    for (let i = 0; i < taps; i++) {
      if (!(this.revents(i) & POLLIN)) continue;
      const id = this.pollIds[i];
      const fd = this.portFd[id];
      for (let q = 0; q < quota && k < BURST; q++) {
        const ptr = this.slotPtr[k];
        const n = c.read(fd, this.memBase + ptr, this.slotCap);
        if (n <= 0) break;
        this.core.describe(k++, ptr, n, id);
      }
    }
    if (udpReady && k < BURST) {
      const n = c.recvmmsg(this.cfg.udpFd, this.rxVec.base + k * MMSGHDR_LEN, BURST - k, MSG_DONTWAIT, 0);
      const v = this.rxVec.view;
      for (let j = 0; j < n; j++, k++) {
        const m = k * MMSGHDR_LEN;
        this.core.describe(k, this.slotPtr[k], v.getUint32(m + MSG_LEN, true), PORT_UNDERLAY);
        const d = this.core.rxPtr + k * RX_DESC_LEN;
        const port = readSockaddrInto(this.rxNames.view, k * SOCKADDR_IN6_LEN, this.mem, d + RX.PEER);
        this.mem.setUint16(d + RX.PEER_PORT, port, true);
        v.setUint32(m + MSG_NAMELEN, SOCKADDR_IN6_LEN, true); // the kernel wrote the real length
      }
    }
    if (k === 0) return;
    this.io.bursts++;
    const tx = this.core.process(k, now);
    if (this.cfg.pcapFd !== undefined) this.record(k, this.cfg.pcapFd);
    this.transmit(tx);
  }

  /** Appends every inner frame of the burst the switch took in, as pcap records, in one writev. */
  private record(k: number, fd: number): void {
    const hv = this.pcapHdr.view;
    const iv = this.pcapIov.view;
    const t = Date.now();
    const sec = Math.floor(t / 1000);
    const usec = (t % 1000) * 1000;
    let m = 0;
    for (let i = 0; i < k; i++) {
      if (NOT_INNER.has(this.core.verdict(i))) continue;
      const d = this.core.rxPtr + i * RX_DESC_LEN;
      let ptr = this.mem.getUint32(d + RX.PTR, true);
      let len = this.mem.getUint32(d + RX.LEN, true);
      if (this.mem.getUint16(d + RX.PORT, true) === PORT_UNDERLAY) {
        if (len < VXLAN_HEADER_LEN + ETH_HEADER_LEN) continue;
        ptr += VXLAN_HEADER_LEN;
        len -= VXLAN_HEADER_LEN;
      }
      const h = m * PCAP_RECORD_HEADER_LEN;
      hv.setUint32(h, sec, true);
      hv.setUint32(h + 4, usec, true);
      hv.setUint32(h + 8, len, true);
      hv.setUint32(h + 12, len, true);
      setPtr(iv, (2 * m + 1) * IOVEC_LEN + IOV_BASE, this.memBase + ptr);
      setPtr(iv, (2 * m + 1) * IOVEC_LEN + IOV_LEN, len);
      m++;
    }
    if (m === 0) return;
    if (c.writev(fd, this.pcapIov.base, 2 * m) < 0) this.io.pcap_errors++;
    else this.io.pcap_records += m;
  }

  private transmit(count: number): void {
    const mem = this.mem;
    const txv = this.txVec.view;
    const iov = this.txIov.view;
    let m = 0;
    for (let i = 0; i < count; i++) {
      const e = this.core.txPtr + i * TX_ENTRY_LEN;
      const ptr = mem.getUint32(e + TX.PTR, true);
      const len = mem.getUint32(e + TX.LEN, true);
      const target = mem.getUint32(e + TX.TARGET, true);
      if (target >= TARGET_REMOTE) {
        const vtep = target - TARGET_REMOTE;
        if (vtep >= this.peersBuilt) this.buildPeers(); // a VTEP the core just learned
        setPtr(iov, m * IOVEC_LEN + IOV_BASE, this.memBase + ptr);
        setPtr(iov, m * IOVEC_LEN + IOV_LEN, len);
        setPtr(txv, m * MMSGHDR_LEN + MSG_NAME, this.peers.base + vtep * SOCKADDR_IN6_LEN);
        m++;
      } else {
        const fd = this.portFd[target] ?? NO_FD;
        if (fd === NO_FD || c.write(fd, this.memBase + ptr, len) < 0) this.io.tap_write_errors++;
      }
    }
    if (m > 0) this.sendAll(m);
  }

  /** sendmmsg until all went out; waits briefly for room in the socket buffer, then drops. */
  private sendAll(m: number): void {
    let off = 0;
    while (off < m) {
      const n = c.sendmmsg(
        this.cfg.udpFd,
        this.txVec.base + off * MMSGHDR_LEN,
        Math.min(m - off, UIO_MAXIOV),
        0,
      );
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
      // This datagram failed (no route, unreachable): count it and go on with the next.
      this.io.udp_send_errors++;
      off++;
    }
  }
}
