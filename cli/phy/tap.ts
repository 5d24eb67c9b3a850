// A TAP device (Documentation/networking/tuntap.rst): open /dev/net/tun, TUNSETIFF with
// IFF_TAP | IFF_NO_PI, and the fd then reads and writes whole Ethernet frames, one per call.
// A TAP we create is not persistent: the kernel removes it when its last fd closes, in whatever
// namespace it has been moved to, so a crash leaves nothing behind either. An existing
// persistent TAP (`ip tuntap add … mode tap`) is attached to and left in place on close.
// With IFF_VNET_HDR + TUNSETOFFLOAD reads return TCP/UDP super-frames (TSO/USO) behind a
// virtio_net_hdr, with checksums left partial, and writes take a virtio_net_hdr the same way
// (Documentation/networking/tuntap.rst, drivers/net/tun.c tun_get_user/tun_put_user): one
// syscall per 64 KiB, not per 1.5 KiB, as wireguard-go's TUN offloads.

import { check, EBUSY, EINVAL, ENOENT, EPERM, errnoOf, NEED_ROOT } from "../sys/errno.ts";
import { int, region, setPtr } from "../sys/mem.ts";
import {
  cString,
  IFF_NO_PI,
  IFF_PERSIST,
  IFF_TAP,
  IFF_VNET_HDR,
  IFNAMSIZ,
  IFREQ_LEN,
  IOV_BASE,
  IOV_LEN,
  IOVEC_LEN,
  libc,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUN_F_TSO_ECN,
  TUN_F_USO4,
  TUN_F_USO6,
  TUNGETIFF,
  TUNSETIFF,
  TUNSETOFFLOAD,
  TUNSETVNETHDRSZ,
  VIRTIO_NET_HDR_LEN,
} from "../sys/libc.ts";
import { UsageError } from "../errors.ts";

const TUN_PATH = "/dev/net/tun";
const VNET_HDR_BYTES = BigInt(VIRTIO_NET_HDR_LEN);
/** Loaded once: VnetTap calls it per frame. */
const c = libc();
const IFR_FLAGS = IFNAMSIZ;

/** An open TAP: its fd reads and writes one Ethernet frame per call (no packet-info prefix). */
export interface Tap {
  /** Interface name, 1..15 bytes (IFNAMSIZ − 1). */
  name: string;
  /** Non-blocking, close-on-exec fd on /dev/net/tun. */
  fd: number;
  /** False for a persistent TAP that existed before: it stays when we close. */
  created: boolean;
  /** Reads and writes carry a 10-byte virtio_net_hdr before the frame (VnetTap). */
  vnetHdr?: boolean;
  /** TUN_F_* offloads the kernel accepted (TSO/USO super-frames, partial checksums). */
  offloads?: number;
}

/** How to open a TAP; every field is optional. */
export interface TapOptions {
  /** IFF_VNET_HDR and TUNSETOFFLOAD (TAP_OFFLOADS): 64 KiB super-frames instead of MTU-sized
   *  frames, each behind a 10-byte virtio_net_hdr (default false). */
  vnetHdr?: boolean;
}

/** Interface names the kernel accepts (dev_valid_name): 1..15 bytes, no '/', ':' or space. */
export function validTapName(name: string): boolean {
  return name.length > 0 && name.length < IFNAMSIZ && name !== "." && name !== ".." && !/[/:\s]/.test(name);
}

/**
 * Creates TAP `name` (or attaches to the persistent TAP of that name) with IFF_TAP | IFF_NO_PI
 * (tun_set_iff), non-blocking; with `opts.vnetHdr` also IFF_VNET_HDR and enableTapOffloads().
 * @throws {UsageError} for a name validTapName() refuses.
 * @throws {SysError} open of /dev/net/tun (ENOENT: no tun module); TUNSETIFF (EBUSY: a TAP
 *   another process holds, EINVAL: a device of that name is not a TAP, EPERM: needs root or
 *   CAP_NET_ADMIN); TUNSETVNETHDRSZ / TUNSETOFFLOAD as enableTapOffloads(). The fd is closed.
 */
export function openTap(name: string, opts: TapOptions = {}): Tap {
  if (!validTapName(name)) {
    throw new UsageError(`invalid TAP name "${name}": 1 to 15 characters, no "/", ":" or spaces`);
  }
  const fd = check(
    c.open(cString(TUN_PATH), O_RDWR | O_NONBLOCK | O_CLOEXEC, 0),
    "open",
    `cannot open ${TUN_PATH}`,
    {
      [ENOENT]: "load the tun module (modprobe tun) or create the device node",
    },
  );
  try {
    const ifr = new Uint8Array(IFREQ_LEN);
    ifr.set(new TextEncoder().encode(name));
    const flags = IFF_TAP | IFF_NO_PI | (opts.vnetHdr ? IFF_VNET_HDR : 0);
    new DataView(ifr.buffer).setUint16(IFR_FLAGS, flags, true);
    check(c.ioctl(fd, BigInt(TUNSETIFF), ifr), "ioctl", `cannot create TAP ${name}`, {
      [EBUSY]: "the name is taken by a TAP another process holds open; pick another --tap name",
      [EINVAL]: "the name is taken by a device that is not a TAP; pick another --tap name",
      [EPERM]: NEED_ROOT,
    });
    const got = new Uint8Array(IFREQ_LEN);
    check(c.ioctl(fd, BigInt(TUNGETIFF), got), "ioctl", `cannot read back TAP ${name}`);
    const persistent = (new DataView(got.buffer).getUint16(IFR_FLAGS, true) & IFF_PERSIST) !== 0;
    if (!opts.vnetHdr) return { name, fd, created: !persistent };
    const offloads = enableTapOffloads(fd, name);
    return { name, fd, created: !persistent, vnetHdr: true, offloads };
  } catch (e) {
    c.close(fd);
    throw e;
  }
}

/** Closes the TAP's fd; the kernel then removes a TAP we created (`created`), wherever it is. */
export function closeTap(tap: Tap): void {
  c.close(tap.fd);
}

/** What we ask of a TAP: partial checksums and TCP super-frames, and UDP ones where known. */
export const TAP_OFFLOADS = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_USO4 | TUN_F_USO6;

/**
 * Sets the virtio_net_hdr size (10: no num_buffers field) and the offloads the reader takes on a
 * TAP opened with IFF_VNET_HDR; returns the TUN_F_* flags the kernel accepted (`wanted`, default
 * TAP_OFFLOADS, or it without USO). TUNSETOFFLOAD is all or nothing (set_offload() answers
 * EINVAL to a flag it does not know), so USO, new in 6.2, is dropped and the rest tried again.
 * `name` only labels errors.
 * @throws {SysError} ioctl TUNSETVNETHDRSZ or TUNSETOFFLOAD failed (not EINVAL for USO).
 */
export function enableTapOffloads(fd: number, name = `fd ${fd}`, wanted = TAP_OFFLOADS): number {
  check(
    c.ioctl(fd, BigInt(TUNSETVNETHDRSZ), int(VIRTIO_NET_HDR_LEN)),
    "ioctl",
    `cannot set the virtio-net header size of TAP ${name}`,
  );
  for (const flags of [wanted, wanted & ~(TUN_F_USO4 | TUN_F_USO6)]) {
    if (c.ioctlValue(fd, BigInt(TUNSETOFFLOAD), BigInt(flags)) === 0) return flags;
    if (errnoOf() !== EINVAL) break;
  }
  return check(-1, "ioctl", `cannot enable offloads (TUNSETOFFLOAD) on TAP ${name}`);
}

/**
 * Frame I/O on a TAP with IFF_VNET_HDR. Every read and write is [virtio_net_hdr 10][frame]; reads
 * land so the frame starts exactly at the address given (its header in the 10 bytes before,
 * where the core looks for it: RX_VNET_HDR). One instance per thread; no allocation per call.
 */
export class VnetTap {
  private readonly iov = region(2 * IOVEC_LEN);

  /** Reads one frame to address `frame` (its struct virtio_net_hdr, include/uapi/linux/virtio_net.h,
   *  lands at frame − 10: tun_put_user writes it first); `capacity`: bytes of room for the frame.
   *  Returns the frame's length in bytes, or −1 with errno set (EAGAIN: none queued). */
  read(fd: number, frame: bigint, capacity: number): number {
    const n = c.read(fd, frame - VNET_HDR_BYTES, BigInt(capacity + VIRTIO_NET_HDR_LEN));
    return n < VIRTIO_NET_HDR_LEN ? -1 : n - VIRTIO_NET_HDR_LEN;
  }

  /**
   * Writes the 10 header bytes at `vnet` (a TX entry's vnet field) and the frame, as one packet:
   * one writev of two iovecs, so the frame's bytes (maybe shared with other TX entries) are
   * never touched (tun_get_user takes the header from the first iovec). `vnet`, `frame`:
   * addresses; `len`: frame bytes. Returns the bytes written (10 + len) or −1 with errno set.
   */
  write(fd: number, vnet: number, frame: number, len: number): number {
    const v = this.iov.view;
    setPtr(v, IOV_BASE, vnet);
    setPtr(v, IOV_LEN, VIRTIO_NET_HDR_LEN);
    setPtr(v, IOVEC_LEN + IOV_BASE, frame);
    setPtr(v, IOVEC_LEN + IOV_LEN, len);
    return c.writev(fd, this.iov.ptr, 2);
  }

  /** The header already sits in the 10 bytes before address `frame`: one plain write of
   *  10 + `len` bytes. Returns the bytes written or −1 with errno set. */
  writeInPlace(fd: number, frame: bigint, len: number): number {
    return c.write(fd, frame - VNET_HDR_BYTES, BigInt(len + VIRTIO_NET_HDR_LEN));
  }
}
