// The VXLAN header of a captured datagram, read on the host side to sort a capture by VNI and to
// honour VXLAN-GPE before the core sees it. The core decapsulates; this only looks.
//
// VXLAN (RFC 7348 §5)            flags[1] (I = 0x08) reserved[3] VNI[3] reserved[1]
// VXLAN-GPE (draft-ietf-nvo3-vxlan-gpe §3.2, UDP port 4790)
//                                flags[1] = R R Ver(2) I P B O, reserved[2], next protocol[1],
//                                VNI[3], reserved[1]
// Next protocol: 1 IPv4, 2 IPv6, 3 Ethernet, 4 NSH, 5 MPLS. weft's switch is Ethernet only:
// anything but an Ethernet payload would become a frame whose "MACs" are an IP header.

/** IANA's UDP port for VXLAN-GPE: datagrams to it have a GPE header. */
export const VXLAN_GPE_PORT: number = 4790;
export const GPE_NEXT_ETHERNET = 3;
const VXLAN_HEADER_LEN = 8;
const FLAG_I = 0x08;
const FLAG_P = 0x04;
const FLAG_O = 0x01;
const VERSION_MASK = 0x30;
const NEXT_PROTOCOL = 3;
const VNI = 4;

/** A GPE datagram's flags the Linux kernel refuses (no next protocol, version ≠ 0, OAM). */
export const GPE_BAD_FLAGS = "gpe_bad_flags";
/** A GPE datagram whose payload is not Ethernet (IPv4, IPv6, NSH, MPLS…). */
export const GPE_NOT_ETHERNET = "gpe_not_ethernet";

/** The VNI of a VXLAN datagram, or -1 without the I flag or a whole header. */
export function vxlanVni(datagram: Uint8Array): number {
  if (datagram.length < VXLAN_HEADER_LEN || (datagram[0] & FLAG_I) === 0) return -1;
  return (datagram[VNI] << 16) | (datagram[VNI + 1] << 8) | datagram[VNI + 2];
}

/**
 * Why a VXLAN-GPE datagram must not be decapsulated into an Ethernet frame, or undefined when
 * it may. Follows the Linux kernel's vxlan_parse_gpe_proto(): the P flag must be set (a GPE
 * device has no default payload), version 0, no OAM flag; then only next protocol 3 (Ethernet)
 * makes a frame for an Ethernet switch. Shorter than a header: left to the core (vxlan_runt).
 */
export function gpeDropReason(datagram: Uint8Array): string | undefined {
  if (datagram.length < VXLAN_HEADER_LEN) return undefined;
  const flags = datagram[0];
  if ((flags & FLAG_P) === 0 || (flags & VERSION_MASK) !== 0 || (flags & FLAG_O) !== 0) return GPE_BAD_FLAGS;
  if (datagram[NEXT_PROTOCOL] !== GPE_NEXT_ETHERNET) return GPE_NOT_ETHERNET;
  return undefined;
}
