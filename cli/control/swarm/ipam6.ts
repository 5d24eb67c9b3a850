// IPv6 address management for overlays with --ipv6 (Docker's IPAM for an IPv6 --subnet): the
// gateway at the subnet's ::1 unless --gateway names one, containers from ::2 up in order (Docker's
// sequential allocator), addresses printed as RFC 5952 says (lower case, longest zero run as "::").

import { parseIpv6 } from "../../core/addr.ts";
import { IpamError } from "./ipam.ts";

/** An IPv6 prefix: `base` the network address as a 128-bit bigint, `bits` its length. */
export interface Cidr6 {
  base: bigint;
  bits: number;
}

/** An IPv6 address (RFC 4291 §2.2 text, no embedded IPv4 tail) as a 128-bit bigint.
 * @throws IpamError for anything but an IPv6 address */
export function ip6ToBig(text: string): bigint {
  const b = parseIpv6(text);
  if (!b || text.includes(".")) throw new IpamError(`invalid IPv6 address "${text}"`);
  return b.reduce((n, x) => (n << 8n) | BigInt(x), 0n);
}

/** RFC 5952 §4: lower case, no leading zeros, the longest run (≥ 2) of zero groups as "::". */
export function bigToIp6(n: bigint): string {
  const g = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/** True when a --subnet/--ip-range text is IPv6 (has a colon); which parser to use, not a check. */
export function isIpv6Cidr(text: string): boolean {
  return text.includes(":");
}

/** "addr/N" (N 0..128) as a Cidr6.
 * @throws IpamError for a malformed prefix or host bits set */
export function parseCidr6(text: string): Cidr6 {
  const m = /^([0-9a-fA-F:]+)\/(\d{1,3})$/.exec(text);
  if (!m || Number(m[2]) > 128) {
    throw new IpamError(`invalid subnet "${text}": expected an IPv6 prefix like fd00:10::/64`);
  }
  const bits = Number(m[2]);
  const base = ip6ToBig(m[1]);
  if (base & ((1n << BigInt(128 - bits)) - 1n)) {
    throw new IpamError(`invalid subnet "${text}": host bits are set`);
  }
  return { base, bits };
}

/** "addr/N", the address as RFC 5952 writes it. */
export function formatCidr6(c: Cidr6): string {
  return `${bigToIp6(c.base)}/${c.bits}`;
}

/** Addresses in the prefix, 2^(128 − bits). */
export function size6(c: Cidr6): bigint {
  return 1n << BigInt(128 - c.bits);
}

/** True when the address (ip6ToBig form) is in the prefix. */
export function contains6(c: Cidr6, ip: bigint): boolean {
  return ip >= c.base && ip < c.base + size6(c);
}

/** True when the two prefixes share an address. */
export function overlaps6(a: Cidr6, b: Cidr6): boolean {
  return a.base < b.base + size6(b) && b.base < a.base + size6(a);
}

/**
 * The lowest free address of `range` (default: the subnet) from ::1 on, not the subnet-router
 * anycast address (RFC 4291 §2.6.1, the all-zero host part) and not the gateway.
 * @throws IpamError when none is left among the first `limit` candidates
 */
export function allocateAddress6(
  subnet: Cidr6,
  gateway: string,
  used: Set<string>,
  range?: Cidr6,
  limit = 1 << 16,
): string {
  const r = range ?? subnet;
  const first = r.base === subnet.base ? r.base + 1n : r.base;
  const end = r.base + size6(r);
  for (let a = first, n = 0; a < end && n < limit; a++, n++) {
    const ip = bigToIp6(a);
    if (ip !== gateway && !used.has(ip)) return ip;
  }
  throw new IpamError(`no free address left in ${formatCidr6(r)}`);
}
