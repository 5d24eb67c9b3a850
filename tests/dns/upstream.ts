// A tiny DNS server that stands in for "the host's resolver" in tests and the DNS bench, so that
// no query ever leaves the machine: A records from NAME=IP pairs, NXDOMAIN for the rest
// (dns-packet encodes and decodes). It counts what it was asked, so a test can tell that a
// container name was never forwarded.
//
//   deno run -A --unstable-net tests/dns/upstream.ts --listen 198.18.0.9:53 --record outside.test=198.18.0.9
// prints "listening" once bound, then serves until killed; every query's name goes to stdout.

import * as dnsPacket from "dns-packet";
import { Buffer } from "node:buffer";
import { parseArgs } from "node:util";
import { DENO, type Host, type Lab, ROOT } from "../../cli/lab/mod.ts";

export function startUpstream(
  listen: { hostname: string; port: number },
  records: Record<string, string>,
  onQuery: (name: string) => void = () => {},
): { addr: Deno.NetAddr; close: () => void } {
  // TCP on the same port too (RFC 7766), for queries retried after a truncated answer.
  const { udp: conn, tcp } = bindPair(listen.hostname, listen.port);
  const addr = conn.addr as Deno.NetAddr;
  let open = true;
  const answer = (data: Uint8Array): Uint8Array | undefined => {
    try {
      const q = dnsPacket.decode(Buffer.from(data));
      const question = q.questions![0];
      onQuery(question.name);
      const ip = records[question.name.toLowerCase()];
      const answers: dnsPacket.Answer[] = ip && question.type === "A"
        ? [{ type: "A", name: question.name, ttl: 60, data: ip }]
        : [];
      return new Uint8Array(dnsPacket.encode({
        type: "response",
        id: q.id,
        flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (ip ? 0 : 3),
        questions: q.questions,
        answers,
      }));
    } catch {
      return undefined; // not a query we can read: no answer
    }
  };
  (async () => {
    while (open) {
      let data: Uint8Array, from: Deno.Addr;
      try {
        [data, from] = await conn.receive();
      } catch {
        if (!open) return;
        continue;
      }
      const out = answer(data);
      if (out) await conn.send(out, from).catch(() => {});
    }
  })();
  (async () => {
    for await (const c of tcp) {
      (async () => {
        try {
          const head = new Uint8Array(2);
          for (;;) {
            if (!await readFull(c, head)) return;
            const msg = new Uint8Array((head[0] << 8) | head[1]);
            if (!await readFull(c, msg)) return;
            const out = answer(msg);
            if (!out) return;
            await c.write(new Uint8Array([out.length >> 8, out.length & 0xff, ...out]));
          }
        } catch {
          /* reset */
        } finally {
          try {
            c.close();
          } catch { /* closed */ }
        }
      })();
    }
  })().catch(() => {});
  return {
    addr,
    close: () => {
      open = false;
      conn.close();
      tcp.close();
    },
  };
}

/**
 * A UDP socket and a TCP listener on one port: `port`, or (0) a free one for both. A random UDP
 * port may be taken in TCP by another process on this shared machine: then try another.
 */
export function bindPair(hostname: string, port = 0): { udp: Deno.DatagramConn; tcp: Deno.Listener } {
  for (let tries = 0;; tries++) {
    const udp = Deno.listenDatagram({ hostname, port, transport: "udp" });
    try {
      return { udp, tcp: Deno.listen({ hostname, port: (udp.addr as Deno.NetAddr).port, transport: "tcp" }) };
    } catch (e) {
      udp.close();
      if (port !== 0 || tries >= 20 || !(e instanceof Deno.errors.AddrInUse)) throw e;
    }
  }
}

async function readFull(c: Deno.Conn, buf: Uint8Array): Promise<boolean> {
  for (let got = 0; got < buf.length;) {
    const n = await c.read(buf.subarray(got));
    if (n === null) return false;
    got += n;
  }
  return true;
}

/**
 * This file as a process inside network namespace `ns`, serving `listen` (IP:PORT) until stop().
 * `asked` fills with every name it is asked.
 */
export async function spawnUpstream(ns: string, listen: string, records: Record<string, string>) {
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      ns,
      DENO,
      "run",
      "-A",
      "--unstable-net",
      new URL(import.meta.url).pathname,
      "--listen",
      listen,
      ...Object.entries(records).flatMap(([n, ip]) => ["--record", `${n}=${ip}`]),
    ],
    cwd: ROOT,
    env: { DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const asked: string[] = [];
  let ready = () => {};
  const listening = new Promise<void>((r) => ready = r);
  (async () => {
    let buf = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === "listening") ready();
        else if (line.startsWith("query ")) asked.push(line.slice(6));
      }
    }
  })().catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = () => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  };
  try {
    await Promise.race([
      listening,
      new Promise((_, no) =>
        timer = setTimeout(() => no(new Error(`the lab resolver in ${ns} did not start`)), 20000)
      ),
    ]);
  } catch (e) {
    stop();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return { asked, stop };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { listen: { type: "string" }, record: { type: "string", multiple: true } },
  });
  const [hostname, port] = String(values.listen).split(":");
  const records = Object.fromEntries((values.record ?? []).map((r) => r.split("=")));
  startUpstream({ hostname, port: Number(port) }, records, (n) => console.log(`query ${n}`));
  console.log("listening");
}

/**
 * Hosts 1–3 of `lab` (setup(3)): this resolver on host 3 (198.18.0.3:53, answering outside.test),
 * the daemons of hosts 1 and 2 forwarding to it (`--dns`), both in one swarm. The resolver stops
 * with the lab.
 */
export async function dnsLab(lab: Lab): Promise<{ hosts: Host[]; upstream: { asked: string[] } }> {
  await lab.setup(3);
  const [h1, h2, h3] = lab.hosts;
  const upstream = await spawnUpstream(h3.ns, "198.18.0.3:53", { "outside.test": "198.18.0.3" });
  lab.defer(() => upstream.stop());
  lab.daemonArgs = ["--dns", "198.18.0.3"];
  await Promise.all([lab.startDaemon(h1), lab.startDaemon(h2)]);
  await lab.formSwarm([h1, h2]);
  return { hosts: lab.hosts, upstream };
}
