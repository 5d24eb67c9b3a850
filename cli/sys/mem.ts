// Off-heap buffers the kernel reads and writes through FFI (mmsghdr, iovec, pollfd, cmsg …),
// laid out once at setup and then only filled with numbers on the frame path.

import { addressOf } from "./libc.ts";

export interface Region {
  buf: ArrayBuffer;
  view: DataView;
  /** The buffer's address, for pointers stored into kernel structures (setPtr). */
  base: number;
  /** The same address as a libc call's argument (see cli/sys/libc.ts on 64-bit parameters). */
  ptr: bigint;
}

/** A zeroed buffer with its address. Above 64 bytes: V8 keeps small buffers on its heap. */
export function region(bytes: number): Region {
  const buf = new ArrayBuffer(Math.max(bytes, 128));
  const base = addressOf(new Uint8Array(buf));
  return { buf, view: new DataView(buf), base, ptr: BigInt(base) };
}

/** Stores a 64-bit pointer or size without a BigInt: user addresses fit in 2^53. */
export function setPtr(v: DataView, off: number, addr: number): void {
  v.setUint32(off, addr >>> 0, true);
  v.setUint32(off + 4, Math.floor(addr / 0x100000000), true);
}

export function getPtr(v: DataView, off: number): number {
  return v.getUint32(off, true) + v.getUint32(off + 4, true) * 0x100000000;
}

/** A C int (setsockopt/ioctl argument) in native byte order. */
export function int(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v, true);
  return b;
}
