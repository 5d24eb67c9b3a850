// An underlay capture by weft's own means: a packet(7) socket, which is what tcpdump opens, so
// `weft demo` shows the VXLAN datagrams on the wire on a machine without tcpdump. The socket can
// be opened in another network namespace: the calling thread enters it with setns(2) only for
// socket() and bind() — a socket stays in the namespace it was created in — and returns at once.
// Packets queue in the socket's receive buffer until drain() reads them, so nothing has to run
// while the traffic flows; timestamps are the kernel's (SIOCGSTAMP).

import { check, EAGAIN, errnoOf, SysError } from "../sys/errno.ts";
import {
  AF_PACKET,
  CLONE_NEWNET,
  cString,
  ETH_P_ALL,
  IFNAMSIZ,
  IFREQ_LEN,
  libc,
  MSG_DONTWAIT,
  O_CLOEXEC,
  O_RDONLY,
  SIOCGIFINDEX,
  SIOCGSTAMP,
  SO_ATTACH_FILTER,
  SOCK_CLOEXEC,
  SOCK_FILTER_LEN,
  SOCK_FPROG_LEN,
  SOCK_NONBLOCK,
  SOCK_RAW,
  SOCKADDR_LL_LEN,
  SOL_SOCKET,
} from "../sys/libc.ts";
import { region, setPtr } from "../sys/mem.ts";
import type { PcapPacket } from "../pcap/pcap.ts";

/** Largest frame read (a 64 KiB GSO frame never reaches a packet socket whole on a veth). */
const SNAPLEN = 65535;

// Classic BPF opcodes (include/uapi/linux/bpf_common.h, filter.h).
const LDH_ABS = 0x28, LDB_ABS = 0x30, LDH_IND = 0x48, LDXB_MSH = 0xb1;
const JEQ_K = 0x15, JSET_K = 0x45, RET_K = 0x06;

/**
 * "udp dst port PORT" on Ethernet, as libpcap compiles it (`tcpdump -d 'udp dst port 4789'`):
 * IPv6 without extension headers, or IPv4 that is not a non-first fragment, with UDP to PORT.
 * Filtering in the kernel keeps the control plane's TLS and heartbeats out of the buffer.
 */
function udpDstPortFilter(port: number): Uint8Array {
  // [code, jt, jf, k]; jumps are relative to the next instruction.
  const prog: [number, number, number, number][] = [
    [LDH_ABS, 0, 0, 12], // 0: ethertype
    [JEQ_K, 0, 4, 0x86dd], // 1: IPv6 → 2, else → 6
    [LDB_ABS, 0, 0, 20], // 2: IPv6 next header
    [JEQ_K, 0, 11, 17], // 3: UDP → 4, else reject
    [LDH_ABS, 0, 0, 56], // 4: UDP destination port after the 40-byte IPv6 header
    [JEQ_K, 8, 9, port], // 5: → accept / reject
    [JEQ_K, 0, 8, 0x0800], // 6: IPv4 → 7, else reject
    [LDB_ABS, 0, 0, 23], // 7: IPv4 protocol
    [JEQ_K, 0, 6, 17], // 8: UDP → 9, else reject
    [LDH_ABS, 0, 0, 20], // 9: flags + fragment offset
    [JSET_K, 4, 0, 0x1fff], // 10: a non-first fragment has no UDP header → reject
    [LDXB_MSH, 0, 0, 14], // 11: X = IPv4 header length
    [LDH_IND, 0, 0, 16], // 12: UDP destination port
    [JEQ_K, 0, 1, port], // 13: → accept / reject
    [RET_K, 0, 0, 262144], // 14: accept, whole packet
    [RET_K, 0, 0, 0], // 15: reject
  ];
  const out = new Uint8Array(prog.length * SOCK_FILTER_LEN);
  const v = new DataView(out.buffer);
  prog.forEach(([code, jt, jf, k], i) => {
    v.setUint16(i * SOCK_FILTER_LEN, code, true);
    v.setUint8(i * SOCK_FILTER_LEN + 2, jt);
    v.setUint8(i * SOCK_FILTER_LEN + 3, jf);
    v.setUint32(i * SOCK_FILTER_LEN + 4, k, true);
  });
  return out;
}

/** What PacketCapture.open captures, and where. */
export interface CaptureOptions {
  /** Interface to capture on, e.g. "eth0". */
  ifname: string;
  /** Named network namespace (/run/netns/NAME, as `ip netns` makes them); default: this thread's. */
  netns?: string;
  /** Keep only UDP datagrams to this port (the VXLAN port, 4789); default: every frame. */
  udpDstPort?: number;
}

/** A packet(7) capture on one interface; frames queue in the kernel until drain(). */
export class PacketCapture {
  private readonly buf = region(SNAPLEN);
  private readonly stamp = new Uint8Array(16);

  private constructor(private fd: number) {}

  /**
   * Opens the capture. The filter is attached before bind(), so no other frame is queued.
   * @throws SysError when the namespace, the interface or the socket cannot be had (one line:
   *   "cannot open a packet socket: Operation not permitted — run as root or with CAP_NET_ADMIN").
   */
  static open(o: CaptureOptions): PacketCapture {
    const c = libc();
    const enter = o.netns === undefined ? undefined : enterNetns(o.netns);
    let fd = -1;
    try {
      // Protocol 0: nothing is received until bind() names ETH_P_ALL, after the filter is on.
      fd = check(
        c.socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
        "socket",
        "cannot open a packet socket",
      );
      if (o.udpDstPort !== undefined) {
        const filter = udpDstPortFilter(o.udpDstPort);
        const fprog = new Uint8Array(SOCK_FPROG_LEN);
        const v = new DataView(fprog.buffer);
        v.setUint16(0, filter.length / SOCK_FILTER_LEN, true);
        const mem = region(filter.length);
        new Uint8Array(mem.buf).set(filter);
        setPtr(v, 8, mem.base);
        check(
          c.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, fprog, SOCK_FPROG_LEN),
          "setsockopt",
          "cannot attach the capture filter",
        );
      }
      const ifr = new Uint8Array(IFREQ_LEN);
      ifr.set(cString(o.ifname).subarray(0, IFNAMSIZ - 1));
      check(
        c.ioctl(fd, BigInt(SIOCGIFINDEX), ifr),
        "ioctl",
        `no interface ${o.ifname}${o.netns ? ` in ${o.netns}` : ""}`,
      );
      const ifindex = new DataView(ifr.buffer).getInt32(IFNAMSIZ, true);
      const sll = new Uint8Array(SOCKADDR_LL_LEN);
      const s = new DataView(sll.buffer);
      s.setUint16(0, AF_PACKET, true);
      s.setUint16(2, ETH_P_ALL, false); // network byte order
      s.setInt32(4, ifindex, true);
      check(c.bind(fd, sll, SOCKADDR_LL_LEN), "bind", `cannot capture on ${o.ifname}`);
      // The first SIOCGSTAMP turns receive timestamps on (sock_gettstamp()); without it the
      // frames queued before drain() would all carry the time of the first read.
      c.ioctl(fd, BigInt(SIOCGSTAMP), new Uint8Array(16));
      const cap = new PacketCapture(fd);
      fd = -1;
      return cap;
    } finally {
      if (fd >= 0) c.close(fd);
      enter?.leave();
    }
  }

  /** Reads every queued frame (at most `max`), oldest first, with the kernel's receive time. */
  drain(max = 1024): PcapPacket[] {
    const c = libc();
    const out: PcapPacket[] = [];
    const sv = new DataView(this.stamp.buffer);
    while (out.length < max) {
      const n = c.recv(this.fd, this.buf.ptr, BigInt(SNAPLEN), MSG_DONTWAIT);
      if (n < 0) {
        if (errnoOf() === EAGAIN) break;
        check(n, "recv", "cannot read the capture");
      }
      // struct timeval of the frame just read: tv_sec, tv_usec (64-bit each on x86-64).
      let seconds: number, micros: number;
      if (c.ioctl(this.fd, BigInt(SIOCGSTAMP), this.stamp) === 0) {
        seconds = Number(sv.getBigInt64(0, true));
        micros = Number(sv.getBigInt64(8, true));
      } else {
        const ms = Date.now();
        seconds = Math.floor(ms / 1000);
        micros = (ms % 1000) * 1000;
      }
      const data = new Uint8Array(this.buf.buf, 0, n).slice();
      out.push({ time: seconds + micros / 1e6, seconds, nanos: micros * 1000, data, origLen: n });
    }
    return out;
  }

  /** Closes the socket; frames still queued are dropped. Closing twice is harmless. */
  close(): void {
    if (this.fd >= 0) libc().close(this.fd);
    this.fd = -1;
  }
}

/**
 * Moves this thread into /run/netns/NAME; leave() moves it back. Only the network namespace of
 * the calling thread changes, and only until leave(), which the caller runs in `finally`.
 * @throws SysError when the namespace cannot be opened or entered.
 */
function enterNetns(name: string): { leave(): void } {
  const c = libc();
  const self = check(
    c.open(cString("/proc/thread-self/ns/net"), O_RDONLY | O_CLOEXEC, 0),
    "open",
    "cannot open this thread's network namespace",
  );
  const target = c.open(cString(`/run/netns/${name}`), O_RDONLY | O_CLOEXEC, 0);
  if (target < 0 || c.setns(target, CLONE_NEWNET) < 0) {
    const e = errnoOf(); // before close() can change it
    if (target >= 0) c.close(target);
    c.close(self);
    throw new SysError(target < 0 ? "open" : "setns", e, `cannot enter network namespace ${name}`);
  }
  c.close(target);
  return {
    leave() {
      // Staying in the other namespace would move every later socket of this thread there.
      if (c.setns(self, CLONE_NEWNET) < 0) throw new Error(`cannot return from network namespace ${name}`);
      c.close(self);
    },
  };
}
