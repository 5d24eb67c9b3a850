// Ethernet II (IEEE 802.3 framing with an EtherType), with 802.1Q awareness.
//
//  0                   6                  12       14
//  +-------------------+-------------------+--------+----------
//  | destination MAC   | source MAC        | type   | payload
//  +-------------------+-------------------+--------+----------
//  802.1Q: type = 0x8100, then TCI (2 bytes) and the real EtherType at 16, payload at 18.

@inline export const ETH_HEADER_LEN: u32 = 14;
@inline export const VLAN_TAG_LEN: u32 = 4;
@inline export const ETH_DST: u32 = 0;
@inline export const ETH_SRC: u32 = 6;
@inline export const ETH_TYPE: u32 = 12;

@inline export const ETHERTYPE_IPV4: u16 = 0x0800;
@inline export const ETHERTYPE_ARP: u16 = 0x0806;
@inline export const ETHERTYPE_VLAN: u16 = 0x8100;
@inline export const ETHERTYPE_QINQ: u16 = 0x88a8;
@inline export const ETHERTYPE_IPV6: u16 = 0x86dd;

/** A MAC address as a 48-bit key: byte 0 in the low bits, as it sits in memory. */
@inline export function macKey(p: usize): u64 {
  return (<u64>load<u16>(p, 4) << 32) | <u64>load<u32>(p);
}

@inline export function storeMacKey(p: usize, key: u64): void {
  store<u32>(p, <u32>key);
  store<u16>(p, <u16>(key >>> 32), 4);
}

/** I/G bit: the first transmitted bit, bit 0 of byte 0. Covers broadcast. */
@inline export function macIsGroup(key: u64): bool {
  return (key & 1) != 0;
}

/** A source MAC that a switch may learn (IEEE: not group, not all-zero). */
@inline export function macIsValidSource(key: u64): bool {
  return (key & 1) == 0 && key != 0;
}

@inline export function etherType(frame: usize): u16 {
  return bswap<u16>(load<u16>(frame, ETH_TYPE));
}

/**
 * The one shape check: a header, and room for the one 802.1Q or 802.1ad tag it announces.
 * Returns what every caller reads next, the offset of the L3 header (14, or 18 past a tag), and
 * 0 when the frame fails: one read of the EtherType on the frame path, not two.
 */
export function check(frame: usize, len: u32): u32 {
  if (len < ETH_HEADER_LEN) return 0;
  let type = etherType(frame);
  if (type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ) {
    return len >= ETH_HEADER_LEN + VLAN_TAG_LEN ? ETH_HEADER_LEN + VLAN_TAG_LEN : 0;
  }
  return ETH_HEADER_LEN;
}

/** EtherType of the payload at `l3` (the one after a VLAN tag, if any). */
@inline export function payloadType(frame: usize, l3: u32): u16 {
  return bswap<u16>(load<u16>(frame + l3 - 2));
}

export function emitEthernet(p: usize, dst: usize, src: usize, type: u16): void {
  memory.copy(p + ETH_DST, dst, 6);
  memory.copy(p + ETH_SRC, src, 6);
  store<u16>(p, bswap<u16>(type), ETH_TYPE);
}
