// The frame path of the data-plane worker: it blocks in poll() on every TAP, the UDP socket and
// an eventfd the main thread writes to when it has posted a message.
//
// One turn of the loop:
//   poll(TAPs, UDP socket, eventfd)
//   ├─ TAP:  read() each frame straight into a frame slot of linear memory, port = the TAP's id;
//   │        one read when the TAP was idle on the last turn, up to its quota when it was not
//   ├─ UDP:  one recvmmsg() whose iovecs point into the next free slots; the sender's sockaddr
//   │        becomes the descriptor's 16-byte peer, port = PORT_UNDERLAY
//   ├─ ONE core.process() for the whole burst
//   ├─ pcap: one writev() of every inner frame the switch accepted (pcap_record.ts BurstRecorder)
//   └─ TX:   local entries write() to the port's TAP; remote entries ONE sendmmsg() per source
//            port used (the inner flow's hash picks the socket, RFC 7348 §5) whose iovecs point
//            at the entry's bytes and whose msg_name is the VTEP's prebuilt sockaddr; a burst
//            of one datagram (a ping, an ACK) skips the batching: one sendto()
// No frame is copied between buffers on the way: kernel → slot → (core edits in place) → kernel.
//
// With offloads (VnetTap in cli/phy/tap.ts, cli/phy/udp_batch.ts) the same turn moves 64 KiB at
// a time: TAP reads return TSO super-frames behind a virtio_net_hdr (RX_VNET_HDR), which the core cuts into MTU-sized
// VXLAN datagrams sent with one UDP_SEGMENT message per super-frame; recvmmsg returns UDP GRO
// buffers (RX gsoSize), whose TCP segments the core merges back into super-frames for the TAP.

import {
  PORT_UNDERLAY,
  RX,
  RX_DESC_LEN,
  TARGET_REMOTE,
  TX,
  TX_ENTRY_LEN,
  TX_HAS_VNET,
  TX_INNER_DF,
} from "../core/abi.ts";
import type { WeftCore } from "../core/core.ts";
import {
  addressOf,
  libc,
  PFD_EVENTS,
  PFD_FD,
  PFD_REVENTS,
  POLLERR,
  POLLFD_LEN,
  POLLIN,
  SOCKADDR_IN6_LEN,
} from "../sys/libc.ts";
import { type Region, region } from "../sys/mem.ts";
import { readSockaddrInto, sockaddrLen, writeSockaddr } from "../phy/sockaddr.ts";
import { type SendCounters, sendCounters, UdpReceiver, UdpSender } from "../phy/udp_batch.ts";
import { VnetTap } from "../phy/tap.ts";
import type { IoCounters, StartConfig } from "./protocol.ts";
import { EspPath } from "./esp_path.ts";
import { BurstRecorder } from "./pcap_record.ts";

/** Frames per burst: DPDK's and OVS's 32 is a latency choice; 64 halves the poll()s at load. */
export const BURST = 64;
/** TX entries per burst: a flood takes one per recipient. */
export const TX_MAX = 4096;
/** poll() timeout when idle: the cadence of FDB ageing. */
const IDLE_POLL_MS = 1000;
/** Buckets fdbAge() scans per call, so a big table never stalls a burst. */
const AGE_BUDGET = 4096;
/** pollfd entries after the TAPs: the UDP socket, then the eventfd. */
const POLL_EXTRA = 2;
const NO_FD = -1;
const VNET = { vnet: true };
const PLAIN = {};

const c = libc();

/**
 * The frame loop of the data-plane worker: one poll() over the TAPs, the underlay socket (and
 * the ESP one), and the main thread's eventfd; each turn reads a burst of at most BURST frames
 * into the core's slots, switches it in one Wasm call (WeftCore.process) and sends the TX
 * entries (at most TX_MAX) with sendmmsg and TAP writes. Runs on the worker's only thread;
 * never throws on a bad frame (counted: the core's drop reasons, IoCounters).
 */
export class FrameLoop {
  private readonly core: WeftCore;
  private readonly cfg: StartConfig;
  private readonly mem: DataView;
  private readonly memBase: number;
  /** memBase as a libc argument: memPtr + BigInt(offset) stays a machine word (cli/sys/libc.ts). */
  private readonly memPtr: bigint;
  /** TAP fd by port id (NO_FD where none): where local TX entries go. */
  private readonly portFd: number[] = [];
  /** Port ids in pollfd order. */
  private pollIds: number[] = [];
  /**
   * By pollfd index: the TAP was ready on the last turn too, so it is under load and a turn
   * drains it up to its quota. A TAP that just woke us gives one read: a lone frame (a ping, a
   * handshake) then costs no read that returns EAGAIN; if more wait, the next poll() says so at
   * once and the turn after that drains.
   */
  private tapBusy: boolean[] = [];
  private nfds = POLL_EXTRA;
  private pfd: Region;
  /** eventfd counter, read as a u64. */
  private readonly wakeBuf = region(8);
  private readonly slotPtr: number[] = [];
  private readonly slotCap: number;
  /** recvmmsg into the slots (with UDP GRO: buffers of several datagrams). */
  private readonly udpIn: UdpReceiver;
  /** sendmmsg of the TX list (with UDP GSO: one message per cut super-frame), one sender per
   *  source port; a TX entry's flow-hash port picks it. */
  private readonly udpOut: UdpSender[];
  /** `df inherit`: each datagram's DF follows its inner packet (TX_INNER_DF). */
  private readonly dfInherit: boolean;
  /** Senders with messages queued in this burst, flushed at its end. */
  private readonly queued: UdpSender[] = [];
  /** What every sender did, added up as it happens. */
  private readonly sent: SendCounters = sendCounters();
  /** TAP I/O with a virtio_net_hdr before every frame, when the TAPs have IFF_VNET_HDR. */
  private readonly vnetTap?: VnetTap;
  /** The header written before plain frames (checksum complete, no GSO). */
  private readonly zeroVnet = region(16);
  private readonly peers: Region;
  private readonly saLen: number;
  private peersBuilt = 0;
  /** Writes each burst's inner frames to the pcap file, when there is one. */
  private readonly recorder?: BurstRecorder;
  /** Seconds since start, + 1, as the main thread keeps them (StartConfig.clock). */
  private readonly clock: Int32Array;
  private lastAge = 0;
  private bursts = 0;
  private tapWriteErrors = 0;
  /** Encrypted networks (cli/dataplane/esp_path.ts): present when the ESP socket is open. */
  readonly esp?: EspPath;

  /** A loop over `core` (created with burst ≥ BURST, txEntries ≥ TX_MAX) and the fds in `cfg`;
   *  TAPs arrive later with setPort(). */
  constructor(core: WeftCore, cfg: StartConfig) {
    this.core = core;
    this.cfg = cfg;
    this.mem = core.view;
    this.memBase = addressOf(core.bytes);
    this.memPtr = BigInt(this.memBase);
    this.slotCap = core.slotCapacity;
    this.saLen = sockaddrLen(cfg.family);
    this.clock = new Int32Array(cfg.clock);
    this.peers = region(core.config.maxVteps * SOCKADDR_IN6_LEN);
    this.pfd = this.buildPoll();
    this.udpIn = new UdpReceiver(cfg.udpFd, BURST);
    const senders = cfg.senderFds?.length ? cfg.senderFds : [cfg.udpFd];
    this.udpOut = senders.map((fd) => new UdpSender(fd, cfg.udpGso ?? false, this.sent, cfg.family));
    this.dfInherit = cfg.df === "inherit";
    if (cfg.vnetHdr) this.vnetTap = new VnetTap();
    if (cfg.espFd !== undefined) {
      this.esp = new EspPath(
        core,
        this.memBase,
        cfg.espFd,
        cfg.espPort!,
        cfg.vxlanPort,
        cfg.family,
        BURST,
        this.sent,
        cfg.espGro ?? false,
        cfg.espGso ?? false,
      );
    }
    for (let i = 0; i < BURST; i++) {
      this.slotPtr.push(core.slotData(i));
      this.udpIn.setBuffer(i, this.memBase + core.slotData(i), this.slotCap);
    }
    if (cfg.pcapFd !== undefined) this.recorder = new BurstRecorder(core, this.memBase, cfg.pcapFd);
  }

  /** Host-side counters since the loop started (bursts, datagrams sent, send and write errors). */
  get io(): IoCounters {
    return {
      bursts: this.bursts,
      udp_datagrams: this.sent.datagrams,
      udp_send_errors: this.sent.errors,
      udp_send_dropped: this.sent.dropped,
      tap_write_errors: this.tapWriteErrors,
      pcap_errors: this.recorder?.errors ?? 0,
      pcap_records: this.recorder?.records ?? 0,
    };
  }

  /** Seconds on a monotonic clock, as the core stamps FDB entries. */
  now(): number {
    return this.clock[0];
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
    this.nfds = this.pollIds.length + POLL_EXTRA + (this.cfg.espFd !== undefined ? 1 : 0);
    this.tapBusy = this.pollIds.map(() => false);
    const pfd = region(this.nfds * POLLFD_LEN);
    const esp = this.cfg.espFd !== undefined ? [this.cfg.espFd] : [];
    [...this.pollIds.map((id) => this.portFd[id]), this.cfg.udpFd, ...esp, this.cfg.wakeFd].forEach(
      (fd, i) => {
        pfd.view.setInt32(i * POLLFD_LEN + PFD_FD, fd, true);
        pfd.view.setInt16(i * POLLFD_LEN + PFD_EVENTS, POLLIN, true);
      },
    );
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
    const r = c.poll(this.pfd.ptr, BigInt(this.nfds), IDLE_POLL_MS);
    const now = this.now();
    if (r > 0) this.burst(now);
    // Ageing once a second, after the burst: its scan of cold FDB buckets never delays a frame.
    if (now !== this.lastAge) {
      this.lastAge = now;
      this.core.age(now, AGE_BUDGET);
    }
    return r > 0 && (this.revents(this.nfds - 1) & POLLIN) !== 0;
  }

  /** Messages the main thread announced on the eventfd since the last read. */
  drainWake(): number {
    const n = c.read(this.cfg.wakeFd, this.wakeBuf.ptr, 8n);
    return n === 8 ? this.wakeBuf.view.getUint32(0, true) : 0;
  }

  private revents(i: number): number {
    return this.pfd.view.getInt16(i * POLLFD_LEN + PFD_REVENTS, true);
  }

  /** Fills one burst from the ready fds, switches it, records it, sends it. */
  private burst(now: number): void {
    const taps = this.pollIds.length;
    const udpReady = (this.revents(taps) & (POLLIN | POLLERR)) !== 0;
    const espReady = this.esp !== undefined && (this.revents(taps + 1) & (POLLIN | POLLERR)) !== 0;
    let ready = (udpReady ? 1 : 0) + (espReady ? 1 : 0);
    for (let i = 0; i < taps; i++) if (this.revents(i) & POLLIN) ready++;
    if (ready === 0) return;
    // Share the burst among ready sources so a busy TAP cannot starve the tunnel (or TCP's ACKs).
    const quota = Math.max(1, Math.floor(BURST / ready));
    let k = 0;
    for (let i = 0; i < taps; i++) {
      const readable = (this.revents(i) & POLLIN) !== 0;
      const reads = this.tapBusy[i] ? quota : 1;
      this.tapBusy[i] = readable;
      if (!readable) continue;
      const id = this.pollIds[i];
      const fd = this.portFd[id];
      const vnet = this.vnetTap !== undefined;
      for (let q = 0; q < reads && k < BURST; q++) {
        const ptr = this.slotPtr[k];
        const n = vnet
          ? this.vnetTap!.read(fd, this.memPtr + BigInt(ptr), this.slotCap)
          : c.read(fd, this.memPtr + BigInt(ptr), BigInt(this.slotCap));
        if (n <= 0) break;
        this.core.describe(k++, ptr, n, id, undefined, 0, vnet ? VNET : PLAIN);
      }
    }
    if (udpReady && k < BURST) {
      const n = this.udpIn.receive(k, BURST - k);
      const names = this.udpIn.names.view;
      for (let j = 0; j < n; j++, k++) {
        // The sender's address goes straight into the descriptor (describe() leaves PEER alone).
        const d = this.core.rxPtr + k * RX_DESC_LEN;
        const port = readSockaddrInto(names, this.udpIn.nameOffset(k), this.mem, d + RX.PEER);
        // control() reads the datagram's cmsgs: the UDP GRO stride, and the outer TOS (udpIn.tos).
        const len = this.udpIn.length(k), stride = this.udpIn.control(k);
        // Fail closed: cleartext datagrams for an encrypted VNI are cut out (all of them: empty).
        const kept = this.esp?.filterCleartext(this.mem, this.slotPtr[k], len, stride) ?? len;
        this.core.describe(k, this.slotPtr[k], kept, PORT_UNDERLAY, undefined, port, PLAIN);
        this.mem.setUint16(d + RX.GSO_SIZE, stride, true);
        // The outer ECN the core applies to the inner packet (RFC 6040 decapsulation).
        this.mem.setUint8(d + RX.TOS, this.udpIn.tos);
      }
    }
    if (espReady && k < BURST) k = this.esp!.receive(k, BURST, this.slotPtr);
    if (k === 0) return;
    this.bursts++;
    const tx = this.core.process(k, now);
    this.recorder?.record(k);
    this.transmit(tx);
  }

  /** TX entry `e` (frame at ptr, len) to the TAP of port `target`, behind its virtio_net_hdr if any. */
  private writeLocal(e: number, ptr: number, len: number, target: number): void {
    const fd = this.portFd[target] ?? NO_FD;
    let r = -1;
    if (fd !== NO_FD && this.vnetTap) {
      const hdr = this.mem.getUint16(e + TX.FLAGS, true) & TX_HAS_VNET
        ? this.memBase + e + TX.VNET
        : this.zeroVnet.base;
      r = this.vnetTap.write(fd, hdr, this.memBase + ptr, len);
    } else if (fd !== NO_FD) {
      r = c.write(fd, this.memPtr + BigInt(ptr), BigInt(len));
    }
    if (r < 0) this.tapWriteErrors++;
  }

  private transmit(count: number): void {
    const mem = this.mem;
    const senders = this.udpOut;
    const queued = this.queued;
    for (let i = 0; i < count; i++) {
      const e = this.core.txPtr + i * TX_ENTRY_LEN;
      const ptr = mem.getUint32(e + TX.PTR, true);
      const len = mem.getUint32(e + TX.LEN, true);
      const target = mem.getUint32(e + TX.TARGET, true);
      if (target >= TARGET_REMOTE) {
        const vtep = target - TARGET_REMOTE;
        if (vtep >= this.peersBuilt) this.buildPeers(); // a VTEP the core just learned
        const gso = mem.getUint16(e + TX.GSO_SIZE, true);
        if (this.esp?.send(mem, ptr, len, gso, mem.getUint16(e + TX.SRC_PORT, true), vtep)) continue;
        const out = senders[mem.getUint16(e + TX.SRC_PORT, true) % senders.length];
        const peerOff = vtep * SOCKADDR_IN6_LEN; // the VTEP's sockaddr in this.peers
        // RFC 6040: the outer ECN field the core chose (inner ECN, CE as ECT(0)); 0 for most traffic.
        const tos = mem.getUint8(e + TX.TOS);
        if (this.dfInherit) out.setDf((mem.getUint16(e + TX.FLAGS, true) & TX_INNER_DF) !== 0);
        // A burst that switched to one plain datagram (a ping, an ACK: the frames whose latency
        // counts) skips the batching: after an idle spell every line of code and memory a burst
        // touches is a cache miss.
        if (
          count === 1 &&
          out.sendNow(this.memPtr + BigInt(ptr), len, gso, this.peers.ptr + BigInt(peerOff), this.saLen, tos)
        ) continue;
        if (out.pending === 0) queued.push(out);
        // add() stores the addresses into iovecs and msghdrs (setPtr): numbers there.
        out.add(this.memBase + ptr, len, gso, this.peers.base + peerOff, this.saLen, tos);
        continue;
      }
      this.writeLocal(e, ptr, len, target);
    }
    this.esp?.flush();
    // A sender that filled its batch flushed by itself, and may be listed twice: flush is a no-op then.
    if (queued.length === 0) return;
    for (let i = 0; i < queued.length; i++) if (queued[i].pending > 0) queued[i].flush();
    // Not on a lone frame's path: a length store is a call into V8's runtime, not an inline store.
    queued.length = 0;
  }
}
