// The embedded DNS server: Docker's 127.0.0.11 inside every container, served by the daemon.
//
// Design: one UDP socket and one TCP listener per container, bound to 127.0.0.11:53 *inside the
// container's network namespace* (cli/sys/netns.ts: the daemon's thread steps in for socket() and
// bind() only), all served by the daemon's own event loop. Why this and not a resolver process per container:
//  - the names are already in the daemon (the control plane's snapshot), so an answer is a map
//    lookup in the process that receives the query: no IPC hop, nothing to keep in sync, and a
//    removed container stops resolving the moment the snapshot without it is applied;
//  - a Deno process per container would cost tens of MB and most of a second to start, for a
//    few queries;
//  - the socket being inside the namespace, the container's 127.0.0.11:53 works as in Docker
//    without the DNAT rules Docker needs (its resolver listens on random ports);
//  - forwarding leaves from the daemon's namespace, the host's: the host's resolvers are reached
//    as the host reaches them (a loopback resolver such as systemd-resolved's 127.0.0.53 works,
//    which Docker has to special-case), and a container needs no way out for names.
// Cost: the daemon holds one socket per container, and DNS stops while the daemon is down (so
// does the data plane); a restarted daemon opens them again.

import { decide, type Outcome, servfail, TCP_MAX } from "./message.ts";
import { type NamedEndpoint, type NamedNetwork, NameTable } from "./names.ts";
import { withNetns } from "../sys/netns.ts";

/** Docker's embedded DNS address, inside every container. */
export const RESOLVER_ADDR = "127.0.0.11";
export const DNS_PORT = 53;
/** How long one upstream gets to answer a forwarded query before the next is tried, ms. */
export const FORWARD_TIMEOUT_MS = 2000;
/** Forwarded queries in flight at once; past it queries are dropped (the client retries). */
export const MAX_INFLIGHT = 256;
/** TCP connections served at once per container; more wait in the kernel's backlog. */
export const MAX_TCP_CONNS = 16;
/** A TCP client idle this long is closed (RFC 7766 §6.2.3 asks for seconds, not minutes), ms. */
export const TCP_IDLE_MS = 10_000;
/** The largest query taken over UDP (EDNS0's usual 4096-byte buffer); longer ones arrive cut. */
const UDP_RECEIVE_MAX = 4096;
/** How long the host's resolv.conf is trusted before it is read again, ms. */
const UPSTREAMS_TTL_MS = 5000;

export interface Upstream {
  hostname: string;
  port: number;
}

/** "IP", "IP:PORT", "[IPv6]:PORT" → an upstream; undefined when it is none of those. */
export function parseUpstream(text: string): Upstream | undefined {
  let host: string, port = DNS_PORT;
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(text);
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(text);
  if (bracketed ?? v4) {
    const m = (bracketed ?? v4)!;
    host = m[1]!;
    if (m[2]) port = Number(m[2]);
    if (v4 && host.split(".").some((o) => Number(o) > 255)) return undefined;
  } else if (/^[0-9a-fA-F:]*:[0-9a-fA-F:.]*$/.test(text)) host = text;
  else return undefined;
  if (port < 1 || port > 65535) return undefined;
  return { hostname: host, port };
}

export type DnsCounter = Outcome | "queries" | "servfail" | "drop_busy" | "send_errors";

/** The embedded DNS server's counters in `weft stats` order, each with what it counts. */
export const DNS_COUNTERS: readonly (readonly [DnsCounter, string])[] = [
  ["queries", "messages received on 127.0.0.11:53, UDP and TCP"],
  ["answered", "answered here with records (A, AAAA, PTR)"],
  ["nodata", "a name of ours without records of the asked type: NOERROR, no answer"],
  ["nxdomain", "PTR of a free address of the asker's subnets"],
  ["formerr", "undecodable, shorter than the header, or not one question: FORMERR"],
  ["notimp", "an opcode other than QUERY: NOTIMP"],
  ["forward", "not ours: sent to the upstream resolvers"],
  ["servfail", "of those forwarded: no upstream answered, SERVFAIL"],
  ["drop_short", "dropped: a lone byte, no ID to answer to"],
  ["drop_response", "dropped: a response (QR set), never answered so two servers cannot loop"],
  ["drop_busy", "of those forwarded: dropped, MAX_INFLIGHT were in flight already"],
  ["send_errors", "answers the socket refused to send"],
];

export interface EmbeddedDnsOptions {
  /** Where names that are not ours go, read when needed (the daemon's --dns, or resolv.conf). */
  upstreams: () => Upstream[];
  /** Ids of the networks a container is on: the names it may resolve. */
  networksOf: (container: string) => string[];
  log?: (m: string) => void;
}

export class EmbeddedDns {
  private table = new NameTable();
  private readonly conns = new Map<string, { udp: Deno.DatagramConn; tcp: Deno.Listener }>();
  private inflight = 0;
  private cached?: { at: number; list: Upstream[] };
  readonly counters: Record<DnsCounter, number> = {
    queries: 0,
    answered: 0,
    nodata: 0,
    nxdomain: 0,
    formerr: 0,
    notimp: 0,
    forward: 0,
    servfail: 0,
    drop_short: 0,
    drop_response: 0,
    drop_busy: 0,
    send_errors: 0,
  };

  constructor(private readonly o: EmbeddedDnsOptions) {}

  private log(m: string): void {
    (this.o.log ?? console.error)(`dns: ${m}`);
  }

  /** Replaces the names with those of a snapshot's endpoints (and networks, for NAME.NETWORK). */
  setEndpoints(
    endpoints: Iterable<NamedEndpoint>,
    networks: Iterable<NamedNetwork> = [],
  ): void {
    this.table = NameTable.from(endpoints, networks);
  }

  /** Whether container `name` has its listener. */
  serves(name: string): boolean {
    return this.conns.has(name);
  }

  /**
   * Opens 127.0.0.11:53, UDP and TCP (RFC 7766: a server must take both), inside the container's
   * network namespace and serves them.
   * @throws SysError when the namespace cannot be entered; Deno.errors.AddrInUse when something
   * else holds 127.0.0.11:53 there.
   */
  attach(container: string): void {
    const [udp, tcp] = withNetns(container, () => {
      const u = Deno.listenDatagram({ hostname: RESOLVER_ADDR, port: DNS_PORT, transport: "udp" });
      try {
        return [u, Deno.listen({ hostname: RESOLVER_ADDR, port: DNS_PORT, transport: "tcp" })] as const;
      } catch (e) {
        u.close();
        throw e;
      }
    });
    this.serveSockets(container, udp, tcp);
  }

  /** Serves container `container`'s queries arriving on these sockets (attach() opens them). */
  serveSockets(container: string, udp: Deno.DatagramConn, tcp: Deno.Listener): void {
    this.detach(container);
    const pair = { udp, tcp };
    this.conns.set(container, pair);
    this.serve(container, udp).catch((e) => this.log(`${container}: ${e}`));
    this.serveTcp(container, pair).catch((e) => this.log(`${container}: tcp: ${e}`));
  }

  detach(container: string): void {
    const pair = this.conns.get(container);
    this.conns.delete(container);
    for (const s of [pair?.udp, pair?.tcp]) {
      try {
        s?.close();
      } catch { /* closed */ }
    }
  }

  close(): void {
    for (const name of [...this.conns.keys()]) this.detach(name);
  }

  private async serve(container: string, conn: Deno.DatagramConn): Promise<void> {
    // One buffer for every datagram (receive() would allocate 64 KiB per call), each query copied
    // out of it: under a flood, allocation was most of the cost per datagram.
    const buf = new Uint8Array(UDP_RECEIVE_MAX);
    while (this.conns.get(container)?.udp === conn) {
      let msg: [Uint8Array, Deno.Addr];
      try {
        msg = await conn.receive(buf);
      } catch (e) {
        if (this.conns.get(container)?.udp !== conn) return; // detached
        this.log(`${container}: receive: ${e instanceof Error ? e.message : e}`);
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      this.handle(container, conn, msg[0].slice(), msg[1] as Deno.NetAddr).catch((e) =>
        this.log(`${container}: ${e instanceof Error ? e.message : e}`)
      );
    }
  }

  private async handle(container: string, conn: Deno.DatagramConn, query: Uint8Array, from: Deno.NetAddr) {
    const out = await this.respond(container, query, false);
    if (!out) return;
    try {
      await conn.send(out, from);
    } catch {
      this.counters.send_errors++;
    }
  }

  /** The answer to one query from `container` (forwarded if need be), or undefined: no answer. */
  private async respond(container: string, query: Uint8Array, tcp: boolean): Promise<Uint8Array | undefined> {
    this.counters.queries++;
    const nets = this.o.networksOf(container);
    const table = this.table;
    const v = decide(query, {
      lookup: (n) => table.lookup(nets, n),
      reverse: (n) => table.reverse(nets, n),
      ownsReverse: (n) => table.ownsReverse(nets, n),
    }, tcp ? TCP_MAX : undefined);
    this.counters[v.outcome]++;
    if ("reply" in v) return v.reply;
    if (v.outcome !== "forward") return undefined;
    if (this.inflight >= MAX_INFLIGHT) {
      this.counters.drop_busy++;
      return undefined;
    }
    this.inflight++;
    let out: Uint8Array | undefined;
    try {
      out = tcp ? await this.forwardTcp(query) : await this.forward(query);
    } finally {
      this.inflight--;
    }
    if (!out) {
      this.counters.servfail++;
      out = servfail(query);
    }
    return out;
  }

  private async serveTcp(container: string, pair: { tcp: Deno.Listener }): Promise<void> {
    let open = 0;
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await pair.tcp.accept();
      } catch (e) {
        if (this.conns.get(container) !== pair) return; // detached
        this.log(`${container}: accept: ${e instanceof Error ? e.message : e}`);
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      if (open >= MAX_TCP_CONNS) {
        conn.close();
        continue;
      }
      open++;
      this.tcpSession(container, conn).catch(() => {}).finally(() => {
        open--;
        try {
          conn.close();
        } catch { /* closed */ }
      });
    }
  }

  /** Length-prefixed queries (RFC 1035 §4.2.2), answered in order, until EOF or TCP_IDLE_MS idle. */
  private async tcpSession(container: string, conn: Deno.Conn): Promise<void> {
    for (;;) {
      const len = await readExactly(conn, 2, TCP_IDLE_MS);
      if (!len) return;
      const n = (len[0] << 8) | len[1];
      const query = await readExactly(conn, n, TCP_IDLE_MS);
      if (!query) return;
      const out = await this.respond(container, query, true);
      if (!out) return; // nothing to say (a response, a stub of a header): the stream is not DNS
      await writeAll(conn, framed(out));
    }
  }

  /** forward() over TCP, for queries that came over TCP (a truncated UDP answer's retry). */
  async forwardTcp(query: Uint8Array): Promise<Uint8Array | undefined> {
    for (const up of this.upstreams()) {
      let conn: Deno.TcpConn | undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const connecting = Deno.connect({ hostname: up.hostname, port: up.port });
        const timeout = new Promise<undefined>((r) =>
          timer = setTimeout(() => r(undefined), FORWARD_TIMEOUT_MS)
        );
        conn = await Promise.race([connecting, timeout]);
        clearTimeout(timer);
        if (!conn) {
          connecting.then((c) => c.close()).catch(() => {});
          continue;
        }
        await writeAll(conn, framed(query));
        const len = await readExactly(conn, 2, FORWARD_TIMEOUT_MS);
        if (!len) continue;
        const data = await readExactly(conn, (len[0] << 8) | len[1], FORWARD_TIMEOUT_MS);
        if (!data || data.length < 12 || data[0] !== query[0] || data[1] !== query[1] || !(data[2] & 0x80)) {
          continue;
        }
        return data;
      } catch {
        // refused, unreachable, reset: the next upstream
      } finally {
        clearTimeout(timer);
        try {
          conn?.close();
        } catch { /* closed */ }
      }
    }
    return undefined;
  }

  /** The upstreams in force: the daemon's list, re-read at most every UPSTREAMS_TTL_MS. */
  private upstreams(): Upstream[] {
    const now = Date.now();
    if (!this.cached || now - this.cached.at > UPSTREAMS_TTL_MS) {
      this.cached = { at: now, list: this.o.upstreams() };
    }
    return this.cached.list;
  }

  /**
   * Sends the query as it came to each upstream in turn (from a fresh socket on a random port,
   * in the daemon's namespace) and returns the first answer from that upstream's address and port
   * with the query's ID (RFC 5452 §9.1); undefined when none answered in FORWARD_TIMEOUT_MS each.
   */
  async forward(query: Uint8Array): Promise<Uint8Array | undefined> {
    for (const up of this.upstreams()) {
      let sock: Deno.DatagramConn;
      try {
        sock = Deno.listenDatagram({
          hostname: up.hostname.includes(":") ? "::" : "0.0.0.0",
          port: 0,
          transport: "udp",
        });
      } catch {
        continue;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<undefined>((r) =>
        timer = setTimeout(() => r(undefined), FORWARD_TIMEOUT_MS)
      );
      try {
        await sock.send(query, { transport: "udp", hostname: up.hostname, port: up.port });
        for (;;) {
          const got = await Promise.race([sock.receive().catch(() => undefined), timeout]);
          if (!got) break;
          const [data, addr] = got as [Uint8Array, Deno.NetAddr];
          if (addr.port !== up.port || !sameHost(addr.hostname, up.hostname)) continue;
          if (data.length < 12 || data[0] !== query[0] || data[1] !== query[1] || !(data[2] & 0x80)) continue;
          return data;
        }
      } catch {
        // unreachable upstream (no route, refused): try the next
      } finally {
        clearTimeout(timer);
        try {
          sock.close();
        } catch { /* closed */ }
      }
    }
    return undefined;
  }
}

/** A message with its 2-byte length prefix (RFC 1035 §4.2.2). */
function framed(msg: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + msg.length);
  out[0] = msg.length >> 8;
  out[1] = msg.length & 0xff;
  out.set(msg, 2);
  return out;
}

/** Exactly n bytes from the stream, or undefined at EOF or after `ms` without them. */
async function readExactly(conn: Deno.Conn, n: number, ms: number): Promise<Uint8Array | undefined> {
  const buf = new Uint8Array(n);
  let got = 0, timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((r) => timer = setTimeout(() => r(null), ms));
  try {
    while (got < n) {
      const k = await Promise.race([conn.read(buf.subarray(got)), timeout]);
      if (k === null) return undefined;
      got += k;
    }
    return buf;
  } finally {
    clearTimeout(timer);
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
}

function sameHost(a: string, b: string): boolean {
  return a === b || a.replace(/^::ffff:/, "") === b.replace(/^::ffff:/, "");
}
