// The receiving host's IP and UDP layers, for captures: from a captured record to the UDP
// datagram its socket would be handed (VXLAN header first) and the sender's address, which is
// what the core takes from a live UDP socket (PORT_UNDERLAY). On a host the kernel does this part:
// it skips IPv6 extension headers, reassembles outer fragments, and never shows a VTEP the outer
// MACs or VLAN tags. Pure functions over a Uint8Array (CLI and browser alike).
//
//   IPv4 (RFC 791)  ver/ihl[1] tos[1] total[2] id[2] flags/offset[2] ttl[1] proto[1] csum[2]
//                   src[4] dst[4] options…
//   IPv6 (RFC 8200) ver/tc/flow[4] payload length[2] next header[1] hop limit[1] src[16] dst[16],
//                   then extension headers: hop-by-hop (0, first only), routing (43),
//                   destination options (60) — next[1] length in 8-byte units past the first[1];
//                   fragment (44) — next[1] reserved[1] offset/M[2] id[4]
//   UDP (RFC 768)   src port[2] dst port[2] length[2] checksum[2]
//
// Checksums are not verified, as the core's own outer parser and Wireshark's defaults do not.
// A record cut by the capture's snap length is read as far as it goes: a datagram whose VXLAN
// header and inner Ethernet header are whole comes out `cut`, with the length it had on the
// wire; one cut shorter is dropped as CUT_BY_SNAPLEN.

import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, LINK_TYPE_NAMES, networkLayer } from "./link.ts";
import { Reassembler, REASSEMBLY_TIMEOUT_V4, REASSEMBLY_TIMEOUT_V6 } from "./reassembly.ts";

export const UNDERLAY_MALFORMED = "underlay_malformed";
export const NOT_VXLAN = "not_vxlan";
export const CUT_BY_SNAPLEN = "cut_by_snaplen";
export const UNSUPPORTED_LINK_TYPE = "unsupported_link_type";

const IPV4_HEADER_LEN = 20;
const IPV4_TOTAL_LEN = 2;
const IPV4_ID = 4;
const IPV4_FLAGS_OFFSET = 6;
const IPV4_PROTO = 9;
const IPV4_SRC = 12;
const IPV4_DST = 16;
const IPV4_MF = 0x2000;
const IPV4_OFFSET_MASK = 0x1fff;
const IPV6_HEADER_LEN = 40;
const IPV6_PAYLOAD_LEN = 4;
const IPV6_NEXT = 6;
const IPV6_SRC = 8;
const IPV6_DST = 24;
const FRAG_HEADER_LEN = 8;
const FRAG_OFFSET = 2;
const FRAG_ID = 4;
const FRAG_OFFSET_MASK = 0xfff8;
const FRAG_M = 1;
const UDP_HEADER_LEN = 8;
const UDP_DST_PORT = 2;
const UDP_LENGTH = 4;
const IPPROTO_HOPOPTS = 0;
const IPPROTO_UDP = 17;
const IPPROTO_ROUTING = 43;
const IPPROTO_FRAGMENT = 44;
const IPPROTO_DSTOPTS = 60;
/** IPv4 sender addresses kept as 16-byte arrays before the cache starts again. */
const PEER_CACHE_MAX = 4096;
/** VXLAN header and an inner Ethernet header: less than this of a cut datagram is useless. */
const CUT_MINIMUM = 8 + 14;

/** A UDP datagram as the receiving socket would see it. */
export interface Datagram {
  /** Sender address, 16 bytes (IPv4 as ::ffff:a.b.c.d); shared between datagrams: read only. */
  peer: Uint8Array;
  peerPort: number;
  dstPort: number;
  /** UDP payload as captured (the VXLAN header first). */
  payload: Uint8Array;
  /** UDP payload length on the wire (> payload.length when the record was cut). */
  wireLen: number;
  /** Outer IP fragments it was reassembled from (1: it was not fragmented). */
  fragments: number;
}

/** What a record became: a datagram, nothing yet (a fragment held), or `count` records dropped. */
export type Received =
  | { kind: "datagram"; datagram: Datagram }
  | { kind: "pending" }
  | { kind: "dropped"; reason: string; count: number };

/** One record as `read` needs it (a CapturePacket fits). */
export interface UnderlayRecord {
  linkType: number;
  data: Uint8Array;
  origLen: number;
  /** Capture time in seconds (fragment timeouts). */
  time: number;
}

/**
 * Reads records of one capture in order, holding outer fragments until their datagram is whole.
 * `ports`: the UDP destination ports that mean VXLAN; other datagrams are dropped as NOT_VXLAN.
 */
export class UnderlayReader {
  private readonly reassembler: Reassembler;
  private late: Received[] = [];
  private peers = new Map<number, Uint8Array>();

  constructor(private readonly ports: ReadonlySet<number>, maxFragmentBytes?: number) {
    this.reassembler = new Reassembler(
      (reason, count) => this.late.push({ kind: "dropped", reason, count }),
      maxFragmentBytes,
    );
  }

  /** Bytes held in open fragment queues (bounded: REASSEMBLY_MAX_BYTES). */
  get heldBytes(): number {
    return this.reassembler.bytes;
  }

  /**
   * What `record` became, after what earlier fragments became on the way (timed out): each
   * record is accounted for exactly once over all calls and `finish()`.
   */
  read(record: UnderlayRecord): Received[] {
    const r = this.one(record);
    const out = this.late;
    this.late = [];
    out.push(r);
    return out;
  }

  /** The capture ended: fragments still held are dropped as incomplete. */
  finish(): Received[] {
    this.reassembler.finish();
    const out = this.late;
    this.late = [];
    return out;
  }

  /** ::ffff:a.b.c.d for the IPv4 address at `at`; one array per address (a capture has few). */
  private ipv4Peer(d: Uint8Array, at: number): Uint8Array {
    const key = u32(d, at);
    let peer = this.peers.get(key);
    if (!peer) {
      if (this.peers.size >= PEER_CACHE_MAX) this.peers.clear();
      peer = new Uint8Array(16);
      peer[10] = peer[11] = 0xff;
      peer.set(d.subarray(at, at + 4), 12);
      this.peers.set(key, peer);
    }
    return peer;
  }

  private one(rec: UnderlayRecord): Received {
    const d = rec.data;
    const cut = d.length < rec.origLen;
    const bad = (): Received => drop(cut ? CUT_BY_SNAPLEN : UNDERLAY_MALFORMED);
    const net = networkLayer(rec.linkType, d);
    if (!net) return LINK_TYPE_NAMES.has(rec.linkType) ? bad() : drop(UNSUPPORTED_LINK_TYPE);
    const ip = net.offset;
    if (net.etherType === ETHERTYPE_IPV4) {
      if (d.length < ip + IPV4_HEADER_LEN || d[ip] >> 4 !== 4) return bad();
      const ihl = (d[ip] & 0x0f) * 4;
      const total = u16(d, ip + IPV4_TOTAL_LEN);
      if (ihl < IPV4_HEADER_LEN || total < ihl || d.length < ip + ihl) return bad();
      if (d.length < ip + total && !cut) return drop(UNDERLAY_MALFORMED);
      if (d[ip + IPV4_PROTO] !== IPPROTO_UDP) return drop(NOT_VXLAN);
      const peer = this.ipv4Peer(d, ip + IPV4_SRC);
      const flags = u16(d, ip + IPV4_FLAGS_OFFSET);
      const body = d.subarray(ip + ihl, Math.min(d.length, ip + total));
      if ((flags & (IPV4_MF | IPV4_OFFSET_MASK)) === 0) return this.udp(body, total - ihl, peer, 1);
      if (d.length < ip + total) return drop(CUT_BY_SNAPLEN);
      const key = `4 ${hex(d.subarray(ip + IPV4_SRC, ip + IPV4_DST + 4))} ${u16(d, ip + IPV4_ID)}`;
      return this.fragment(
        key,
        rec.time,
        REASSEMBLY_TIMEOUT_V4,
        (flags & IPV4_OFFSET_MASK) * 8,
        (flags & IPV4_MF) !== 0,
        body,
        (payload, n) => this.udp(payload, payload.length, peer, n),
      );
    }
    if (net.etherType === ETHERTYPE_IPV6) {
      if (d.length < ip + IPV6_HEADER_LEN || d[ip] >> 4 !== 6) return bad();
      const end = ip + IPV6_HEADER_LEN + u16(d, ip + IPV6_PAYLOAD_LEN);
      if (d.length < end && !cut) return drop(UNDERLAY_MALFORMED);
      const peer = d.slice(ip + IPV6_SRC, ip + IPV6_SRC + 16);
      const addresses = hex(d.subarray(ip + IPV6_SRC, ip + IPV6_DST + 16));
      const payload = d.subarray(ip + IPV6_HEADER_LEN, Math.min(d.length, end));
      return this.ipv6(
        d[ip + IPV6_NEXT],
        payload,
        end - ip - IPV6_HEADER_LEN,
        peer,
        addresses,
        rec.time,
        true,
        1,
      );
    }
    return drop(NOT_VXLAN);
  }

  /**
   * Walks IPv6 extension headers from `next` over `b` (`wire` bytes long on the wire) to UDP.
   * `first`: `b` starts right after the fixed header, the only place hop-by-hop may be
   * (RFC 8200 §4.1; the kernel drops it elsewhere).
   */
  private ipv6(
    next: number,
    b: Uint8Array,
    wire: number,
    peer: Uint8Array,
    addresses: string,
    time: number,
    first: boolean,
    fragments: number,
  ): Received {
    const cut = b.length < wire;
    let off = 0;
    for (;;) {
      if (next === IPPROTO_UDP) return this.udp(b.subarray(off), wire - off, peer, fragments);
      if (next === IPPROTO_HOPOPTS || next === IPPROTO_ROUTING || next === IPPROTO_DSTOPTS) {
        if (next === IPPROTO_HOPOPTS && !(first && off === 0)) return drop(UNDERLAY_MALFORMED);
        if (off + 2 > b.length) return drop(cut ? CUT_BY_SNAPLEN : UNDERLAY_MALFORMED);
        const len = (b[off + 1] + 1) * 8;
        next = b[off];
        off += len;
        if (off > wire) return drop(UNDERLAY_MALFORMED);
        continue;
      }
      if (next === IPPROTO_FRAGMENT) {
        if (off + FRAG_HEADER_LEN > b.length) return drop(cut ? CUT_BY_SNAPLEN : UNDERLAY_MALFORMED);
        const word = u16(b, off + FRAG_OFFSET);
        const inner = b[off];
        const rest = b.subarray(off + FRAG_HEADER_LEN);
        if ((word & (FRAG_OFFSET_MASK | FRAG_M)) === 0) {
          // An atomic fragment (RFC 6946): a whole datagram, processed in place.
          next = inner;
          off += FRAG_HEADER_LEN;
          continue;
        }
        if (cut) return drop(CUT_BY_SNAPLEN);
        const key = `6 ${addresses} ${u32(b, off + FRAG_ID)}`;
        return this.fragment(
          key,
          time,
          REASSEMBLY_TIMEOUT_V6,
          word & FRAG_OFFSET_MASK,
          (word & FRAG_M) !== 0,
          rest,
          (payload, n, head) =>
            this.ipv6(head as number, payload, payload.length, peer, addresses, time, false, n),
          inner,
        );
      }
      return drop(NOT_VXLAN);
    }
  }

  /** Hands a fragment to the reassembler; `whole` continues with the payload once complete. */
  private fragment(
    key: string,
    now: number,
    timeout: number,
    offset: number,
    more: boolean,
    data: Uint8Array,
    whole: (payload: Uint8Array, fragments: number, head: unknown) => Received,
    next?: number,
  ): Received {
    // A non-final fragment carries a multiple of 8 bytes (RFC 791, RFC 8200 §4.5); an empty
    // one is never valid. The kernel drops both.
    if ((more && data.length % 8 !== 0) || data.length === 0) return drop(UNDERLAY_MALFORMED);
    // IPv6: the datagram's next header is the one in its first fragment (RFC 8200 §4.5).
    const r = this.reassembler.add({ key, now, timeout, offset, more, data, head: next });
    if (r.kind === "pending") return r;
    if (r.kind === "dropped") return { kind: "dropped", reason: r.reason, count: r.fragments };
    return whole(r.payload, r.fragments, r.head);
  }

  /** `b`: the UDP header onwards as captured; `wire`: its length on the wire. */
  private udp(b: Uint8Array, wire: number, peer: Uint8Array, fragments: number): Received {
    const cut = b.length < wire;
    const dropped = (reason: string): Received => ({ kind: "dropped", reason, count: fragments });
    if (b.length < UDP_HEADER_LEN) return dropped(cut ? CUT_BY_SNAPLEN : UNDERLAY_MALFORMED);
    const length = u16(b, UDP_LENGTH);
    if (length < UDP_HEADER_LEN || length > wire) return dropped(UNDERLAY_MALFORMED);
    const dstPort = u16(b, UDP_DST_PORT);
    if (!this.ports.has(dstPort)) return dropped(NOT_VXLAN);
    const payload = b.subarray(UDP_HEADER_LEN, Math.min(b.length, length));
    const wireLen = length - UDP_HEADER_LEN;
    if (payload.length < wireLen && payload.length < CUT_MINIMUM) return dropped(CUT_BY_SNAPLEN);
    return {
      kind: "datagram",
      datagram: { peer, peerPort: u16(b, 0), dstPort, payload, wireLen, fragments },
    };
  }
}

function drop(reason: string): Received {
  return { kind: "dropped", reason, count: 1 };
}

function u16(b: Uint8Array, at: number): number {
  return (b[at] << 8) | b[at + 1];
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
}

function hex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}
