// The embedded DNS server's decisions, without namespaces: the name table's scope, what decide()
// answers for each kind of datagram (checked by decoding the reply with dns-packet), FORMERR for
// garbage, no input that makes it throw, and forwarding to an upstream on loopback.

import assert from "node:assert/strict";
import * as dnsPacket from "dns-packet";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import { NameTable, validAlias } from "../../cli/dns/names.ts";
import {
  ANSWER_TTL,
  decide,
  EDNS_UDP_MAX,
  RCODE,
  servfail,
  TCP_MAX,
  UDP_MAX,
  type Zone,
} from "../../cli/dns/message.ts";
import { DNS_COUNTERS, EmbeddedDns, parseUpstream } from "../../cli/dns/server.ts";
import { containerResolvConf, parseResolvConf } from "../../cli/dns/resolv_conf.ts";
import { bindPair, startUpstream } from "./upstream.ts";

const table = NameTable.from([
  { network: "n1", container: "c1", ip: "10.0.0.2" },
  { network: "n1", container: "c2", aliases: ["db", "Cache.Local"], ip: "10.0.0.3", ip6: "fd00:10::3" },
  { network: "n1", container: "c4", aliases: ["db"], ip: "10.0.0.4" },
  { network: "n2", container: "c3", ip: "10.0.1.2" },
], [{ id: "n1", name: "front", subnet: "10.0.0.0/24" }, { id: "n2", name: "back", subnet: "10.0.1.0/24" }]);

function zoneOf(nets: string[]): Zone {
  return {
    lookup: (n) => table.lookup(nets, n),
    reverse: (n) => table.reverse(nets, n),
    ownsReverse: (n) => table.ownsReverse(nets, n),
  };
}

function query(name: string, type: dnsPacket.RecordType = "A", id = 0x1234): Uint8Array {
  return new Uint8Array(dnsPacket.encode({
    type: "query",
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: "IN" }],
  }));
}

function decoded(v: ReturnType<typeof decide>) {
  assert.ok("reply" in v, `expected a reply, got ${v.outcome}`);
  return dnsPacket.decode(Buffer.from(v.reply));
}

const rcodeOf = (p: dnsPacket.DecodedPacket) => (p.flags ?? 0) & 0xf;
/** The answer records (the typings' union includes OPT, which has no data or TTL). */
const answersOf = (p: dnsPacket.DecodedPacket) =>
  (p.answers ?? []) as { type: string; data: unknown; ttl?: number }[];

Deno.test("names: a container resolves names only on the networks it shares with them", () => {
  assert.deepEqual(table.lookup(["n1"], "c2"), { a: ["10.0.0.3"], aaaa: ["fd00:10::3"] });
  assert.equal(table.lookup(["n1"], "c3"), undefined);
  assert.deepEqual(table.lookup(["n1", "n2"], "c3"), { a: ["10.0.1.2"], aaaa: [] });
  assert.equal(table.lookup([], "c1"), undefined);
});

Deno.test("names: aliases, case-insensitive, trailing dot; one alias on two containers gives both", () => {
  assert.deepEqual(table.lookup(["n1"], "DB.")?.a.sort(), ["10.0.0.3", "10.0.0.4"]);
  assert.deepEqual(table.lookup(["n1"], "cache.local")?.a, ["10.0.0.3"]);
  assert.equal(table.reverse(["n1"], "3.0.0.10.in-addr.arpa"), "c2");
  assert.equal(
    table.reverse(["n1"], "3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.d.f.ip6.arpa"),
    "c2",
  );
  assert.equal(table.reverse(["n2"], "3.0.0.10.in-addr.arpa"), undefined);
});

Deno.test("names: NAME.NETWORK asks that network only, and only if the asker is on it", () => {
  assert.deepEqual(table.lookup(["n1"], "c2.front")?.a, ["10.0.0.3"]);
  assert.deepEqual(table.lookup(["n1"], "DB.Front.")?.a.sort(), ["10.0.0.3", "10.0.0.4"]);
  assert.equal(table.lookup(["n1"], "c2.back"), undefined);
  assert.equal(table.lookup(["n1"], "c3.back"), undefined);
  assert.deepEqual(table.lookup(["n1", "n2"], "c3.back")?.a, ["10.0.1.2"]);
});

Deno.test("names: validAlias takes hostnames and refuses what DNS cannot carry", () => {
  for (const ok of ["db", "web-1", "a.b.c", "_svc", "x".repeat(63)]) assert.ok(validAlias(ok), ok);
  for (const bad of ["", "-x", "a..b", "a b", "x".repeat(64), "a/b", "é", `${"a.".repeat(127)}ab`]) {
    assert.ok(!validAlias(bad), bad);
  }
});

Deno.test("decide: A for a container name, every address of an alias, TTL 600, AA and RA set", () => {
  const r = decoded(decide(query("c2"), zoneOf(["n1"])));
  assert.equal(r.id, 0x1234);
  assert.equal(r.type, "response");
  assert.equal(rcodeOf(r), RCODE.NOERROR);
  assert.ok(r.flag_aa && r.flag_ra && r.flag_rd);
  assert.deepEqual(r.questions, [{ name: "c2", type: "A", class: "IN" }]);
  assert.deepEqual(answersOf(r).map((a) => [a.type, a.data, a.ttl]), [["A", "10.0.0.3", ANSWER_TTL]]);
  const alias = decoded(decide(query("db"), zoneOf(["n1"])));
  assert.deepEqual(answersOf(alias).map((a) => a.data).sort(), ["10.0.0.3", "10.0.0.4"]);
});

Deno.test("decide: AAAA where the endpoint has IPv6; a known name without it is NOERROR, no data", () => {
  const six = decoded(decide(query("c2", "AAAA"), zoneOf(["n1"])));
  assert.deepEqual(answersOf(six).map((a) => [a.type, a.data]), [["AAAA", "fd00:10::3"]]);
  const v = decide(query("c1", "AAAA"), zoneOf(["n1"]));
  assert.equal(v.outcome, "nodata");
  const r = decoded(v);
  assert.equal(rcodeOf(r), RCODE.NOERROR);
  assert.equal(r.answers!.length, 0);
  assert.equal(decide(query("c1", "MX"), zoneOf(["n1"])).outcome, "nodata");
});

Deno.test("decide: PTR of a container address answers its name; another of its subnet is NXDOMAIN", () => {
  const r = decoded(decide(query("4.0.0.10.in-addr.arpa", "PTR"), zoneOf(["n1"])));
  assert.deepEqual(answersOf(r).map((a) => [a.type, a.data]), [["PTR", "c4"]]);
  assert.equal(decide(query("9.9.9.9.in-addr.arpa", "PTR"), zoneOf(["n1"])).outcome, "forward");
  // An unused address of the asker's subnet is ours to deny, not the host resolvers' (moby#50044).
  const v = decide(query("77.0.0.10.in-addr.arpa", "PTR"), zoneOf(["n1"]));
  assert.equal(v.outcome, "nxdomain");
  assert.equal(rcodeOf(decoded(v)), RCODE.NXDOMAIN);
  assert.equal(decide(query("77.1.0.10.in-addr.arpa", "PTR"), zoneOf(["n1"])).outcome, "forward");
});

Deno.test("decide: names not ours, other networks' names and other classes are forwarded", () => {
  assert.equal(decide(query("example.org"), zoneOf(["n1"])).outcome, "forward");
  assert.equal(decide(query("c3"), zoneOf(["n1"])).outcome, "forward");
  const chaos = new Uint8Array(dnsPacket.encode({
    type: "query",
    id: 1,
    questions: [{ type: "TXT", name: "c1", class: "CH" }],
  }));
  assert.equal(decide(chaos, zoneOf(["n1"])).outcome, "forward");
});

Deno.test("decide: garbage gets FORMERR with its ID; a lone byte and responses are dropped", () => {
  const garbage = new Uint8Array([0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x3f, 0xff, 0xff]);
  const v = decide(garbage, zoneOf(["n1"]));
  assert.equal(v.outcome, "formerr");
  const r = decoded(v);
  assert.equal(r.id, 0xbeef);
  assert.equal(rcodeOf(r), RCODE.FORMERR);
  assert.ok(r.flag_rd, "RD copied");
  assert.equal(decide(new Uint8Array(1), zoneOf(["n1"])).outcome, "drop_short");
  const hello = decoded(decide(new TextEncoder().encode("hello\n"), zoneOf(["n1"])));
  assert.deepEqual([hello.id, rcodeOf(hello)], [0x6865, RCODE.FORMERR]);
  const resp = query("c1");
  resp[2] |= 0x80;
  assert.equal(decide(resp, zoneOf(["n1"])).outcome, "drop_response");
  // Two questions: FORMERR (RFC 1035 leaves QDCOUNT > 1 undefined; every server refuses it).
  const two = new Uint8Array(dnsPacket.encode({
    type: "query",
    id: 7,
    questions: [{ type: "A", name: "c1" }, { type: "A", name: "c2" }],
  }));
  assert.equal(decide(two, zoneOf(["n1"])).outcome, "formerr");
  // Opcode STATUS (2): NOTIMP.
  const status = query("c1");
  status[2] = (status[2] & 0x87) | (2 << 3);
  const n = decoded(decide(status, zoneOf(["n1"])));
  assert.equal(rcodeOf(n), RCODE.NOTIMP);
});

Deno.test("decide: an alias with more addresses than 512 bytes carry is cut and TC set", () => {
  const many = NameTable.from(
    Array.from(
      { length: 60 },
      (_, i) => ({ network: "n", container: `c${i}`, aliases: ["web"], ip: `10.0.0.${i + 2}` }),
    ),
  );
  const v = decide(query("web"), { lookup: (x) => many.lookup(["n"], x), reverse: () => undefined });
  assert.ok("reply" in v);
  assert.ok(v.reply.length <= UDP_MAX);
  const r = decoded(v);
  assert.ok(r.flag_tc);
  assert.ok(r.answers!.length > 10 && r.answers!.length < 60);
});

Deno.test("decide: EDNS — an OPT in the query gets one back, and the client's buffer size is honoured", () => {
  const many = NameTable.from(
    Array.from(
      { length: 100 },
      (_, i) => ({ network: "n", container: `c${i}`, aliases: ["web"], ip: `10.0.0.${i + 2}` }),
    ),
  );
  const zone = { lookup: (x: string) => many.lookup(["n"], x), reverse: () => undefined };
  const q = (size: number) =>
    new Uint8Array(dnsPacket.encode({
      type: "query",
      id: 5,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type: "A", name: "web", class: "IN" }],
      additionals: [{ type: "OPT", name: ".", udpPayloadSize: size } as dnsPacket.Answer],
    }));
  const big = decide(q(4096), zone);
  assert.ok("reply" in big && big.reply.length > UDP_MAX && big.reply.length <= EDNS_UDP_MAX);
  const r = decoded(big);
  assert.ok(r.flag_tc, "100 answers do not fit 1232 bytes either");
  assert.deepEqual((r.additionals ?? []).map((a) => a.type), ["OPT"]);
  assert.ok(answersOf(r).length > 50 && answersOf(r).length < 100);
  const small = decide(q(512), zone);
  assert.ok("reply" in small && small.reply.length <= UDP_MAX);
  // Over TCP, no cut.
  const tcp = decoded(decide(q(512), zone, TCP_MAX));
  assert.equal(answersOf(tcp).length, 100);
  assert.ok(!tcp.flag_tc);
});

Deno.test("decide: no datagram makes it throw; every reply decodes and echoes the ID", () => {
  const zone = zoneOf(["n1", "n2"]);
  const check = (bytes: Uint8Array) => {
    const v = decide(bytes, zone);
    if ("reply" in v) {
      const r = dnsPacket.decode(Buffer.from(v.reply));
      assert.equal(r.id, (bytes[0] << 8) | bytes[1]);
      assert.equal(r.type, "response");
    }
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => check(b)), { numRuns: 3000 });
  // Mutations of real queries reach deeper into the decoder than random bytes.
  const base = [...query("c2"), ...query("cache.local", "AAAA").slice(12)];
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      (muts) => {
        const b = new Uint8Array(base);
        for (const [i, x] of muts) b[i] = x;
        check(b);
      },
    ),
    { numRuns: 3000 },
  );
});

Deno.test("servfail echoes the question", () => {
  const r = dnsPacket.decode(Buffer.from(servfail(query("gone.example", "A", 99))));
  assert.equal(r.id, 99);
  assert.equal(rcodeOf(r), RCODE.SERVFAIL);
  assert.equal(r.questions![0].name, "gone.example");
});

Deno.test("resolv.conf: the host's nameservers and search; the container's points at 127.0.0.11", () => {
  const host = parseResolvConf(
    "# x\nnameserver 10.255.255.53\nnameserver fe80::1%eth0\nsearch a.test b.test\n",
  );
  assert.deepEqual(host, { nameservers: ["10.255.255.53", "fe80::1"], search: ["a.test", "b.test"] });
  const text = containerResolvConf(host, ["10.255.255.53"]);
  assert.deepEqual(text.split("\n").filter((l) => !l.startsWith("#") && l), [
    "nameserver 127.0.0.11",
    "search a.test b.test",
    "options ndots:0",
  ]);
});

Deno.test("parseUpstream: IP, IP:PORT, IPv6, [IPv6]:PORT; refuses the rest", () => {
  assert.deepEqual(parseUpstream("198.18.0.9"), { hostname: "198.18.0.9", port: 53 });
  assert.deepEqual(parseUpstream("127.0.0.1:5353"), { hostname: "127.0.0.1", port: 5353 });
  assert.deepEqual(parseUpstream("fd00::1"), { hostname: "fd00::1", port: 53 });
  assert.deepEqual(parseUpstream("[fd00::1]:54"), { hostname: "fd00::1", port: 54 });
  for (const bad of ["", "dns.example", "1.2.3.400", "1.2.3.4:0", "1.2.3.4:70000"]) {
    assert.equal(parseUpstream(bad), undefined, bad);
  }
});

Deno.test({
  name: "forward: the upstream's answer comes back as sent; a silent upstream is skipped for the next",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const asked: string[] = [];
    const up = startUpstream(
      { hostname: "127.0.0.1", port: 0 },
      { "outside.test": "198.18.0.9" },
      (n) => asked.push(n),
    );
    const silent = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
    try {
      const dns = new EmbeddedDns({
        upstreams: () => [
          { hostname: "127.0.0.1", port: (silent.addr as Deno.NetAddr).port },
          { hostname: "127.0.0.1", port: up.addr.port },
        ],
        networksOf: () => [],
        log: () => {},
      });
      const t0 = performance.now();
      const out = await dns.forward(query("outside.test", "A", 4242));
      assert.ok(out);
      const r = dnsPacket.decode(Buffer.from(out));
      assert.equal(r.id, 4242);
      assert.deepEqual(answersOf(r).map((a) => a.data), ["198.18.0.9"]);
      assert.ok(performance.now() - t0 >= 1900, "the silent upstream had its timeout first");
      assert.deepEqual(asked, ["outside.test"]);
      const none = new EmbeddedDns({ upstreams: () => [], networksOf: () => [], log: () => {} });
      assert.equal(await none.forward(query("x.test")), undefined);
    } finally {
      up.close();
      silent.close();
    }
  },
});

async function udpExchange(port: number, msg: Uint8Array): Promise<Uint8Array> {
  const s = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  try {
    await s.send(msg, { transport: "udp", hostname: "127.0.0.1", port });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const got = await Promise.race([
      s.receive(),
      new Promise<never>((_, no) => timer = setTimeout(() => no(new Error("no UDP answer in 5 s")), 5000)),
    ]).finally(() => clearTimeout(timer));
    return got[0];
  } finally {
    s.close();
  }
}

async function tcpExchange(port: number, msgs: Uint8Array[]): Promise<Uint8Array[]> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    for (const m of msgs) await c.write(new Uint8Array([m.length >> 8, m.length & 0xff, ...m]));
    const out: Uint8Array[] = [];
    const read = async (n: number) => {
      const b = new Uint8Array(n);
      for (let got = 0; got < n;) {
        const k = await c.read(b.subarray(got));
        if (k === null) throw new Error("closed early");
        got += k;
      }
      return b;
    };
    for (let i = 0; i < msgs.length; i++) {
      const h = await read(2);
      out.push(await read((h[0] << 8) | h[1]));
    }
    return out;
  } finally {
    c.close();
  }
}

Deno.test({
  name:
    "serveSockets: UDP and TCP answer names; TCP queries are forwarded over TCP; FORMERR, and it still answers",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const up = startUpstream({ hostname: "127.0.0.1", port: 0 }, { "outside.test": "198.18.0.9" });
    const dns = new EmbeddedDns({
      upstreams: () => [{ hostname: "127.0.0.1", port: up.addr.port }],
      networksOf: (c) => (c === "c1" ? ["n1"] : []),
      log: () => {},
    });
    const { udp, tcp } = bindPair("127.0.0.1");
    const port = (udp.addr as Deno.NetAddr).port;
    try {
      dns.setEndpoints([{ network: "n1", container: "c2", aliases: ["db"], ip: "10.0.0.3" }]);
      dns.serveSockets("c1", udp, tcp);
      const viaUdp = dnsPacket.decode(Buffer.from(await udpExchange(port, query("db", "A", 1))));
      assert.deepEqual(answersOf(viaUdp).map((a) => a.data), ["10.0.0.3"]);
      const garbage = new Uint8Array([0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x3f, 0xff]);
      const [a, b, c] =
        (await tcpExchange(port, [query("c2", "A", 2), garbage, query("outside.test", "A", 3)]))
          .map((x) => dnsPacket.decode(Buffer.from(x)));
      assert.deepEqual([a.id, answersOf(a).map((x) => x.data)], [2, ["10.0.0.3"]]);
      assert.deepEqual([b.id, rcodeOf(b)], [0xbeef, RCODE.FORMERR]);
      assert.deepEqual([c.id, answersOf(c).map((x) => x.data)], [3, ["198.18.0.9"]]);
      assert.equal(dns.counters.formerr, 1);
      // weft stats names every counter once, none it does not keep.
      assert.deepEqual(DNS_COUNTERS.map(([n]) => n).sort(), Object.keys(dns.counters).sort());
      assert.equal(dns.counters.forward, 1);
      // Names follow the endpoints: gone from the snapshot, forwarded (and unknown upstream).
      dns.setEndpoints([]);
      const gone = dnsPacket.decode(Buffer.from(await udpExchange(port, query("c2", "A", 4))));
      assert.equal(rcodeOf(gone), RCODE.NXDOMAIN);
      dns.detach("c1");
      assert.ok(!dns.serves("c1"));
    } finally {
      dns.close();
      up.close();
    }
  },
});
