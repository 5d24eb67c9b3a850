// `docker network create -d overlay` options checked before anything is written: what depends on
// the input only (Docker refuses the same things, with the same words where it has them).

import { SwarmError } from "./errors.ts";
import { type Cidr, contains, formatCidr, IpamError, ipToInt, parseCidr } from "./ipam.ts";
import { bigToIp6, type Cidr6, contains6, formatCidr6, ip6ToBig, isIpv6Cidr, parseCidr6 } from "./ipam6.ts";
import { type NetworkOptions, validName } from "./types.ts";

/** A network's addressing as given on the command line, checked: at most one subnet, gateway
 * and range per family (undefined: allocate / default). */
export interface NetworkSpec {
  /** IPv4: --subnet (none: from the pool), --gateway (none: the subnet's first address), --ip-range. */
  v4: { subnet?: Cidr; gateway?: string; range?: Cidr };
  /** IPv6 (with --ipv6): --subnet, --gateway (canonical text), --ip-range. */
  v6: { subnet?: Cidr6; gateway?: string; range?: Cidr6 };
}

/**
 * Checks what depends on the input only, before any write: at most one IPv4 and (with `ipv6`,
 * which needs one) one IPv6 --subnet, IPv4 at most /30 and IPv6 at most /124; each --gateway and
 * --ip-range in the subnet of its family (Docker: "no matching subnet for gateway …"); the
 * com.docker.network.driver.mtu option in 68..65535.
 * @throws SwarmError (400) naming the bad value.
 */
export function parseNetworkOptions(o: NetworkOptions): NetworkSpec {
  if (!validName(o.name)) {
    throw new SwarmError(`invalid network name "${o.name}": letters, digits, "_", "." and "-", up to 63`);
  }
  const list = (v: string | string[] | undefined) =>
    (v === undefined ? [] : Array.isArray(v) ? v : [v]).map(String);
  const subnets = list(o.subnet), gateways = list(o.gateway), ranges = list(o.ipRange);
  const v4: NetworkSpec["v4"] = {};
  const v6: NetworkSpec["v6"] = {};
  try {
    for (const t of subnets) {
      if (isIpv6Cidr(t)) {
        if (v6.subnet) {
          throw new IpamError(`only one IPv6 --subnet per network, got ${formatCidr6(v6.subnet)} and ${t}`);
        }
        v6.subnet = parseCidr6(t);
        if (v6.subnet.bits > 124) throw new IpamError(`subnet ${t} is too small: at most /124`);
      } else {
        if (v4.subnet) {
          throw new IpamError(`only one IPv4 --subnet per network, got ${formatCidr(v4.subnet)} and ${t}`);
        }
        v4.subnet = parseCidr(t);
        if (v4.subnet.bits > 30) throw new IpamError(`subnet ${t} is too small: at most /30`);
      }
    }
    if (v6.subnet && !o.ipv6) throw new IpamError(`IPv6 subnet ${formatCidr6(v6.subnet)} needs --ipv6`);
    if (o.ipv6 && !v6.subnet) {
      throw new IpamError(
        "--ipv6 needs an IPv6 --subnet (weft has no default IPv6 pool), e.g. --subnet fd00:10::/64",
      );
    }
    for (const g of gateways) {
      if (g.includes(":")) {
        if (!v6.subnet || !contains6(v6.subnet, ip6ToBig(g))) {
          throw new IpamError(`no matching subnet for gateway ${g}`);
        }
        v6.gateway = bigToIp6(ip6ToBig(g));
      } else {
        // No explicit IPv4 subnet: a pool subnet cannot be known to contain it.
        if (!v4.subnet || !contains(v4.subnet, ipToInt(g))) {
          throw new IpamError(`no matching subnet for gateway ${g}`);
        }
        v4.gateway = g;
      }
    }
    for (const r of ranges) {
      if (isIpv6Cidr(r)) {
        const rr = parseCidr6(r);
        if (!v6.subnet || !contains6(v6.subnet, rr.base) || rr.bits < v6.subnet.bits) {
          throw new IpamError(`no matching subnet for range ${r}`);
        }
        v6.range = rr;
      } else {
        const rr = parseCidr(r);
        if (!v4.subnet || !contains(v4.subnet, rr.base) || rr.bits < v4.subnet.bits) {
          throw new IpamError(`no matching subnet for range ${r}`);
        }
        v4.range = rr;
      }
    }
    if (o.mtu !== undefined && (!Number.isInteger(o.mtu) || o.mtu < 68 || o.mtu > 65535)) {
      throw new IpamError(`com.docker.network.driver.mtu must be an integer in 68..65535, got ${o.mtu}`);
    }
  } catch (e) {
    if (e instanceof IpamError) throw new SwarmError(e.message);
    if (e instanceof Error && !(e instanceof SwarmError)) throw new SwarmError(e.message);
    throw e;
  }
  return { v4, v6 };
}
