// Batched UDP I/O for the underlay socket: cross into the kernel once per burst, and once per
// 64 KiB of a flow rather than per datagram (what wireguard-go does with UDP GSO/GRO).
//  - sendmmsg: one syscall sends a burst of messages, each its own destination and cmsgs.
//  - UDP GSO: one message with a UDP_SEGMENT cmsg sends a buffer of equal datagrams
//    (udp_send_skb); sendmmsg parses control data per message, so a burst stays one syscall.
//  - UDP GRO: with UDP_GRO set, one recvmsg returns datagrams of one flow back to back and a
//    UDP_GRO cmsg with their size (udp_cmsg_recv); recvmmsg takes a burst of them.
// Everything is laid out at setup; the per-burst calls only store numbers into prebuilt
// mmsghdr/iovec/cmsg regions, as the data-plane worker does.

import { EAGAIN, EINTR, EINVAL, EIO, EMSGSIZE, ENOBUFS, errnoOf } from "../sys/errno.ts";
import { getPtr, int, type Region, region, setPtr } from "../sys/mem.ts";
import {
  AF_INET,
  CMSG_DATA,
  CMSG_LEN,
  CMSG_LEVEL,
  CMSG_SPACE_8,
  CMSG_TYPE,
  CMSGHDR_LEN,
  IOV_BASE,
  IOV_LEN,
  IOVEC_LEN,
  IP_MTU_DISCOVER,
  IP_PMTUDISC_DO,
  IP_PMTUDISC_DONT,
  IP_TOS,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_TCLASS,
  libc,
  MMSGHDR_LEN,
  MSG_CONTROL,
  MSG_CONTROLLEN,
  MSG_DONTWAIT,
  MSG_FLAGS,
  MSG_IOV,
  MSG_IOVLEN,
  MSG_LEN,
  MSG_NAME,
  MSG_NAMELEN,
  MSG_TRUNC,
  PFD_EVENTS,
  PFD_FD,
  POLLFD_LEN,
  POLLOUT,
  SOCKADDR_IN6_LEN,
  SOL_UDP,
  UDP_GRO,
  UDP_SEGMENT,
  UIO_MAXIOV,
} from "../sys/libc.ts";

/** Room for the UDP_GRO cmsg and the IP_TOS / IPV6_TCLASS one (IP_RECVTOS, IPV6_RECVTCLASS). */
const RX_CONTROL_LEN = 2 * CMSG_SPACE_8;
/** Per message sent: [IP_TOS or IPV6_TCLASS cmsg][UDP_SEGMENT cmsg], either or both used. */
const TX_CONTROL_LEN = 2 * CMSG_SPACE_8;
const TX_TOS_CMSG = 0;
const TX_GSO_CMSG = CMSG_SPACE_8;
/** Milliseconds a full send buffer may hold up a burst before its rest is dropped. */
const SEND_WAIT_MS = 20;

/** Loaded once: the senders and receivers call it per burst. */
const c = libc();

/**
 * Whether this kernel takes UDP_SEGMENT on this socket. A socket-wide size of 0 means "none", so
 * the probe changes nothing; sizes then travel per message as a cmsg.
 */
export function enableUdpGso(fd: number): boolean {
  // udp_lib_setsockopt() wants an int even for this u16 option.
  return c.setsockopt(fd, SOL_UDP, UDP_SEGMENT, int(0), 4) === 0;
}

/** Asks for coalesced reads (udp_gro_receive); false when the kernel does not know UDP_GRO. */
export function enableUdpGro(fd: number): boolean {
  return c.setsockopt(fd, SOL_UDP, UDP_GRO, int(1), 4) === 0;
}

/** What senders did since their counters were made (sendCounters); all counts, never reset. */
export interface SendCounters {
  /** Datagrams the kernel took (each GSO segment counts). */
  datagrams: number;
  /** sendmmsg/sendto calls made. */
  syscalls: number;
  /** Datagrams dropped because the send buffer stayed full. */
  dropped: number;
  /** Datagrams the kernel refused (no route, unreachable, too big). */
  errors: number;
  /** GSO messages the kernel refused and that went out as plain datagrams instead. */
  gsoFallbacks: number;
}

/** Zeroed counters, for one sender or for several that share them. */
export function sendCounters(): SendCounters {
  return { datagrams: 0, syscalls: 0, dropped: 0, errors: 0, gsoFallbacks: 0 };
}

/**
 * Batches TX entries into sendmmsg. An entry with a gsoSize (back-to-back datagrams, all that long
 * but the last) becomes one message with its own UDP_SEGMENT cmsg when the socket does GSO, or one
 * message per datagram pointing into the same bytes when it does not. `flush` sends the batch in
 * one sendmmsg (UIO_MAXIOV messages at most); `add` flushes by itself when the batch is full.
 */
export class UdpSender {
  private readonly vec: Region;
  private readonly iov: Region;
  private readonly ctl: Region;
  /** Datagrams per queued message (1 unless it carries UDP_SEGMENT). */
  private readonly segs: Uint16Array;
  /** Outer TOS / traffic class per queued message (0: none given, the socket's default). */
  private readonly tos: Uint8Array;
  /** Whether the socket sets DF now (IPv4; `df inherit` switches it per datagram). */
  private df = false;
  private readonly capacity = UIO_MAXIOV;
  private readonly waitPfd = region(POLLFD_LEN);
  private queued = 0;

  /**
   * A sender on socket `fd`; `gso`: the socket takes UDP_SEGMENT (UdpSocket.gso). `counters` may
   * be shared by several senders (the frame loop's source-port sockets), so that totals need no
   * loop over them per burst. `family` (AF_INET or AF_INET6, default AF_INET) picks the TOS
   * control message: IP_TOS or IPV6_TCLASS, both an int (ip_cmsg_send() takes an int or a byte,
   * ip6_datagram_send_ctl() only an int). Lays out UIO_MAXIOV messages once.
   */
  constructor(
    readonly fd: number,
    readonly gso: boolean,
    readonly counters: SendCounters = sendCounters(),
    readonly family = AF_INET,
  ) {
    this.vec = region(this.capacity * MMSGHDR_LEN);
    this.iov = region(this.capacity * IOVEC_LEN);
    this.ctl = region(this.capacity * TX_CONTROL_LEN);
    this.segs = new Uint16Array(this.capacity);
    this.tos = new Uint8Array(this.capacity);
    const v6 = family !== AF_INET;
    for (let i = 0; i < this.capacity; i++) {
      const m = i * MMSGHDR_LEN, k = i * TX_CONTROL_LEN;
      setPtr(this.vec.view, m + MSG_IOV, this.iov.base + i * IOVEC_LEN);
      setPtr(this.vec.view, m + MSG_IOVLEN, 1);
      setPtr(this.ctl.view, k + TX_TOS_CMSG + CMSG_LEN, CMSGHDR_LEN + 4);
      this.ctl.view.setInt32(k + TX_TOS_CMSG + CMSG_LEVEL, v6 ? IPPROTO_IPV6 : IPPROTO_IP, true);
      this.ctl.view.setInt32(k + TX_TOS_CMSG + CMSG_TYPE, v6 ? IPV6_TCLASS : IP_TOS, true);
      // cmsg_len is CMSG_LEN(sizeof(u16)): udp_cmsg_send() checks it exactly.
      setPtr(this.ctl.view, k + TX_GSO_CMSG + CMSG_LEN, CMSGHDR_LEN + 2);
      this.ctl.view.setInt32(k + TX_GSO_CMSG + CMSG_LEVEL, SOL_UDP, true);
      this.ctl.view.setInt32(k + TX_GSO_CMSG + CMSG_TYPE, UDP_SEGMENT, true);
    }
    this.waitPfd.view.setInt32(PFD_FD, fd, true);
    this.waitPfd.view.setInt16(PFD_EVENTS, POLLOUT, true);
  }

  /** Messages queued and not yet sent (≤ UIO_MAXIOV). */
  get pending(): number {
    return this.queued;
  }

  /**
   * DF on or off for what this socket sends next (IPv4; `df inherit`, where each datagram's inner
   * packet decides). Linux has no per-datagram DF control message, so the socket option changes,
   * after the messages queued under the old value are sent. No call when it already is so.
   */
  setDf(df: boolean): void {
    if (df === this.df || this.family !== AF_INET) return;
    if (this.queued > 0) this.flush();
    c.setsockopt(this.fd, IPPROTO_IP, IP_MTU_DISCOVER, int(df ? IP_PMTUDISC_DO : IP_PMTUDISC_DONT), 4);
    this.df = df;
  }

  /**
   * Queues `len` bytes at address `addr` for the sockaddr at address `name` (`nameLen` bytes).
   * With `gsoSize` and len > gsoSize: datagrams of gsoSize bytes back to back, the last one
   * shorter or equal. `tos`: the outer TOS / traffic class, 0 for the socket's default.
   */
  add(addr: number, len: number, gsoSize: number, name: number, nameLen: number, tos = 0): void {
    if (gsoSize === 0 || len <= gsoSize) {
      this.message(addr, len, name, nameLen, 0, 1, tos);
    } else if (this.gso) {
      this.message(addr, len, name, nameLen, gsoSize, Math.ceil(len / gsoSize), tos);
    } else {
      for (let off = 0; off < len; off += gsoSize) {
        this.message(addr + off, Math.min(gsoSize, len - off), name, nameLen, 0, 1, tos);
      }
    }
  }

  /** `tos`: the outer TOS / traffic class (RFC 6040 ECN from the core's TX entry); 0 sends none. */
  private message(
    addr: number,
    len: number,
    name: number,
    nameLen: number,
    gsoSize: number,
    segs: number,
    tos: number,
  ) {
    if (this.queued === this.capacity) this.flush();
    const i = this.queued++;
    const v = this.vec.view, m = i * MMSGHDR_LEN;
    setPtr(this.iov.view, i * IOVEC_LEN + IOV_BASE, addr);
    setPtr(this.iov.view, i * IOVEC_LEN + IOV_LEN, len);
    setPtr(v, m + MSG_NAME, name);
    v.setUint32(m + MSG_NAMELEN, nameLen, true);
    // The two control messages sit side by side: TOS first, so either or both is one range.
    const k = i * TX_CONTROL_LEN;
    if (tos !== 0) this.ctl.view.setInt32(k + TX_TOS_CMSG + CMSG_DATA, tos, true);
    if (gsoSize !== 0) this.ctl.view.setUint16(k + TX_GSO_CMSG + CMSG_DATA, gsoSize, true);
    const from = tos !== 0 ? TX_TOS_CMSG : TX_GSO_CMSG;
    const to = gsoSize !== 0 ? TX_GSO_CMSG + CMSG_SPACE_8 : TX_GSO_CMSG;
    if (to > from) {
      setPtr(v, m + MSG_CONTROL, this.ctl.base + k + from);
      setPtr(v, m + MSG_CONTROLLEN, to - from);
    } else {
      setPtr(v, m + MSG_CONTROL, 0);
      setPtr(v, m + MSG_CONTROLLEN, 0);
    }
    this.segs[i] = segs;
    this.tos[i] = tos;
  }

  /**
   * One plain datagram now, with one sendto() and no message to build: for a lone frame. False
   * (nothing sent, nothing counted) for a GSO entry (add() cuts or batches it) and when the socket
   * did not take it; add() and flush() then retry, wait or count the failure.
   */
  sendNow(addr: bigint, len: number, gsoSize: number, name: bigint, nameLen: number, tos = 0): boolean {
    // A TOS needs a control message, which sendto() cannot carry: add() and flush() send it.
    if ((gsoSize !== 0 && len > gsoSize) || tos !== 0) return false;
    if (c.sendto(this.fd, addr, BigInt(len), 0, name, nameLen) !== len) return false;
    this.counters.datagrams++;
    this.counters.syscalls++;
    return true;
  }

  /** Sends every queued message; waits briefly for room in the send buffer, then drops. */
  flush(): void {
    const n = this.queued;
    this.queued = 0;
    let off = 0;
    const k = this.counters;
    while (off < n) {
      const sent = c.sendmmsg(this.fd, this.vec.ptr + BigInt(off * MMSGHDR_LEN), n - off, 0);
      k.syscalls++;
      if (sent > 0) {
        for (let i = off; i < off + sent; i++) k.datagrams += this.segs[i];
        off += sent;
        continue;
      }
      const err = errnoOf();
      if (err === EINTR) continue;
      if (err === EAGAIN || err === ENOBUFS) {
        if (c.poll(this.waitPfd.ptr, 1n, SEND_WAIT_MS) > 0) continue;
        for (let i = off; i < n; i++) k.dropped += this.segs[i];
        return;
      }
      // The first message failed. A GSO one the kernel refused (a path MTU below the segment,
      // a device or xfrm path without GSO: EINVAL, EMSGSIZE, EIO) goes out datagram by datagram.
      if (this.segs[off] > 1 && (err === EINVAL || err === EMSGSIZE || err === EIO)) {
        k.gsoFallbacks++;
        this.sendPlain(off);
      } else {
        k.errors += this.segs[off];
      }
      off++;
    }
  }

  /** Message `i` (a GSO one) as plain datagrams, in place: rewritten and sent one by one. */
  private sendPlain(i: number): void {
    const v = this.vec.view, m = i * MMSGHDR_LEN;
    const iv = this.iov.view, o = i * IOVEC_LEN;
    const base = getPtr(iv, o + IOV_BASE);
    const len = iv.getUint32(o + IOV_LEN, true);
    const size = this.ctl.view.getUint16(i * TX_CONTROL_LEN + TX_GSO_CMSG + CMSG_DATA, true);
    // Keep the TOS control message, drop UDP_SEGMENT.
    setPtr(v, m + MSG_CONTROL, this.tos[i] !== 0 ? this.ctl.base + i * TX_CONTROL_LEN : 0);
    setPtr(v, m + MSG_CONTROLLEN, this.tos[i] !== 0 ? CMSG_SPACE_8 : 0);
    const k = this.counters;
    for (let off = 0; off < len;) {
      setPtr(iv, o + IOV_BASE, base + off);
      setPtr(iv, o + IOV_LEN, Math.min(size, len - off));
      const r = c.sendmmsg(this.fd, this.vec.ptr + BigInt(m), 1, 0);
      k.syscalls++;
      const err = r === 1 ? 0 : errnoOf();
      if (err === EINTR) continue;
      if (r === 1) k.datagrams++;
      else if (err === EAGAIN || err === ENOBUFS) k.dropped++;
      else k.errors++;
      off += size;
    }
  }
}

/**
 * recvmmsg into buffers set once (frame slots), each with room for a sockaddr and the UDP_GRO
 * cmsg. With GRO a message may hold several datagrams of one sender: `gsoSize(i)` is their
 * stride (the RX descriptor's gsoSize), 0 for a single datagram. Buffers should hold 64 KiB:
 * a shorter one truncates a GRO buffer (MSG_TRUNC) and loses its tail.
 */
export class UdpReceiver {
  /** The senders' sockaddrs, SOCKADDR_IN6_LEN bytes per message (nameOffset(i)). */
  readonly names: Region;
  private readonly vec: Region;
  private readonly iov: Region;
  private readonly ctl: Region;

  /** Messages the last call filled, whose lengths the kernel overwrote. */
  private dirtyFrom = 0;
  private dirtyTo = 0;

  /** A receiver on socket `fd` with `count` messages (a burst: BURST), laid out once. */
  constructor(readonly fd: number, count: number) {
    this.vec = region(count * MMSGHDR_LEN);
    this.iov = region(count * IOVEC_LEN);
    this.names = region(count * SOCKADDR_IN6_LEN);
    this.ctl = region(count * RX_CONTROL_LEN);
    for (let i = 0; i < count; i++) {
      const m = i * MMSGHDR_LEN;
      setPtr(this.vec.view, m + MSG_NAME, this.names.base + i * SOCKADDR_IN6_LEN);
      setPtr(this.vec.view, m + MSG_IOV, this.iov.base + i * IOVEC_LEN);
      setPtr(this.vec.view, m + MSG_IOVLEN, 1);
      setPtr(this.vec.view, m + MSG_CONTROL, this.ctl.base + i * RX_CONTROL_LEN);
      this.vec.view.setUint32(m + MSG_NAMELEN, SOCKADDR_IN6_LEN, true);
      this.vec.view.setUint32(m + MSG_CONTROLLEN, RX_CONTROL_LEN, true);
    }
  }

  /** Points message `i` at `capacity` bytes at address `addr` (once, at setup: a frame slot). */
  setBuffer(i: number, addr: number, capacity: number): void {
    setPtr(this.iov.view, i * IOVEC_LEN + IOV_BASE, addr);
    setPtr(this.iov.view, i * IOVEC_LEN + IOV_LEN, capacity);
  }

  /** Receives into messages first … first+max−1 without blocking (recvmmsg, MSG_DONTWAIT); how
   *  many arrived, or −1 with errno set (EAGAIN: nothing queued). */
  receive(first: number, max: number): number {
    // The kernel wrote back lengths only into the messages it filled: give those their full room
    // again, not all of them (a cold JS loop over 64 messages costs a ping its microseconds).
    const v = this.vec.view;
    for (let i = this.dirtyFrom; i < this.dirtyTo; i++) {
      const m = i * MMSGHDR_LEN;
      v.setUint32(m + MSG_NAMELEN, SOCKADDR_IN6_LEN, true);
      v.setUint32(m + MSG_CONTROLLEN, RX_CONTROL_LEN, true);
    }
    const n = c.recvmmsg(this.fd, this.vec.ptr + BigInt(first * MMSGHDR_LEN), max, MSG_DONTWAIT, 0n);
    this.dirtyFrom = first;
    this.dirtyTo = first + Math.max(n, 0);
    return n;
  }

  /** Bytes message `i` received (all datagrams of a GRO buffer). */
  length(i: number): number {
    return this.vec.view.getUint32(i * MMSGHDR_LEN + MSG_LEN, true);
  }

  /** The buffer was too short: datagrams were cut. */
  truncated(i: number): boolean {
    return (this.vec.view.getInt32(i * MMSGHDR_LEN + MSG_FLAGS, true) & MSG_TRUNC) !== 0;
  }

  /** Offset of message `i`'s sender sockaddr in `names.view` (readSockaddrInto takes it). */
  nameOffset(i: number): number {
    return i * SOCKADDR_IN6_LEN;
  }

  /** The outer TOS / traffic class of the message `control(i)` read last (0 when not reported). */
  tos = 0;

  /** The UDP_GRO cmsg's segment size: the stride of the datagrams in message `i`; 0 if none. */
  gsoSize(i: number): number {
    return this.control(i);
  }

  /**
   * Reads message `i`'s control messages in one pass: returns the UDP_GRO segment size (0 if
   * none) and leaves the IP_TOS byte (IPv4) or IPV6_TCLASS int (IPv6) in `tos` (0 if none). A
   * GRO buffer has one TOS: the kernel's GRO never merges datagrams whose TOS differ
   * (inet_gro_receive, ipv6_gro_receive).
   */
  control(i: number): number {
    this.tos = 0;
    const len = this.vec.view.getUint32(i * MMSGHDR_LEN + MSG_CONTROLLEN, true);
    if (len < CMSGHDR_LEN) return 0;
    const v = this.ctl.view, base = i * RX_CONTROL_LEN;
    let gso = 0;
    for (let off = 0; off + CMSGHDR_LEN <= len;) {
      const clen = v.getUint32(base + off + CMSG_LEN, true);
      if (clen < CMSGHDR_LEN) break;
      const level = v.getInt32(base + off + CMSG_LEVEL, true);
      const type = v.getInt32(base + off + CMSG_TYPE, true);
      if (level === SOL_UDP && type === UDP_GRO) gso = v.getInt32(base + off + CMSG_DATA, true);
      else if (level === IPPROTO_IP && type === IP_TOS) this.tos = v.getUint8(base + off + CMSG_DATA);
      else if (level === IPPROTO_IPV6 && type === IPV6_TCLASS) {
        this.tos = v.getInt32(base + off + CMSG_DATA, true) & 0xff;
      }
      off += (clen + 7) & ~7;
    }
    return gso;
  }
}
