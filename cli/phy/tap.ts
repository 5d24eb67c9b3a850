// A TAP device (Documentation/networking/tuntap.rst): open /dev/net/tun, TUNSETIFF with
// IFF_TAP | IFF_NO_PI, and the fd then reads and writes whole Ethernet frames, one per call.
// A TAP we create is not persistent: the kernel removes it when its last fd closes, in whatever
// namespace it has been moved to, so a crash leaves nothing behind either. An existing
// persistent TAP (`ip tuntap add … mode tap`) is attached to and left in place on close.

import { check, EBUSY, EINVAL, ENOENT, EPERM, NEED_ROOT } from "../sys/errno.ts";
import { enableTapOffloads } from "./offload.ts";
import {
  cString,
  IFF_NO_PI,
  IFF_PERSIST,
  IFF_TAP,
  IFF_VNET_HDR,
  IFNAMSIZ,
  IFREQ_LEN,
  libc,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  TUNGETIFF,
  TUNSETIFF,
} from "../sys/libc.ts";
import { UsageError } from "../errors.ts";

const TUN_PATH = "/dev/net/tun";
const IFR_FLAGS = IFNAMSIZ;

export interface Tap {
  name: string;
  fd: number;
  /** False for a persistent TAP that existed before: it stays when we close. */
  created: boolean;
  /** Reads and writes carry a 10-byte virtio_net_hdr before the frame (cli/phy/offload.ts). */
  vnetHdr?: boolean;
  /** TUN_F_* offloads the kernel accepted (TSO/USO super-frames, partial checksums). */
  offloads?: number;
}

export interface TapOptions {
  /** IFF_VNET_HDR and TUNSETOFFLOAD: 64 KiB super-frames instead of MTU-sized frames. */
  vnetHdr?: boolean;
}

/** Interface names the kernel accepts (dev_valid_name): 1..15 bytes, no '/', ':' or space. */
export function validTapName(name: string): boolean {
  return name.length > 0 && name.length < IFNAMSIZ && name !== "." && name !== ".." && !/[/:\s]/.test(name);
}

export function openTap(name: string, opts: TapOptions = {}): Tap {
  if (!validTapName(name)) {
    throw new UsageError(`invalid TAP name "${name}": 1 to 15 characters, no "/", ":" or spaces`);
  }
  const c = libc();
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

export function closeTap(tap: Tap): void {
  libc().close(tap.fd);
}
