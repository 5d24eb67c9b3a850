// ARP/ND suppression: a request from a local port for an address the control plane has told us
// about is answered here, in place, and never flooded (the Linux bridge's neigh_suppress, and
// what Docker's overlay does with its static ARP entries).
//
// Announcements are never answered from the table; they are flooded, so every host and peer
// sees them (a virtual IP failing over, a container re-announcing itself after a restart):
//  - a gratuitous ARP, request or reply, sender IP = target IP (RFC 5227 §2.3 announcement,
//    RFC 5944 §4.6): answering it with the table's MAC would tell the announcer its address is
//    taken and keep the other hosts on the old mapping;
//  - an ARP probe (sender IP 0.0.0.0, RFC 5227 §2.1.1) from the MAC the table holds for the
//    probed address: that is the owner checking its own address, and the owner would not answer
//    itself (an answer is a conflict: RFC 5227 §2.1.1 makes it give the address up). A probe from
//    any other MAC is answered as the owner would defend its address;
//  - an unsolicited neighbour advertisement (RFC 4861 §7.2.6) is not a solicitation: flooded;
//    a DAD solicitation from :: (RFC 4862 §5.4.2) likewise (isAnswerableSolicitation).
// Only ARP requests (oper 1) are answered; replies and other opcodes flood as BUM frames.

import { ETH_DST, ETH_SRC, ETHERTYPE_ARP, ETHERTYPE_IPV6, check as ethCheck, macKey, payloadType } from "../wire/ethernet";
import { ARP_OPER_REQUEST, ARP_SHA, ARP_SPA, ARP_TPA, check as arpCheck, oper, rewriteAsReply } from "../wire/arp";
import { check as ipv6Check, storeV4Mapped } from "../wire/ipv6";
import { ND_TARGET, isAnswerableSolicitation, rewriteAsAdvertisement } from "../wire/icmpv6";
import { IPV6_HEADER_LEN } from "../wire/ipv6";
import { NEIGH_MAC, find } from "../switch/neigh";
import { argsPtr } from "../layout";
import { ARGS_ARP_KEY } from "../abi";

@inline export const NOT_ANSWERED: u32 = 0;
@inline export const ANSWERED_ARP: u32 = 1;
@inline export const ANSWERED_ND: u32 = 2;

/** Length of the reply written over the frame, with the kind in the top bits; 0 if not answered. */
export function answer(slot: i32, frame: usize, len: u32): u32 {
  let l3 = ethCheck(frame, len);
  if (l3 == 0) return 0;
  let type = payloadType(frame, l3);
  let p = frame + l3;
  if (type == ETHERTYPE_ARP) {
    if (!arpCheck(p, len - l3) || oper(p) != ARP_OPER_REQUEST) return 0;
    let spa = load<u32>(p, ARP_SPA);
    if (spa == load<u32>(p, ARP_TPA)) return 0; // gratuitous: an announcement, flood it
    // The table is keyed by 16-byte addresses: IPv4 as ::ffff:a.b.c.d.
    let key = argsPtr + ARGS_ARP_KEY;
    storeV4Mapped(key, load<u32>(p, ARP_TPA));
    let e = find(slot, key);
    if (e == 0) return 0;
    // A probe by the owner itself (RFC 5227 §2.1.1): the owner would stay silent.
    if (spa == 0 && macKey(p + ARP_SHA) == macKey(e + NEIGH_MAC)) return 0;
    rewriteAsReply(p, e + NEIGH_MAC);
    replyHeader(frame, e + NEIGH_MAC);
    return (ANSWERED_ARP << 28) | len;
  }
  if (type == ETHERTYPE_IPV6) {
    if (!ipv6Check(p, len - l3) || !isAnswerableSolicitation(p)) return 0;
    let e = find(slot, p + IPV6_HEADER_LEN + ND_TARGET);
    if (e == 0) return 0;
    let ipLen = rewriteAsAdvertisement(p, e + NEIGH_MAC);
    replyHeader(frame, e + NEIGH_MAC);
    return (ANSWERED_ND << 28) | (l3 + ipLen);
  }
  return 0;
}

/** The reply goes back to the asker, from the owner of the address. */
function replyHeader(frame: usize, mac: usize): void {
  memory.copy(frame + ETH_DST, frame + ETH_SRC, 6);
  memory.copy(frame + ETH_SRC, mac, 6);
}
