// The underlay socket: one unconnected UDP socket bound to the advertised address and the VXLAN
// port. Bound to the address (not the wildcard) so the kernel picks it as the outer source;
// unconnected because the kernel's VXLAN sends from flow-hashed source ports (RFC 7348 §5).

import { formatEndpoint } from "../core/addr.ts";
import { DF_DEFAULT, type DfMode } from "../core/config.ts";
import { check, EADDRINUSE, EADDRNOTAVAIL, EPERM, errnoOf } from "../sys/errno.ts";
import {
  AF_INET,
  AF_INET6,
  IP_MTU_DISCOVER,
  IP_PMTUDISC_DO,
  IP_PMTUDISC_DONT,
  IP_RECVTOS,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_RECVTCLASS,
  IPV6_V6ONLY,
  libc,
  SO_NO_CHECK,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
} from "../sys/libc.ts";
import { int } from "../sys/mem.ts";
import { familyOf, sockaddr } from "./sockaddr.ts";
import { enableUdpGro, enableUdpGso } from "./udp_batch.ts";

/** Socket buffers sized for bursts at line rate: a few ms of 10 Gbit/s. */
export const SOCKET_BUFFER_BYTES = 8 << 20;

/** An open, bound, non-blocking UDP socket (openUdp). */
export interface UdpSocket {
  /** Close-on-exec fd. */
  fd: number;
  /** AF_INET or AF_INET6 (familyOf(address)). */
  family: number;
  /** The bound address, 16-byte form (IPv4 as ::ffff:a.b.c.d). */
  address: Uint8Array;
  /** The port asked for; 0 means the kernel picked an ephemeral one (openSenders). */
  port: number;
  /** UDP_SEGMENT works on this socket: send TX entries with a gsoSize as one message. */
  gso?: boolean;
  /** UDP_GRO is on: a received message may hold several datagrams (UdpReceiver.gsoSize). */
  gro?: boolean;
}

/** Options of openUdp; every field is optional and off unless said otherwise. */
export interface UdpOptions {
  /** Probe UDP_SEGMENT (send offload, enableUdpGso). */
  gso?: boolean;
  /** Turn on UDP_GRO (receive offload); only for a reader that parses the UDP_GRO cmsg. */
  gro?: boolean;
  /** Outer IPv4 DF (default DF_DEFAULT): as the kernel's VXLAN `df` (IFLA_VXLAN_DF). */
  df?: DfMode;
  /** A UDP checksum over IPv4 (default true, the kernel's `udpcsum`); false: zero (SO_NO_CHECK). */
  udpCsum?: boolean;
  /** Report each datagram's outer TOS / traffic class (IP_RECVTOS / IPV6_RECVTCLASS) for ECN. */
  recvTos?: boolean;
}

/**
 * Whether the kernel sets DF on datagrams of an IPv4 socket: IP_PMTUDISC_DO or _DONT. Left
 * alone, a socket takes the host's default (ip_no_pmtu_disc = 0: DF set), unlike the kernel's
 * own VXLAN. Over IPv6 DF does not exist; nothing to set. Returns false if the kernel refused.
 */
export function setDontFragment(fd: number, family: number, df: boolean): boolean {
  if (family !== AF_INET) return true;
  return libc().setsockopt(
    fd,
    IPPROTO_IP,
    IP_MTU_DISCOVER,
    int(df ? IP_PMTUDISC_DO : IP_PMTUDISC_DONT),
    4,
  ) === 0;
}

/** Applies `df`, `udpCsum` and `recvTos` to a socket (the kernel's defaults when unset). */
function wireOptions(fd: number, family: number, opts: UdpOptions): void {
  const c = libc();
  const where = "cannot set the outer header's options on the UDP socket";
  check(setDontFragment(fd, family, (opts.df ?? DF_DEFAULT) === "set") ? 0 : -1, "setsockopt", where);
  if (family === AF_INET && opts.udpCsum === false) {
    check(c.setsockopt(fd, SOL_SOCKET, SO_NO_CHECK, int(1), 4), "setsockopt", where);
  }
  if (opts.recvTos) {
    const [level, opt] = family === AF_INET ? [IPPROTO_IP, IP_RECVTOS] : [IPPROTO_IPV6, IPV6_RECVTCLASS];
    check(c.setsockopt(fd, level, opt, int(1), 4), "setsockopt", where);
  }
}

/** Sets a socket buffer to `bytes` with option `force` (SO_SNDBUFFORCE / SO_RCVBUFFORCE), which
 *  passes net.core.[rw]mem_max as root; on EPERM falls back to `plain` (SO_SNDBUF / SO_RCVBUF),
 *  which the kernel caps. Never throws: a smaller buffer only drops more in a burst. */
export function setBuffer(fd: number, force: number, plain: number, bytes: number): void {
  const c = libc();
  if (c.setsockopt(fd, SOL_SOCKET, force, int(bytes), 4) === 0) return;
  if (errnoOf() !== EPERM) return;
  c.setsockopt(fd, SOL_SOCKET, plain, int(bytes), 4);
}

/** Bytes of receive and send buffer the kernel granted (it doubles the request for bookkeeping,
 *  sock_setsockopt; capped without the FORCE); −1 where getsockopt failed. */
export function socketBuffers(fd: number): { rcv: number; snd: number } {
  const c = libc();
  const get = (opt: number) => {
    const v = new Uint8Array(4), l = new Uint8Array(4);
    l[0] = 4;
    return c.getsockopt(fd, SOL_SOCKET, opt, v, l) === 0 ? new DataView(v.buffer).getInt32(0, true) : -1;
  };
  return { rcv: get(SO_RCVBUF), snd: get(SO_SNDBUF) };
}

/**
 * A non-blocking UDP socket bound to `address` (16-byte form) and `port` (0: ephemeral), with
 * SOCKET_BUFFER_BYTES of send and receive buffer (the FORCE options as root), IPV6_V6ONLY on
 * IPv6, the wire options of `opts` (DF, UDP checksum, TOS reporting) and, when asked, GSO/GRO.
 * @throws {SysError} socket(); bind() (EADDRINUSE: another VTEP or the kernel's vxlan device
 *   has the port, EADDRNOTAVAIL: the address is not on an interface here); setsockopt() of a wire
 *   option. The fd is closed then.
 */
export function openUdp(address: Uint8Array, port: number, opts: UdpOptions = {}): UdpSocket {
  const c = libc();
  const family = familyOf(address);
  const where = formatEndpoint(address, port);
  const fd = check(
    c.socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
    "socket",
    `cannot open a UDP socket for ${where}`,
  );
  try {
    if (family === AF_INET6) c.setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, int(1), 4);
    setBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, SOCKET_BUFFER_BYTES);
    setBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, SOCKET_BUFFER_BYTES);
    const sa = sockaddr(address, port);
    check(c.bind(fd, sa, sa.length), "bind", `cannot listen on UDP ${where}`, {
      [EADDRINUSE]:
        "another VTEP (or the kernel's vxlan device) uses this port; pick another with --listen ADDR:PORT",
      [EADDRNOTAVAIL]: "the address is not configured on any interface of this namespace",
    });
    wireOptions(fd, family, opts);
    const s: UdpSocket = { fd, family, address, port };
    if (opts.gso) s.gso = enableUdpGso(fd);
    if (opts.gro) s.gro = enableUdpGro(fd);
    return s;
  } catch (e) {
    c.close(fd);
    throw e;
  }
}

/** Closes the socket's fd. */
export function closeUdp(s: UdpSocket): void {
  libc().close(s.fd);
}

/**
 * `count` sockets on ephemeral ports of the same address, to send from. RFC 7348 §5: the outer
 * source port SHOULD carry a hash of the inner flow, as the kernel's VXLAN does, so ECMP and RSS in
 * the underlay spread tunnelled flows; one socket has one port, so the frame loop picks the socket
 * by the core's flow hash. Receiving stays on the VXLAN port's socket. `opts`: gso, df, udpCsum
 * as openUdp (gro and recvTos do not apply).
 * @throws {SysError} as openUdp; the sockets opened before are closed.
 */
export function openSenders(address: Uint8Array, count: number, opts: UdpOptions = {}): UdpSocket[] {
  const out: UdpSocket[] = [];
  try {
    for (let i = 0; i < count; i++) {
      out.push(openUdp(address, 0, { gso: opts.gso, df: opts.df, udpCsum: opts.udpCsum }));
    }
  } catch (e) {
    out.forEach(closeUdp);
    throw e;
  }
  return out;
}
