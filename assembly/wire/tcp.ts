// TCP (RFC 9293) header fields the offload paths touch.
//
//  0      2      4          8          12        13     14       16       18
//  +------+------+----------+----------+---------+------+--------+--------+--------+---------
//  | sport| dport| seq      | ack      | off|rsv | flags| window | cksum  | urgent | options
//  +------+------+----------+----------+---------+------+--------+--------+--------+---------

@inline export const TCP_HEADER_LEN: u32 = 20;
@inline export const TCP_SEQ: u32 = 4;
@inline export const TCP_ACK: u32 = 8;
@inline const PORTS: u32 = 0; // source and destination port, one u32
@inline const DATA_OFFSET: u32 = 12;
@inline export const TCP_FLAGS: u32 = 13;
/** The window, u16 in network order; GRO copies it raw from the newest segment. */
@inline export const TCP_WINDOW: u32 = 14;
@inline export const TCP_CHECKSUM: u32 = 16;
@inline export const TCP_FIN: u8 = 0x01;
@inline export const TCP_SYN: u8 = 0x02;
@inline export const TCP_RST: u8 = 0x04;
@inline export const TCP_PSH: u8 = 0x08;
@inline export const TCP_ACK_FLAG: u8 = 0x10;
@inline export const TCP_URG: u8 = 0x20;
@inline export const TCP_ECE: u8 = 0x40;
@inline export const TCP_CWR: u8 = 0x80;

@inline export function headerLen(p: usize): u32 {
  return (<u32>load<u8>(p, DATA_OFFSET) >> 4) << 2;
}

@inline export function seq(p: usize): u32 {
  return bswap<u32>(load<u32>(p, TCP_SEQ));
}

@inline export function setSeq(p: usize, v: u32): void {
  store<u32>(p, bswap<u32>(v), TCP_SEQ);
}

@inline export function flags(p: usize): u8 {
  return load<u8>(p, TCP_FLAGS);
}

/** The one shape check: a data offset of at least 5 words that fits `len`. */
export function check(p: usize, len: u32): bool {
  if (len < TCP_HEADER_LEN) return false;
  let h = headerLen(p);
  return h >= TCP_HEADER_LEN && h <= len;
}

/**
 * Whether two headers of `hdrLen` bytes (options included) agree on what tcp_gro_receive()
 * requires equal: ports, data offset, option bytes. Sequence and ACK numbers, flags, window and
 * checksum are the merge's to compare or rewrite.
 */
@inline export function sameFlowHeader(a: usize, b: usize, hdrLen: u32): bool {
  if (load<u32>(a, PORTS) != load<u32>(b, PORTS) || load<u8>(a, DATA_OFFSET) != load<u8>(b, DATA_OFFSET)) return false;
  return memory.compare(a + TCP_HEADER_LEN, b + TCP_HEADER_LEN, hdrLen - TCP_HEADER_LEN) == 0;
}
