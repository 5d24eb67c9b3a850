// Every libc call weft makes, in one symbol table: the C prototype sits above each symbol, and
// the constants carry their kernel header names. Loaded once per thread (the data-plane worker
// dlopens its own copy; the handles are per isolate, the fds are per process).
//
// Conventions that keep the frame path free of allocation:
//  - 64-bit parameters ("usize", "u64": pointers, sizes, nfds) take a bigint, always. Deno's fast
//    call (what an optimized caller compiles to) wants a BigInt there: a number falls back to the
//    slow call (~110 ns here against ~5) and throws the caller out of optimized code ("not a
//    BigInt" deopt), again at every re-optimization. Written as base + BigInt(offset), with the
//    base a bigint computed once (Region.ptr, the frame loop's memPtr), TurboFan keeps it a
//    machine word: no BigInt is allocated. Addresses stored into kernel structures (iovec,
//    msghdr) stay numbers (setPtr). Never a fresh Deno.PointerObject per call either;
//  - ssize_t results are declared "i32": every length here is < 2^31, and on x86-64 the low half
//    of rax (eax) holds the same value, −1 included. "isize" would box a BigInt per call.

// ── <fcntl.h>, <asm-generic/fcntl.h> ────────────────────────────────────────────────────────
export const O_RDONLY = 0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_TRUNC = 0o1000;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;

// ── <linux/if_tun.h>, <linux/if.h> ──────────────────────────────────────────────────────────
/** _IOW('T', 202, int) */
export const TUNSETIFF = 0x400454ca;
/** _IOR('T', 210, unsigned int) */
export const TUNGETIFF = 0x800454d2;
export const IFF_TAP = 0x0002;
export const IFF_NO_PI = 0x1000;
export const IFF_PERSIST = 0x0800;
/** Every read and write carries a struct virtio_net_hdr before the frame. */
export const IFF_VNET_HDR = 0x4000;
/** _IOW('T', 208, unsigned int) — the argument is the flag word itself, not a pointer. */
export const TUNSETOFFLOAD = 0x400454d0;
/** _IOW('T', 216, int) */
export const TUNSETVNETHDRSZ = 0x400454d8;
/** TUNSETOFFLOAD flags: what the reader can take — partial checksums, TSO/USO super-frames. */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;
/** Linux ≥ 6.2; older kernels answer EINVAL to the whole TUNSETOFFLOAD. */
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;
/** sizeof(struct virtio_net_hdr) (<linux/virtio_net.h>): the kernel's default vnet_hdr_sz. */
export const VIRTIO_NET_HDR_LEN = 10;
export const IFNAMSIZ = 16;
/** struct ifreq: ifr_name[IFNAMSIZ], then a union whose ifr_flags is a short; 40 bytes. */
export const IFREQ_LEN = 40;

// ── <sys/socket.h>, <netinet/in.h>, <asm-generic/socket.h> ───────────────────────────────────
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = O_NONBLOCK;
export const SOCK_CLOEXEC = O_CLOEXEC;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
export const IPV6_V6ONLY = 26;
export const SOL_SOCKET = 1;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
/** setsockopt (int 1): send with a zero UDP checksum over IPv4 (the kernel's VXLAN `noudpcsum`). */
export const SO_NO_CHECK = 11;
// <linux/in.h>, <linux/in6.h>: the outer header's TOS, traffic class and DF (RFC 6040, item 6/7).
export const IPPROTO_IP = 0;
/** cmsg (int) on send: this datagram's TOS byte; on receive (u8, with IP_RECVTOS) the one it came with. */
export const IP_TOS = 1;
/** setsockopt (int): IP_PMTUDISC_*, whether the kernel sets DF on what the socket sends. */
export const IP_MTU_DISCOVER = 10;
/** setsockopt (int 1): report each datagram's TOS byte as an IP_TOS cmsg. */
export const IP_RECVTOS = 13;
/** Never set DF (fragment if needed): the kernel's VXLAN `df unset`. */
export const IP_PMTUDISC_DONT = 0;
/** Always set DF; refuse (EMSGSIZE) a datagram above the path MTU the kernel knows: `df set`. */
export const IP_PMTUDISC_DO = 2;
/** setsockopt (int 1): report each datagram's traffic class as an IPV6_TCLASS cmsg (int). */
export const IPV6_RECVTCLASS = 66;
/** cmsg (int): the traffic class of this datagram (send) or of the one received. */
export const IPV6_TCLASS = 67;
export const MSG_DONTWAIT = 0x40;
/** msg_flags: the datagram was longer than the buffer; the rest is gone. */
export const MSG_TRUNC = 0x20;
// <linux/udp.h>: UDP GSO (Linux ≥ 4.18) and GRO (≥ 5.0) for unconnected sockets.
export const SOL_UDP = 17;
/** setsockopt or cmsg (u16): cut one send into datagrams of this payload size. */
export const UDP_SEGMENT = 103;
/** setsockopt (int 1): take coalesced datagrams; recvmsg then reports the size as a cmsg (int). */
export const UDP_GRO = 104;
/** UDP_MAX_SEGMENTS in kernels before 6.9 (128 since): the most datagrams one GSO send may cut. */
export const UDP_MAX_SEGMENTS = 64;
/** sizeof(struct cmsghdr) on x86-64: size_t cmsg_len; int cmsg_level; int cmsg_type. */
export const CMSGHDR_LEN = 16;
/** CMSG_LEN(n) = CMSGHDR_LEN + n; CMSG_SPACE(n) rounds n up to 8: both a u16 and an int take 24. */
export const CMSG_SPACE_8 = 24;
/** sizeof(struct sockaddr_in) */
export const SOCKADDR_IN_LEN = 16;
/** sizeof(struct sockaddr_in6) */
export const SOCKADDR_IN6_LEN = 28;
/** sizeof(struct mmsghdr) on x86-64: struct msghdr (56) + unsigned msg_len, padded. */
export const MMSGHDR_LEN = 64;
/** struct msghdr fields inside struct mmsghdr (x86-64), and mmsghdr's msg_len after them. */
export const MSG_NAME = 0;
export const MSG_NAMELEN = 8;
export const MSG_IOV = 16;
export const MSG_IOVLEN = 24;
export const MSG_CONTROL = 32;
export const MSG_CONTROLLEN = 40;
export const MSG_FLAGS = 48;
export const MSG_LEN = 56;
/** struct cmsghdr fields; the data follows the header at CMSGHDR_LEN. */
export const CMSG_LEN = 0;
export const CMSG_LEVEL = 8;
export const CMSG_TYPE = 12;
export const CMSG_DATA = CMSGHDR_LEN;
/** sizeof(struct iovec) */
export const IOVEC_LEN = 16;
/** struct iovec fields. */
export const IOV_BASE = 0;
export const IOV_LEN = 8;
/** UIO_MAXIOV: most messages one sendmmsg/recvmmsg takes, most iovecs one writev takes. */
export const UIO_MAXIOV = 1024;

// ── <linux/if_packet.h>, <linux/if_ether.h>, <linux/filter.h>, <linux/sockios.h> ────────────
/** A packet(7) socket: whole link-layer frames, what tcpdump opens. */
export const AF_PACKET = 17;
/** include/linux/net.h: SOCK_RAW keeps the link-layer header. */
export const SOCK_RAW = 3;
/** Every protocol (network byte order in sockaddr_ll). */
export const ETH_P_ALL = 0x0003;
/** setsockopt (struct sock_fprog): a classic BPF filter on the socket. */
export const SO_ATTACH_FILTER = 26;
/** ioctl (struct ifreq): interface name → index. */
export const SIOCGIFINDEX = 0x8933;
/** ioctl (struct timeval): the last packet's receive time; the first call turns stamps on. */
export const SIOCGSTAMP = 0x8906;
/** sizeof(struct sockaddr_ll): family, protocol, ifindex, … */
export const SOCKADDR_LL_LEN = 20;
/** sizeof(struct sock_filter): u16 code, u8 jt, u8 jf, u32 k. */
export const SOCK_FILTER_LEN = 8;
/** sizeof(struct sock_fprog): u16 len, then the pointer at offset 8. */
export const SOCK_FPROG_LEN = 16;

// ── <poll.h>, <sys/eventfd.h> ───────────────────────────────────────────────────────────────
export const POLLIN = 0x001;
export const POLLOUT = 0x004;
export const POLLERR = 0x008;
/** sizeof(struct pollfd): int fd; short events; short revents. */
export const POLLFD_LEN = 8;
/** struct pollfd fields. */
export const PFD_FD = 0;
export const PFD_EVENTS = 4;
export const PFD_REVENTS = 6;
export const EFD_CLOEXEC = O_CLOEXEC;
export const EFD_NONBLOCK = O_NONBLOCK;

// ── <sched.h> ──────────────────────────────────────────────────────────────────────────────
/** setns(2) nstype: a network namespace. */
export const CLONE_NEWNET = 0x40000000;

const symbols = {
  /** int *__errno_location(void); — errno of this thread */
  __errno_location: { parameters: [], result: "pointer" },
  /**
   * void *memmove(void *dest, const void *src, size_t n); — the result (dest) is dropped: a
   * "usize" result would box a BigInt per call. One fast call where TypedArray set()/copyWithin()
   * would go through V8's builtins and a subarray per copy (cli/dataplane/esp_path.ts).
   */
  memmove: { parameters: ["usize", "usize", "usize"], result: "void" },
  /** int open(const char *pathname, int flags, mode_t mode); */
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  /** int close(int fd); */
  close: { parameters: ["i32"], result: "i32" },
  /** ssize_t read(int fd, void *buf, size_t count); */
  read: { parameters: ["i32", "usize", "usize"], result: "i32" },
  /** ssize_t write(int fd, const void *buf, size_t count); */
  write: { parameters: ["i32", "usize", "usize"], result: "i32" },
  /** ssize_t writev(int fd, const struct iovec *iov, int iovcnt); */
  writev: { parameters: ["i32", "usize", "i32"], result: "i32" },
  /** int ioctl(int fd, unsigned long request, void *argp); */
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  /** int ioctl(int fd, unsigned long request, unsigned long arg); — requests that take a value */
  ioctlValue: { name: "ioctl", parameters: ["i32", "u64", "u64"], result: "i32" },
  /** int socket(int domain, int type, int protocol); */
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  /** int bind(int sockfd, const struct sockaddr *addr, socklen_t addrlen); */
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  /** int setsockopt(int sockfd, int level, int optname, const void *optval, socklen_t optlen); */
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  /** int getsockopt(int sockfd, int level, int optname, void *optval, socklen_t *optlen); */
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  /** int recvmmsg(int sockfd, struct mmsghdr *msgvec, unsigned int vlen, int flags, struct timespec *timeout); */
  recvmmsg: { parameters: ["i32", "usize", "u32", "i32", "usize"], result: "i32" },
  /** ssize_t sendto(int sockfd, const void *buf, size_t len, int flags, const struct sockaddr *dest_addr, socklen_t addrlen); */
  sendto: { parameters: ["i32", "usize", "usize", "i32", "usize", "u32"], result: "i32" },
  /** int sendmmsg(int sockfd, struct mmsghdr *msgvec, unsigned int vlen, int flags); */
  sendmmsg: { parameters: ["i32", "usize", "u32", "i32"], result: "i32" },
  /** int poll(struct pollfd *fds, nfds_t nfds, int timeout); — blocks the calling thread */
  poll: { parameters: ["usize", "u64", "i32"], result: "i32" },
  /** int eventfd(unsigned int initval, int flags); */
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  /** ssize_t recv(int sockfd, void *buf, size_t len, int flags); */
  recv: { parameters: ["i32", "usize", "usize", "i32"], result: "i32" },
  /** int setns(int fd, int nstype); — moves the calling thread only */
  setns: { parameters: ["i32", "i32"], result: "i32" },
} as const;

/** Deno types the 64-bit parameters bigint, as its fast call wants them. */
export type Libc = Deno.DynamicLibrary<typeof symbols>["symbols"];

let lib: Deno.DynamicLibrary<typeof symbols> | undefined;

/** The symbol table, dlopened on first use in this thread. */
export function libc(): Libc {
  lib ??= Deno.dlopen("libc.so.6", symbols);
  return lib.symbols;
}

/** errno of the last failed call on this thread; read it right after the call. */
export function errno(): number {
  const p = libc().__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

/** Address of a buffer's first byte as a number (x86-64 user addresses fit in 2^53). */
export function addressOf(buf: ArrayBufferLike | ArrayBufferView): number {
  const view = ArrayBuffer.isView(buf) ? buf : new Uint8Array(buf);
  return Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(view as Uint8Array)));
}

/** A NUL-terminated C string. */
export function cString(text: string): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}
