// struct virtio_net_hdr (include/uapi/linux/virtio_net.h), the 10 bytes a TAP with
// IFF_VNET_HDR puts before every frame: how the kernel hands us a TSO/USO super-frame with a
// checksum still to fill, and how we hand it a coalesced (GRO) one. Little-endian, as the
// kernel uses for TAP on little-endian hosts unless TUNSETVNETBE says otherwise.
//
//  0       1          2         4          6            8             10
//  +-------+----------+---------+----------+------------+-------------+
//  | flags | gso_type | hdr_len | gso_size | csum_start | csum_offset |
//  +-------+----------+---------+----------+------------+-------------+

@inline export const VNET_HDR_LEN: u32 = 10;
@inline const FLAGS: u32 = 0;
@inline const GSO_TYPE: u32 = 1;
@inline const HDR_LEN: u32 = 2;
@inline const GSO_SIZE: u32 = 4;
@inline const CSUM_START: u32 = 6;
@inline const CSUM_OFFSET: u32 = 8;

@inline export const F_NEEDS_CSUM: u8 = 1;
@inline export const F_DATA_VALID: u8 = 2;
@inline export const GSO_NONE: u8 = 0;
@inline export const GSO_TCPV4: u8 = 1;
@inline export const GSO_UDP: u8 = 3; // UFO: IP fragmentation, which a VTEP never does
@inline export const GSO_TCPV6: u8 = 4;
@inline export const GSO_UDP_L4: u8 = 5;
@inline export const GSO_ECN: u8 = 0x80;

@inline export function vnetFlags(p: usize): u8 { return load<u8>(p, FLAGS); }
@inline export function gsoType(p: usize): u8 { return load<u8>(p, GSO_TYPE); }
@inline export function gsoSize(p: usize): u32 { return load<u16>(p, GSO_SIZE); }
@inline export function csumStart(p: usize): u32 { return load<u16>(p, CSUM_START); }
@inline export function csumOffset(p: usize): u32 { return load<u16>(p, CSUM_OFFSET); }

export function emitVnet(
  p: usize, flags: u8, type: u8, hdrLen: u32, size: u32, start: u32, offset: u32,
): void {
  store<u8>(p, flags, FLAGS);
  store<u8>(p, type, GSO_TYPE);
  store<u16>(p, <u16>hdrLen, HDR_LEN);
  store<u16>(p, <u16>size, GSO_SIZE);
  store<u16>(p, <u16>start, CSUM_START);
  store<u16>(p, <u16>offset, CSUM_OFFSET);
}
