// ARP for IPv4 over Ethernet (RFC 826).
//
//  0      2      4    5    6      8            14           18           24           28
//  +------+------+----+----+------+------------+------------+------------+------------+
//  | htype| ptype|hlen|plen| oper | sender MAC | sender IP  | target MAC | target IP  |
//  +------+------+----+----+------+------------+------------+------------+------------+

@inline export const ARP_LEN: u32 = 28;
@inline export const ARP_OPER_REQUEST: u16 = 1;
@inline export const ARP_OPER_REPLY: u16 = 2;
@inline const HTYPE: u32 = 0;
@inline const PTYPE: u32 = 2;
@inline const HLEN: u32 = 4;
@inline const PLEN: u32 = 5;
@inline const OPER: u32 = 6;
@inline export const ARP_SHA: u32 = 8;
@inline export const ARP_SPA: u32 = 14;
@inline export const ARP_THA: u32 = 18;
@inline export const ARP_TPA: u32 = 24;

/** The one shape check: Ethernet hardware, IPv4 protocol, the lengths those imply. */
export function check(p: usize, len: u32): bool {
  return len >= ARP_LEN &&
    load<u16>(p, HTYPE) == bswap<u16>(1) &&
    load<u16>(p, PTYPE) == bswap<u16>(0x0800) &&
    load<u8>(p, HLEN) == 6 && load<u8>(p, PLEN) == 4;
}

@inline export function oper(p: usize): u16 {
  return bswap<u16>(load<u16>(p, OPER));
}

/**
 * Turns a request into the reply `mac` would send, in place (RFC 826 "swap fields"): the
 * requester becomes the target, the asked-for address the sender.
 */
export function rewriteAsReply(p: usize, mac: usize): void {
  let askedIp = load<u32>(p, ARP_TPA);
  memory.copy(p + ARP_THA, p + ARP_SHA, 6);
  store<u32>(p, load<u32>(p, ARP_SPA), ARP_TPA);
  memory.copy(p + ARP_SHA, mac, 6);
  store<u32>(p, askedIp, ARP_SPA);
  store<u16>(p, bswap<u16>(ARP_OPER_REPLY), OPER);
}
