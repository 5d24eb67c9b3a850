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

export function startUpstream(
  listen: Deno.NetAddr | { hostname: string; port: number },
  records: Record<string, string>,
  onQuery: (name: string) => void = () => {},
): { addr: Deno.NetAddr; close: () => void } {
  const conn = Deno.listenDatagram({ hostname: listen.hostname, port: listen.port, transport: "udp" });
  let open = true;
  (async () => {
    while (open) {
      let data: Uint8Array, from: Deno.Addr;
      try {
        [data, from] = await conn.receive();
      } catch {
        if (!open) return;
        continue;
      }
      try {
        const q = dnsPacket.decode(Buffer.from(data));
        const question = q.questions![0];
        onQuery(question.name);
        const ip = records[question.name.toLowerCase()];
        const answers: dnsPacket.Answer[] = ip && question.type === "A"
          ? [{ type: "A", name: question.name, ttl: 60, data: ip }]
          : [];
        await conn.send(
          dnsPacket.encode({
            type: "response",
            id: q.id,
            flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (ip ? 0 : 3),
            questions: q.questions,
            answers,
          }),
          from,
        );
      } catch { /* not a query we can read: no answer */ }
    }
  })();
  return {
    addr: conn.addr as Deno.NetAddr,
    close: () => {
      open = false;
      conn.close();
    },
  };
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
