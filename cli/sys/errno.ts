// errno values (<asm-generic/errno-base.h>, <asm-generic/errno.h>) and the errors weft turns them
// into: what failed, the value, what the kernel said, what to do.

import { UsageError } from "../errors.ts";
import { errno } from "./libc.ts";

export { errno as errnoOf };

export const EPERM = 1;
export const ENOENT = 2;
export const EINTR = 4;
export const EIO = 5;
export const EBADF = 9;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENOBUFS = 105;
export const EMSGSIZE = 90;
export const ENOPROTOOPT = 92;
export const EOPNOTSUPP = 95;
export const EADDRINUSE = 98;
export const EADDRNOTAVAIL = 99;
export const ENETUNREACH = 101;
export const ECONNREFUSED = 111;
export const EHOSTUNREACH = 113;

const NAMES: Record<number, string> = {
  [EPERM]: "operation not permitted",
  [ENOENT]: "no such file or directory",
  [EINTR]: "interrupted",
  [EIO]: "input/output error",
  [EBADF]: "bad file descriptor",
  [EAGAIN]: "resource temporarily unavailable",
  [ENOMEM]: "out of memory",
  [EACCES]: "permission denied",
  [EBUSY]: "device or resource busy",
  [EEXIST]: "file exists",
  [ENODEV]: "no such device",
  [EINVAL]: "invalid argument",
  [ENOBUFS]: "no buffer space available",
  [EMSGSIZE]: "message too long",
  [ENOPROTOOPT]: "protocol not available",
  [EOPNOTSUPP]: "operation not supported",
  [EADDRINUSE]: "address already in use",
  [EADDRNOTAVAIL]: "address not available",
  [ENETUNREACH]: "network unreachable",
  [ECONNREFUSED]: "connection refused",
  [EHOSTUNREACH]: "no route to host",
};

export function describeErrno(code: number): string {
  return NAMES[code] ?? `errno ${code}`;
}

/**
 * A failed system call. A UsageError, so the CLI prints one line and exits 2: every failure
 * raised during setup is about the environment or the arguments (permissions, names, ports).
 */
export class SysError extends UsageError {
  override name = "SysError";
  constructor(readonly call: string, readonly code: number, what: string, hint?: string) {
    super(`${what}: ${describeErrno(code)}${hint ? ` — ${hint}` : ""}`);
  }
}

/** Throws a SysError for a −1 result, reading errno at once; returns the result otherwise. */
export function check(
  result: number,
  call: string,
  what: string,
  hints: Record<number, string> = {},
): number {
  if (result >= 0) return result;
  const code = errno();
  throw new SysError(
    call,
    code,
    what,
    hints[code] ?? (code === EPERM || code === EACCES ? NEED_ROOT : undefined),
  );
}

export const NEED_ROOT = "run as root or with CAP_NET_ADMIN";
