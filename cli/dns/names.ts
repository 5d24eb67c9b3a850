// The names the embedded DNS server owns: every endpoint of the control plane's snapshot gives
// its container's name and its --network-alias names on its network. Rebuilt whole on every
// snapshot (a snapshot is the truth; there are no deltas to miss), so a removed container stops
// resolving as soon as its node receives the snapshot without it.
//
// Scope follows Docker's user-defined networks: a container resolves a name only on the networks
// it shares with its owner; the same name on two shared networks, or one alias on several
// containers, answers every address (Docker answers all of them, in random order). "NAME.NETWORK"
// asks one network only (libnetwork's Sandbox.ResolveName strips a suffix that names one of the
// sandbox's networks).

/** What the table needs of an endpoint record (cli/control/swarm/types.ts EndpointRecord). */
export interface NamedEndpoint {
  /** Network id. */
  network: string;
  /** Container name. */
  container: string;
  /** --network-alias names (absent on records from before aliases existed). */
  aliases?: string[];
  /** IPv4 address. */
  ip: string;
  /** IPv6 address, on networks with one. */
  ip6?: string;
}

/** Addresses of one name, by record type. */
export interface Addresses {
  a: string[];
  aaaa: string[];
}

/** A DNS name as a table key: case-insensitive (RFC 4343), the root's trailing dot dropped. */
export function canonical(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/**
 * Hostnames Docker accepts as --network-alias, and DNS can carry: labels of letters, digits,
 * "_" and "-", 1–63 characters each, dot-separated, at most 253 in all (RFC 1035 §2.3.4).
 */
export function validAlias(name: string): boolean {
  return name.length <= 253 &&
    /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*$/.test(name);
}

/** The last label of the reverse name for an IPv4 address (RFC 1035 §3.5). */
function reverseV4(ip: string): string {
  return `${ip.split(".").reverse().join(".")}.in-addr.arpa`;
}

/** ip6.arpa name of an IPv6 address (RFC 3596 §2.5): nibbles, least significant first. */
function reverseV6(ip: string): string | undefined {
  const halves = ip.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const groups = [...head, ...Array(Math.max(fill, 0)).fill("0"), ...tail];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  const hex = groups.map((g) => g.padStart(4, "0")).join("").toLowerCase();
  return `${[...hex].reverse().join(".")}.ip6.arpa`;
}

/** The IPv4 address an in-addr.arpa name stands for, as a u32 (undefined for other names). */
function fromReverseV4(name: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/.exec(name);
  if (!m) return undefined;
  const o = [m[4], m[3], m[2], m[1]].map(Number);
  if (o.some((x) => x > 255)) return undefined;
  return ((o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3]) >>> 0;
}

/** "10.0.0.0/24" → [network, mask] as u32s; undefined when it is not an IPv4 CIDR. */
function cidrV4(cidr: string): [number, number] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!m || Number(m[5]) > 32) return undefined;
  const addr = ((+m[1] << 24) | (+m[2] << 16) | (+m[3] << 8) | +m[4]) >>> 0;
  const mask = Number(m[5]) === 0 ? 0 : (0xffffffff << (32 - Number(m[5]))) >>> 0;
  return [(addr & mask) >>> 0, mask];
}

/** A network as the table needs it: id, name (NAME.NETWORK), IPv4 subnet (reverse names). */
export interface NamedNetwork {
  id: string;
  name: string;
  subnet?: string;
}

export class NameTable {
  /** network id → canonical name → addresses */
  private readonly names = new Map<string, Map<string, Addresses>>();
  /** network id → reverse name → container name */
  private readonly ptr = new Map<string, Map<string, string>>();
  /** network id → "." + canonical network name, for NAME.NETWORK */
  private readonly suffix = new Map<string, string>();
  /** network id → IPv4 subnet [network, mask] */
  private readonly subnet = new Map<string, [number, number]>();

  /** The table of a snapshot's endpoints; `networks` enable NAME.NETWORK and ownsReverse(). */
  static from(
    endpoints: Iterable<NamedEndpoint>,
    networks: Iterable<NamedNetwork> = [],
  ): NameTable {
    const t = new NameTable();
    for (const e of endpoints) t.add(e);
    for (const n of networks) {
      t.suffix.set(n.id, `.${canonical(n.name)}`);
      const c = n.subnet ? cidrV4(n.subnet) : undefined;
      if (c) t.subnet.set(n.id, c);
    }
    return t;
  }

  private add(e: NamedEndpoint): void {
    let net = this.names.get(e.network);
    if (!net) this.names.set(e.network, net = new Map());
    for (const n of new Set([e.container, ...(e.aliases ?? [])].map(canonical))) {
      if (!n) continue;
      let addrs = net.get(n);
      if (!addrs) net.set(n, addrs = { a: [], aaaa: [] });
      if (e.ip && !addrs.a.includes(e.ip)) addrs.a.push(e.ip);
      if (e.ip6 && !addrs.aaaa.includes(e.ip6)) addrs.aaaa.push(e.ip6);
    }
    let rev = this.ptr.get(e.network);
    if (!rev) this.ptr.set(e.network, rev = new Map());
    if (e.ip) rev.set(reverseV4(e.ip), e.container);
    const r6 = e.ip6 ? reverseV6(e.ip6) : undefined;
    if (r6) rev.set(r6, e.container);
  }

  /** Addresses of `name` on any of `networks` (ids), or undefined when none of them has it. */
  lookup(networks: Iterable<string>, name: string): Addresses | undefined {
    const key = canonical(name);
    let out: Addresses | undefined;
    for (const id of networks) {
      const net = this.names.get(id);
      const sfx = this.suffix.get(id);
      const hit = net?.get(key) ??
        (sfx && key.endsWith(sfx) ? net?.get(key.slice(0, -sfx.length)) : undefined);
      if (!hit) continue;
      out ??= { a: [], aaaa: [] };
      for (const ip of hit.a) if (!out.a.includes(ip)) out.a.push(ip);
      for (const ip of hit.aaaa) if (!out.aaaa.includes(ip)) out.aaaa.push(ip);
    }
    return out;
  }

  /**
   * Whether a reverse name falls in the IPv4 subnet of one of `networks`: then it is this
   * server's to answer, NXDOMAIN when no container has the address, never the host resolvers'
   * (who cannot know, and may be slow to say so: moby#50044).
   */
  ownsReverse(networks: Iterable<string>, name: string): boolean {
    const ip = fromReverseV4(canonical(name));
    if (ip === undefined) return false;
    for (const id of networks) {
      const c = this.subnet.get(id);
      if (c && ((ip & c[1]) >>> 0) === c[0]) return true;
    }
    return false;
  }

  /** The container name behind a reverse name (x.x.x.x.in-addr.arpa, ….ip6.arpa) on `networks`. */
  reverse(networks: Iterable<string>, name: string): string | undefined {
    const key = canonical(name);
    for (const id of networks) {
      const hit = this.ptr.get(id)?.get(key);
      if (hit) return hit;
    }
    return undefined;
  }
}
