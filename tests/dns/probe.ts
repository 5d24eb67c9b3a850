// A DNS client run inside a container (`weft exec C -- deno run -A tests/dns/probe.ts …`) for the
// namespace test and bench:dns. Queries go to the container's resolver (127.0.0.11:53 unless
// --server), built and read with dns-packet. Prints one JSON line.
//
//   probe.ts garbage                 one undecodable datagram: {"answered","id","rcode"}
//   probe.ts flood COUNT NAME        COUNT random datagrams (0–600 bytes, answers ignored), then
//                                    NAME asked: {"sent","addresses"}
//   probe.ts time NAME COUNT         COUNT sequential A queries: {"ms":[…],"addresses":[…],"lost"}
//   probe.ts until NAME TIMEOUT_MS   queries every 5 ms until NAME has an A record; prints
//                                    "polling" after the first query, then
//                                    {"resolvedAt": epoch ms | null, "addresses"}
//   probe.ts gone NAME TIMEOUT_MS    the same until NAME has no A record any more (an answer
//                                    without one, NXDOMAIN): {"goneAt": epoch ms | null}

import * as dnsPacket from "dns-packet";
import { Buffer } from "node:buffer";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { server: { type: "string", default: "127.0.0.11:53" } },
});
const [host, port] = values.server!.split(":");
const server = { transport: "udp" as const, hostname: host, port: Number(port) };
const sock = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });

/** Answers by ID: one reader, so an answer that comes after its try's timeout is never lost to
 * a receive() left pending, and never taken for the next try's. */
const waiters = new Map<number, (d: Uint8Array) => void>();
(async () => {
  for (;;) {
    let got;
    try {
      got = await sock.receive();
    } catch {
      return; // closed
    }
    if (got[0].length >= 2) waiters.get((got[0][0] << 8) | got[0][1])?.(got[0]);
  }
})();

/** One exchange; undefined when nothing with this ID came back within `ms`. */
async function exchange(bytes: Uint8Array, id: number, ms: number): Promise<Uint8Array | undefined> {
  const answered = new Promise<Uint8Array>((r) => waiters.set(id, r));
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await sock.send(bytes, server);
    return await Promise.race([
      answered,
      new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), ms)),
    ]);
  } finally {
    clearTimeout(timer);
    waiters.delete(id);
  }
}

/** dns-packet decodes the RCODE's name; its typings leave the field out. */
const rcodeOf = (p: dnsPacket.DecodedPacket) => (p as { rcode?: string }).rcode;

let nextId = (Math.random() * 0xffff) | 0;
async function resolveA(name: string, ms = 1000) {
  const id = nextId = (nextId + 1) & 0xffff;
  const q = dnsPacket.encode({
    type: "query",
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: "A", name, class: "IN" }],
  });
  const raw = await exchange(new Uint8Array(q), id, ms);
  if (!raw) return undefined;
  const r = dnsPacket.decode(Buffer.from(raw));
  return {
    rcode: rcodeOf(r),
    addresses: (r.answers ?? []).filter((a) => a.type === "A").map((a) => (a as { data: string }).data),
  };
}

const [mode, name, arg] = positionals;
let out: unknown;
if (mode === "garbage") {
  // A header that says "one question", then a label claiming 63 bytes that are not there.
  const g = new Uint8Array([0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x3f, 0xde, 0xad]);
  const raw = await exchange(g, 0xbeef, 2000);
  out = raw
    ? { answered: true, id: (raw[0] << 8) | raw[1], rcode: rcodeOf(dnsPacket.decode(Buffer.from(raw))) }
    : { answered: false };
} else if (mode === "flood") {
  // From a socket of its own, closed before the real query: the flood's answers, never read,
  // would fill a receive buffer and crowd out the one that matters.
  const count = Number(name);
  const flood = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  for (let i = 0; i < count; i++) {
    const b = crypto.getRandomValues(new Uint8Array(Math.floor(Math.random() * 601)));
    await flood.send(b, server);
    if (i % 64 === 63) await new Promise((r) => setTimeout(r, 1)); // let the server keep up
  }
  flood.close();
  // Then as a stub resolver would: a few tries, 1 s each (under a flood UDP loses datagrams).
  let r;
  for (let i = 0; i < 5 && !r; i++) r = await resolveA(arg, 1000);
  out = { sent: count, addresses: r?.addresses ?? null };
} else if (mode === "time") {
  const ms: number[] = [];
  let lost = 0, addresses: string[] = [];
  for (let i = 0; i < Number(arg); i++) {
    const t0 = performance.now();
    const r = await resolveA(name);
    if (!r) {
      lost++;
      continue;
    }
    ms.push(performance.now() - t0);
    addresses = r.addresses;
  }
  out = { ms, addresses, lost };
} else if (mode === "until") {
  const until = Date.now() + Number(arg);
  let resolvedAt: number | null = null, addresses: string[] = [];
  await resolveA(name, 200);
  console.log("polling"); // for a caller that starts the clock once queries flow
  while (Date.now() < until) {
    const r = await resolveA(name, 200);
    if (r?.addresses.length) {
      resolvedAt = Date.now();
      addresses = r.addresses;
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  out = { resolvedAt, addresses };
} else if (mode === "gone") {
  const until = Date.now() + Number(arg);
  let goneAt: number | null = null;
  await resolveA(name, 200);
  console.log("polling");
  while (Date.now() < until) {
    const r = await resolveA(name, 200);
    if (r && !r.addresses.length) {
      goneAt = Date.now();
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  out = { goneAt };
} else {
  console.error(
    "usage: probe.ts garbage | flood COUNT NAME | time NAME COUNT | until NAME TIMEOUT_MS | gone NAME TIMEOUT_MS",
  );
  Deno.exit(2);
}
console.log(JSON.stringify(out));
sock.close();
