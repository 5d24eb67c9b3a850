// One row of the page's frame table: what Wireshark's packet list shows of a decapsulated inner
// frame (addresses, protocol, length). A reader, not a validator: a field the frame is too short
// for is left empty, never an error. Runs in the browser; no runtime APIs.

import { formatIp, formatMac, mapIpv4 } from "../core/addr.ts";

export interface FrameRow {
  srcMac: string;
  dstMac: string;
  /** Source IP (ARP: sender protocol address), or "" when the frame carries none. */
  src: string;
  dst: string;
  /** ARP, IPv4's or IPv6's upper protocol (ICMP, IGMP, TCP, UDP, ICMPv6, …), else the EtherType. */
  protocol: string;
  /** Bytes of the inner frame (Ethernet header included, no FCS). */
  length: number;
}

// IEEE 802.3 / 802.1Q layout: destination, source, then EtherType or tags of 4 bytes each.
const ETH_DST = 0;
const ETH_SRC = 6;
const ETH_TYPE = 12;
const ETH_HEADER_LEN = 14;
const VLAN_TAG_LEN = 4;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_ARP = 0x0806;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;
const ETHERTYPE_IPV6 = 0x86dd;
// RFC 791 §3.1: protocol at 9, addresses at 12 and 16.
const IPV4_PROTOCOL = 9;
const IPV4_SRC = 12;
const IPV4_DST = 16;
// RFC 8200 §3: next header at 6, addresses at 8 and 24, 40-byte fixed header.
const IPV6_NEXT_HEADER = 6;
const IPV6_SRC = 8;
const IPV6_DST = 24;
const IPV6_HEADER_LEN = 40;
// RFC 8200 §4: extension headers that precede the upper layer, 8-byte units after the first 8.
const IPV6_EXTENSIONS = new Set([0, 43, 60]);
// RFC 826, Ethernet/IPv4 ARP: sender protocol address at 14, target protocol address at 24.
const ARP_SPA = 14;
const ARP_TPA = 24;
const ARP_LEN = 28;

/** IANA protocol numbers, named as Wireshark's protocol column names them. */
const IP_PROTOCOLS: Record<number, string> = {
  1: "ICMP",
  2: "IGMP",
  6: "TCP",
  17: "UDP",
  47: "GRE",
  50: "ESP",
  58: "ICMPv6",
  132: "SCTP",
};

/**
 * The row of one inner Ethernet frame (IEEE 802.3, any number of 802.1Q/802.1ad tags): its MACs,
 * the ARP sender/target or IPv4/IPv6 source/destination (RFC 5952 text), and the protocol: ARP,
 * the IP protocol after IPv6 hop-by-hop/routing/destination options headers, else the EtherType
 * as 0xNNNN. Never throws: fields a short frame lacks are "".
 */
export function describeFrame(frame: Uint8Array): FrameRow {
  const row: FrameRow = { srcMac: "", dstMac: "", src: "", dst: "", protocol: "", length: frame.length };
  if (frame.length < ETH_HEADER_LEN) return row;
  row.dstMac = formatMac(frame.subarray(ETH_DST, ETH_DST + 6));
  row.srcMac = formatMac(frame.subarray(ETH_SRC, ETH_SRC + 6));
  let off = ETH_TYPE;
  let type = word(frame, off);
  while ((type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) && off + VLAN_TAG_LEN + 2 <= frame.length) {
    off += VLAN_TAG_LEN;
    type = word(frame, off);
  }
  const l3 = frame.subarray(off + 2);
  row.protocol = `0x${type.toString(16).padStart(4, "0")}`;
  if (type === ETHERTYPE_ARP) {
    row.protocol = "ARP";
    if (l3.length >= ARP_LEN) {
      row.src = formatIp(mapIpv4(l3.subarray(ARP_SPA, ARP_SPA + 4)));
      row.dst = formatIp(mapIpv4(l3.subarray(ARP_TPA, ARP_TPA + 4)));
    }
  } else if (type === ETHERTYPE_IPV4 && l3.length >= IPV4_DST + 4) {
    row.src = formatIp(mapIpv4(l3.subarray(IPV4_SRC, IPV4_SRC + 4)));
    row.dst = formatIp(mapIpv4(l3.subarray(IPV4_DST, IPV4_DST + 4)));
    row.protocol = protocolName(l3[IPV4_PROTOCOL], "IPv4");
  } else if (type === ETHERTYPE_IPV6 && l3.length >= IPV6_HEADER_LEN) {
    row.src = formatIp(l3.subarray(IPV6_SRC, IPV6_SRC + 16));
    row.dst = formatIp(l3.subarray(IPV6_DST, IPV6_DST + 16));
    let next = l3[IPV6_NEXT_HEADER];
    let ext = IPV6_HEADER_LEN;
    while (IPV6_EXTENSIONS.has(next) && ext + 2 <= l3.length) {
      next = l3[ext];
      ext += (l3[ext + 1] + 1) * 8;
    }
    row.protocol = protocolName(next, "IPv6");
  }
  return row;
}

function protocolName(protocol: number, family: string): string {
  return IP_PROTOCOLS[protocol] ?? `${family} (${protocol})`;
}

function word(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}
