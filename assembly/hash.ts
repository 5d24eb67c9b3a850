// One 64-bit mixer for every table and the flow hash: splitmix64's finaliser, after which every
// input bit reaches every output bit, so masking off low bits for a bucket is safe (a bare
// multiply only carries upward: the last bytes of an address would never reach the low bits).

@inline export function mix64(h: u64): u64 {
  h = (h ^ (h >>> 30)) * 0xbf58476d1ce4e5b9;
  h = (h ^ (h >>> 27)) * 0x94d049bb133111eb;
  return h ^ (h >>> 31);
}
