// Byte helpers for the specs: goldens are written as spaced hex ("45 00 00 54 …"), the way
// tshark -x and RFCs print them, so a failing comparison shows exactly which byte moved.

function nibble(c: i32): u32 {
  if (c >= 0x30 && c <= 0x39) return <u32>(c - 0x30);
  if (c >= 0x61 && c <= 0x66) return <u32>(c - 0x61 + 10);
  if (c >= 0x41 && c <= 0x46) return <u32>(c - 0x41 + 10);
  unreachable(); // a typo in a golden, not a test result
  return 0;
}

/** Writes the bytes of `hexText` (whitespace ignored) at `p`; returns how many. */
export function put(p: usize, hexText: string): u32 {
  let n: u32 = 0;
  let high: i32 = -1;
  for (let i = 0; i < hexText.length; i++) {
    let c = hexText.charCodeAt(i);
    if (c == 0x20 || c == 0x0a) continue;
    if (high < 0) {
      high = <i32>nibble(c);
    } else {
      store<u8>(p + n, <u8>((high << 4) | <i32>nibble(c)));
      n++;
      high = -1;
    }
  }
  return n;
}

const DIGITS = "0123456789abcdef";

/** The `len` bytes at `p` as lowercase hex, one space between bytes. */
export function hex(p: usize, len: u32): string {
  let out = "";
  for (let i: u32 = 0; i < len; i++) {
    let b = <i32>load<u8>(p + i);
    if (i > 0) out += " ";
    out += DIGITS.charAt(b >> 4) + DIGITS.charAt(b & 0xf);
  }
  return out;
}

/**
 * Reference one's-complement sum (RFC 1071), written the slow obvious way: one big-endian 16-bit
 * word at a time, a trailing odd byte padded with zero, carries folded at the end. It shares no
 * code with assembly/wire/checksum.ts, so the specs can check that module and its callers.
 */
export function refSum(p: usize, len: u32, start: u32 = 0): u32 {
  let sum = start;
  let i: u32 = 0;
  for (; i + 1 < len; i += 2) sum += (<u32>load<u8>(p + i) << 8) | <u32>load<u8>(p + i + 1);
  if (i < len) sum += <u32>load<u8>(p + i) << 8;
  return sum;
}

/** Folds a reference sum to 16 bits (not complemented): 0xffff over data that carries its checksum. */
export function refFold(sum: u32): u32 {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}
