// What the embedded DNS server does with one datagram, as a pure function of its bytes and the
// names it owns: answer it here, forward it to the host's resolvers, or drop it. Messages are
// decoded and encoded by dns-packet (npm), never by hand; only the 12-byte header of a message
// dns-packet cannot decode is read here, to echo its ID in the FORMERR (RFC 1035 §4.1.1).
//
// Docker's embedded DNS (libnetwork resolver.go) is the model: A and AAAA for container names and
// aliases, PTR for their addresses, the name known but no address of the asked family → NOERROR
// with no answer (not forwarded: the host's resolvers do not know container names, and asking them
// would leak the names), anything else forwarded. Departure: a query for one of our names with
// another type (MX, TXT, …) is answered NOERROR/no data here rather than forwarded, for the
// same reason.

import * as dnsPacket from "dns-packet";
import { Buffer } from "node:buffer";
import type { Addresses } from "./names.ts";

/** Docker's TTL for embedded DNS answers (libnetwork resolver.go respTTL), seconds. */
export const ANSWER_TTL = 600;
/** RFC 1035 §4.1.1: the fixed header. */
export const HEADER_LEN = 12;
/** The ID: a datagram shorter than this has nothing to answer to. */
const ID_LEN = 2;
/** RFC 1035 §4.2.1: the most a UDP answer may carry without EDNS; longer ones are cut, TC set. */
export const UDP_MAX = 512;
/** RFC 1035 §4.2.2: a TCP message has a 16-bit length prefix. */
export const TCP_MAX = 65535;
/**
 * The UDP payload size this server advertises and honours at most under EDNS (RFC 6891 §6.2.5;
 * 1232 is the DNS Flag Day 2020 figure: no IP fragmentation on any usual path).
 */
export const EDNS_UDP_MAX = 1232;

/** RFC 1035 §4.1.1 RCODE values. */
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const QR = 0x8000;
const OPCODE_MASK = 0x7800;
const RD = dnsPacket.RECURSION_DESIRED;
const RA = dnsPacket.RECURSION_AVAILABLE;
const AA = dnsPacket.AUTHORITATIVE_ANSWER;
const TC = dnsPacket.TRUNCATED_RESPONSE;

/** The names the server owns, as seen from the asking container's networks. */
export interface Zone {
  lookup(name: string): Addresses | undefined;
  /** Container name for a reverse (in-addr.arpa / ip6.arpa) name. */
  reverse(name: string): string | undefined;
  /** Whether a reverse name is in one of the asker's subnets (NXDOMAIN here if no container). */
  ownsReverse?(name: string): boolean;
}

/** Why a datagram got no answer, or what kind of answer it got: the server's counter names. */
export type Outcome =
  | "answered"
  | "nodata"
  | "nxdomain"
  | "formerr"
  | "notimp"
  | "forward"
  | "drop_short"
  | "drop_response";

export type Verdict =
  | { outcome: "answered" | "nodata" | "nxdomain" | "formerr" | "notimp"; reply: Uint8Array }
  | { outcome: "forward" }
  | { outcome: "drop_short" | "drop_response" };

function view(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * An answer with no question section, built from the raw header alone: the ID and opcode echoed,
 * RD copied (RFC 1035 §4.1.1), for a message whose question cannot be trusted.
 */
export function headerOnly(query: Uint8Array, rcode: number): Uint8Array {
  const flags = (((query[2] ?? 0) << 8) | (query[3] ?? 0)) & (OPCODE_MASK | RD);
  return new Uint8Array(dnsPacket.encode({
    type: "response",
    id: (query[0] << 8) | query[1],
    flags: flags | RA | rcode,
  }));
}

function reply(
  q: dnsPacket.DecodedPacket,
  rcode: number,
  answers: dnsPacket.Answer[],
  aa: boolean,
  maxLen = UDP_MAX,
): Uint8Array {
  const flags = ((q.flags ?? 0) & (OPCODE_MASK | RD)) | RA | (aa ? AA : 0) | rcode;
  // RFC 6891 §6.1.1: a request with an OPT record gets one back; its size is the client's buffer.
  const opt = (q.additionals ?? []).find((a) => a.type === "OPT") as { udpPayloadSize?: number } | undefined;
  if (opt && maxLen < TCP_MAX) {
    maxLen = Math.max(UDP_MAX, Math.min(opt.udpPayloadSize ?? UDP_MAX, EDNS_UDP_MAX));
  }
  const additionals = opt
    ? [{ type: "OPT", name: ".", udpPayloadSize: EDNS_UDP_MAX } as dnsPacket.Answer]
    : [];
  const enc = (n: number, tc: boolean) =>
    new Uint8Array(dnsPacket.encode({
      type: "response",
      id: q.id,
      flags: flags | (tc ? TC : 0),
      questions: q.questions,
      answers: answers.slice(0, n),
      additionals,
    }));
  let out = enc(answers.length, false);
  // Many containers behind one alias: send what fits and set TC, so a resolver may retry (§4.2.1).
  for (let n = answers.length - 1; out.length > maxLen && n >= 0; n--) out = enc(n, true);
  return out;
}

/**
 * Decides the fate of one message sent to the resolver (a UDP datagram, or a TCP message without
 * its length prefix; `maxLen`: UDP_MAX for UDP, TCP_MAX for TCP).
 * - shorter than an ID: dropped (nothing to answer to); a response (QR set): dropped, so two
 *   servers can never loop;
 * - shorter than the header, undecodable, or not exactly one question: FORMERR (RFC 1035 §4.1.1),
 *   its ID echoed (`printf garbage | nc -u 127.0.0.11 53` gets one);
 * - an opcode other than QUERY: NOTIMP;
 * - class IN, a name the zone owns: A/AAAA (ANY: both) with every address, TTL ANSWER_TTL; no
 *   address of that family or another type: NOERROR with no answer; PTR of a container address,
 *   NXDOMAIN for another address of the asker's subnets;
 * - everything else: "forward", for the caller to send to the host's resolvers.
 * Never throws.
 */
export function decide(query: Uint8Array, zone: Zone, maxLen = UDP_MAX): Verdict {
  if (query.length < ID_LEN) return { outcome: "drop_short" };
  if (((query[2] ?? 0) << 8) & QR) return { outcome: "drop_response" };
  if (query.length < HEADER_LEN) return { outcome: "formerr", reply: headerOnly(query, RCODE.FORMERR) };
  let q: dnsPacket.DecodedPacket;
  try {
    q = dnsPacket.decode(view(query));
  } catch {
    return { outcome: "formerr", reply: headerOnly(query, RCODE.FORMERR) };
  }
  try {
    const opcode = ((q.flags ?? 0) & OPCODE_MASK) >> 11;
    if (opcode !== 0) return { outcome: "notimp", reply: headerOnly(query, RCODE.NOTIMP) };
    if (q.questions?.length !== 1) return { outcome: "formerr", reply: headerOnly(query, RCODE.FORMERR) };
    const [question] = q.questions;
    if (question.class !== "IN") return { outcome: "forward" };
    const name = question.name;
    if (question.type === "PTR") {
      const target = zone.reverse(name);
      if (target === undefined && zone.ownsReverse?.(name)) {
        return { outcome: "nxdomain", reply: reply(q, RCODE.NXDOMAIN, [], true, maxLen) };
      }
      if (target === undefined) return { outcome: "forward" };
      return {
        outcome: "answered",
        reply: reply(q, RCODE.NOERROR, [{ type: "PTR", name, ttl: ANSWER_TTL, data: target }], true, maxLen),
      };
    }
    const addrs = zone.lookup(name);
    if (!addrs) return { outcome: "forward" };
    const answers: dnsPacket.Answer[] = [];
    const any = (question.type as string) === "ANY"; // type 255, missing from the typings
    if (question.type === "A" || any) {
      for (const ip of addrs.a) answers.push({ type: "A", name, ttl: ANSWER_TTL, data: ip });
    }
    if (question.type === "AAAA" || any) {
      for (const ip of addrs.aaaa) answers.push({ type: "AAAA", name, ttl: ANSWER_TTL, data: ip });
    }
    return {
      outcome: answers.length ? "answered" : "nodata",
      reply: reply(q, RCODE.NOERROR, answers, true, maxLen),
    };
  } catch {
    // dns-packet decoded something it cannot encode back (an odd question type or name).
    return { outcome: "formerr", reply: headerOnly(query, RCODE.FORMERR) };
  }
}

/** SERVFAIL for a query no upstream answered (RFC 1035 §4.1.1), question echoed when possible. */
export function servfail(query: Uint8Array): Uint8Array {
  try {
    return reply(dnsPacket.decode(view(query)), RCODE.SERVFAIL, [], false);
  } catch {
    return headerOnly(query, RCODE.SERVFAIL);
  }
}
