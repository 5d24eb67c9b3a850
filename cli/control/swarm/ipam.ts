// IPv4 address management for overlay networks: subnets carved from the cluster's default pool
// (Docker: 10.0.0.0/8, /24 each), the gateway at .1, container addresses from .2 up, and MACs
// derived from the address as Docker does (02:42 + the four address bytes).

import { parseIpv4 } from "../../core/addr.ts";

/** An address, subnet or pool that does not parse, does not fit, or has nothing free left. */
export class IpamError extends Error {
  override name = "IpamError";
}

/**
 * A dotted-quad IPv4 address as a 32-bit unsigned integer (network order: a.b.c.d → a<<24 | …).
 * Strict, as the core's parser (cli/core/addr.ts parseIpv4, which this uses): four decimal parts
 * 0..255 and no leading zero, so "010.0.0.1" (octal to inet_aton, decimal to others) is refused.
 * @throws IpamError quoting the text when it is not one.
 */
export function ipToInt(ip: string): number {
  const b = parseIpv4(ip);
  if (!b) throw new IpamError(`invalid IPv4 address "${ip}"`);
  return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
}

/** The dotted-quad text of a 32-bit unsigned integer (ipToInt's inverse). */
export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** An IPv4 prefix: `base` the network address as a 32-bit unsigned integer, `bits` its length. */
export interface Cidr {
  base: number;
  bits: number;
}

/**
 * "a.b.c.d/N" (N 0..32) as a Cidr.
 * @throws IpamError for another shape, a bad address (ipToInt) or host bits set.
 */
export function parseCidr(text: string): Cidr {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text);
  if (!m || Number(m[2]) > 32) throw new IpamError(`invalid subnet "${text}": expected a.b.c.d/N`);
  const bits = Number(m[2]);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const addr = ipToInt(m[1]);
  if ((addr & mask) >>> 0 !== addr) throw new IpamError(`invalid subnet "${text}": host bits are set`);
  return { base: addr, bits };
}

/** "a.b.c.d/N". */
export function formatCidr(c: Cidr): string {
  return `${intToIp(c.base)}/${c.bits}`;
}

/** Addresses in the prefix, 2^(32 − bits). */
export function size(c: Cidr): number {
  return 2 ** (32 - c.bits);
}

/** True when the address (ipToInt form) is in the prefix. */
export function contains(c: Cidr, ip: number): boolean {
  return ip >= c.base && ip < c.base + size(c);
}

/** True when the two prefixes share an address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base < b.base + size(b) && b.base < a.base + size(a);
}

/**
 * The first /maskLen of the pool that overlaps none of the subnets in use (Docker's default
 * address pool: 10.0.0.0/8 in /24s, in order).
 * @throws IpamError when maskLen is shorter than the pool's or longer than /30, or none is free.
 */
export function allocateSubnet(pool: Cidr, maskLen: number, used: Cidr[]): Cidr {
  if (maskLen < pool.bits || maskLen > 30) {
    throw new IpamError(`mask length /${maskLen} does not fit the pool ${formatCidr(pool)}`);
  }
  const step = 2 ** (32 - maskLen);
  for (let b = pool.base; b < pool.base + size(pool); b += step) {
    const c = { base: b, bits: maskLen };
    if (!used.some((u) => overlaps(u, c))) return c;
  }
  throw new IpamError(`the address pool ${formatCidr(pool)} is exhausted: no free /${maskLen} left`);
}

/**
 * The lowest free host address of the subnet (not network, broadcast or gateway), within
 * `range` (Docker's --ip-range) when given: Docker's sequential IPv4 allocation.
 * @throws IpamError when none is left.
 */
export function allocateAddress(subnet: Cidr, gateway: string, used: Set<string>, range?: Cidr): string {
  const last = subnet.base + size(subnet) - 1;
  const from = Math.max(subnet.base + 1, range?.base ?? 0);
  const to = Math.min(last, range ? range.base + size(range) : last);
  for (let a = from; a < to; a++) {
    const ip = intToIp(a);
    if (ip !== gateway && !used.has(ip)) return ip;
  }
  throw new IpamError(`no free address left in ${formatCidr(range ?? subnet)}`);
}

/** Docker's container MAC: 02:42 followed by the IPv4 address bytes, lower-case hex.
 * @throws IpamError for a bad address (ipToInt). */
export function macFor(ip: string): string {
  const n = ipToInt(ip);
  return [
    "02",
    "42",
    ...[n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].map((b) => b.toString(16).padStart(2, "0")),
  ]
    .join(":");
}

/** Docker-style 25-character lower-case alphanumeric object id. */
export function objectId(): string {
  const abc = "abcdefghijklmnopqrstuvwxyz0123456789";
  const b = crypto.getRandomValues(new Uint8Array(25));
  return Array.from(b, (x) => abc[x % 36]).join("");
}
