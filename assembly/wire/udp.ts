// UDP (RFC 768).
//
//  0       2       4       6       8
//  +-------+-------+-------+-------+
//  | sport | dport | length| cksum |
//  +-------+-------+-------+-------+

@inline export const UDP_HEADER_LEN: u32 = 8;
@inline const SRC_PORT: u32 = 0;
@inline const DST_PORT: u32 = 2;
@inline const LENGTH: u32 = 4;
@inline const CHECKSUM: u32 = 6;

@inline export function srcPort(p: usize): u16 {
  return bswap<u16>(load<u16>(p, SRC_PORT));
}

@inline export function dstPort(p: usize): u16 {
  return bswap<u16>(load<u16>(p, DST_PORT));
}

@inline export function length(p: usize): u32 {
  return bswap<u16>(load<u16>(p, LENGTH));
}

/** The one shape check: a header, and a length field within both the header and `len`. */
export function check(p: usize, len: u32): bool {
  if (len < UDP_HEADER_LEN) return false;
  let l = length(p);
  return l >= UDP_HEADER_LEN && l <= len;
}

/**
 * Writes the header with a zero checksum: RFC 7348 §5 says the VXLAN UDP checksum SHOULD be
 * transmitted as zero over IPv4, and the Linux kernel does so by default.
 */
export function emitUdp(p: usize, sport: u16, dport: u16, payloadLen: u32): void {
  store<u16>(p, bswap<u16>(sport), SRC_PORT);
  store<u16>(p, bswap<u16>(dport), DST_PORT);
  store<u16>(p, bswap<u16>(<u16>(UDP_HEADER_LEN + payloadLen)), LENGTH);
  store<u16>(p, 0, CHECKSUM);
}

@inline export function setLength(p: usize, v: u32): void {
  store<u16>(p, bswap<u16>(<u16>v), LENGTH);
}

@inline export function setChecksum(p: usize, sum: u16): void {
  store<u16>(p, bswap<u16>(sum), CHECKSUM);
}
