// Link-layer headers of the capture link types weft reads, down to the network layer
// (tcpdump.org/linktypes.html). A capture's outer MACs matter to no VTEP: the kernel's UDP
// socket hands the VXLAN datagram over without them, so a cooked or raw-IP capture carries all
// a decoder needs.
//
//   ETHERNET (1)       dst[6] src[6] type[2], then any number of 802.1Q/802.1ad tags (4 bytes each)
//   LINUX_SLL (113)    `tcpdump -i any` before libpcap 1.10: packet type[2] ARPHRD[2] addr len[2]
//                      addr[8] protocol[2] — 16 bytes, the EtherType at 14
//   LINUX_SLL2 (276)   `tcpdump -i any` since libpcap 1.10: protocol[2] reserved[2] ifindex[4]
//                      ARPHRD[2] packet type[1] addr len[1] addr[8] — 20 bytes, the EtherType at 0
//   RAW (101)          an IPv4 or IPv6 packet, told apart by its version nibble
//   IPV4 (228), IPV6 (229)  an IPv4 / IPv6 packet

import { LINKTYPE_ETHERNET } from "./pcap.ts";

export { LINKTYPE_ETHERNET };
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;
/** 802.1Q C-tag, 802.1ad S-tag, and the pre-standard Q-in-Q TPID some switches still send. */
const VLAN_TPIDS = new Set([0x8100, 0x88a8, 0x9100]);
const VLAN_TAG_LEN = 4;
const ETH_TYPE = 12;
const ETH_HEADER_LEN = 14;
const SLL_PROTOCOL = 14;
const SLL_HEADER_LEN = 16;
const SLL2_PROTOCOL = 0;
const SLL2_HEADER_LEN = 20;

/** The link types `networkLayer` reads, with the names tcpdump prints. */
export const LINK_TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [LINKTYPE_ETHERNET, "EN10MB"],
  [LINKTYPE_RAW, "RAW"],
  [LINKTYPE_LINUX_SLL, "LINUX_SLL"],
  [LINKTYPE_IPV4, "IPV4"],
  [LINKTYPE_IPV6, "IPV6"],
  [LINKTYPE_LINUX_SLL2, "LINUX_SLL2"],
]);

export interface NetworkLayer {
  /** EtherType of the network-layer packet (after every VLAN tag). */
  etherType: number;
  /** Its offset in the record. */
  offset: number;
  /** VLAN tags skipped. */
  tags: number;
}

/**
 * Where the network-layer packet of a record starts and what it is; undefined when the record
 * is shorter than its link header (a runt or a record cut by the snap length) or the link type
 * is not one of LINK_TYPE_NAMES. Every VLAN tag is skipped, however many (802.1Q inside
 * 802.1ad, as the kernel's and Wireshark's dissectors do).
 */
export function networkLayer(linkType: number, data: Uint8Array): NetworkLayer | undefined {
  switch (linkType) {
    case LINKTYPE_ETHERNET:
      return tagged(data, ETH_TYPE, ETH_HEADER_LEN);
    case LINKTYPE_LINUX_SLL:
      return tagged(data, SLL_PROTOCOL, SLL_HEADER_LEN);
    case LINKTYPE_LINUX_SLL2:
      return tagged(data, SLL2_PROTOCOL, SLL2_HEADER_LEN);
    case LINKTYPE_RAW: {
      if (data.length < 1) return undefined;
      const version = data[0] >> 4;
      if (version === 4) return { etherType: ETHERTYPE_IPV4, offset: 0, tags: 0 };
      if (version === 6) return { etherType: ETHERTYPE_IPV6, offset: 0, tags: 0 };
      return { etherType: 0, offset: 0, tags: 0 };
    }
    case LINKTYPE_IPV4:
      return { etherType: ETHERTYPE_IPV4, offset: 0, tags: 0 };
    case LINKTYPE_IPV6:
      return { etherType: ETHERTYPE_IPV6, offset: 0, tags: 0 };
  }
  return undefined;
}

/** The EtherType at `typeAt`, the payload at `headerLen`; each VLAN tag moves both by 4 bytes. */
function tagged(data: Uint8Array, typeAt: number, headerLen: number): NetworkLayer | undefined {
  if (data.length < headerLen) return undefined;
  let type = (data[typeAt] << 8) | data[typeAt + 1];
  let offset = headerLen;
  let tags = 0;
  while (VLAN_TPIDS.has(type)) {
    // A tag's TCI[2] sits where the payload would start, its inner EtherType[2] after it.
    if (data.length < offset + VLAN_TAG_LEN) return undefined;
    type = (data[offset + 2] << 8) | data[offset + 3];
    offset += VLAN_TAG_LEN;
    tags++;
  }
  return { etherType: type, offset, tags };
}

/** "LINUX_SLL2 (276)", or "276" for a link type weft does not read. */
export function linkTypeName(linkType: number): string {
  const name = LINK_TYPE_NAMES.get(linkType);
  return name ? `${name} (${linkType})` : `${linkType}`;
}
