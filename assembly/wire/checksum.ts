// The Internet checksum (RFC 1071): one's-complement sum of 16-bit words in network order.

/** Adds `len` bytes at `p` to a running 32-bit sum (words in network order). */
export function sumBytes(p: usize, len: u32, sum: u64): u64 {
  // 4 bytes at a time into a 64-bit accumulator; fold once at the end.
  let end = p + (len & ~3);
  while (p < end) {
    sum += <u64>bswap<u32>(load<u32>(p));
    p += 4;
  }
  if (len & 2) {
    sum += <u64>bswap<u16>(load<u16>(p));
    p += 2;
  }
  if (len & 1) sum += <u64>load<u8>(p) << 8;
  return sum;
}

/** Folds a running sum into the final one's-complement checksum. */
export function finish(sum: u64): u16 {
  sum = (sum & 0xffffffff) + (sum >>> 32);
  sum = (sum & 0xffffffff) + (sum >>> 32);
  let s = <u32>sum;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return <u16>~s;
}

@inline export function checksum(p: usize, len: u32): u16 {
  return finish(sumBytes(p, len, 0));
}
