// The UDP source port of an encapsulated frame carries a hash of the inner flow (RFC 7348 §5),
// so ECMP and RSS in the underlay spread tunnels the way they spread plain flows. Like the
// kernel's udp_flow_src_port(), the hash is scaled into the ephemeral range.

import { ETH_DST, ETH_SRC, ETH_TYPE, ETHERTYPE_IPV4, ETHERTYPE_IPV6, check as ethCheck, payloadType } from "../wire/ethernet";
import { IPPROTO_TCP, IPPROTO_UDP, IPV4_SRC, check as ipv4Check, headerLen, isFragment, proto } from "../wire/ipv4";
import { mix64 } from "../hash";
import { IPV6_HEADER_LEN, IPV6_SRC, check as ipv6Check, nextHeader } from "../wire/ipv6";

export let portMin: u32 = 32768;
export let portMax: u32 = 61000; // exclusive


/** Hash of the inner flow: the L4 5-tuple where there is one, else addresses, else MACs. */
export function flowHash(frame: usize, len: u32): u32 {
  let l3 = ethCheck(frame, len);
  if (l3 != 0) {
    let type = payloadType(frame, l3);
    let ip = frame + l3;
    let room = len - l3;
    if (type == ETHERTYPE_IPV4 && ipv4Check(ip, room)) {
      let h = load<u64>(ip, IPV4_SRC) ^ (<u64>proto(ip) << 56);
      let ihl = headerLen(ip);
      let p = proto(ip);
      if ((p == IPPROTO_TCP || p == IPPROTO_UDP) && !isFragment(ip) && room >= ihl + 4) {
        h ^= <u64>load<u32>(ip + ihl) * 0x9e3779b97f4a7c15;
      }
      return <u32>(mix64(h) >>> 32);
    }
    if (type == ETHERTYPE_IPV6 && ipv6Check(ip, room)) {
      let h = load<u64>(ip, IPV6_SRC) ^ load<u64>(ip, IPV6_SRC + 8) * 3 ^
        load<u64>(ip, IPV6_SRC + 16) * 5 ^ load<u64>(ip, IPV6_SRC + 24) * 7;
      let p = nextHeader(ip);
      h ^= <u64>p << 56;
      if ((p == IPPROTO_TCP || p == IPPROTO_UDP) && room >= IPV6_HEADER_LEN + 4) {
        h ^= <u64>load<u32>(ip + IPV6_HEADER_LEN) * 0x9e3779b97f4a7c15;
      }
      return <u32>(mix64(h) >>> 32);
    }
  }
  // The destination MAC and the last four bytes of the source MAC (the u64 at ETH_DST read its
  // first two).
  let h = load<u64>(frame, ETH_DST) ^ (<u64>load<u32>(frame, ETH_SRC + 2) * 0x9e3779b97f4a7c15);
  h ^= <u64>load<u16>(frame, ETH_TYPE);
  return <u32>(mix64(h) >>> 32);
}

@inline export function sourcePort(hash: u32): u16 {
  return <u16>(((<u64>hash * <u64>(portMax - portMin)) >>> 32) + portMin);
}

export function setPortRange(min: u32, max: u32): void {
  portMin = min;
  portMax = max;
}
