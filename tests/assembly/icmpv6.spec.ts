// wire/icmpv6.ts: which solicitations we answer (RFC 4861 §7.1.1, §7.2.3) and the advertisement
// we answer with, against the solicitation/advertisement pair in inner.pcap (frames 38, 39).
import { IPV6_HEADER_LEN } from "../../assembly/wire/ipv6";
import { isAnswerableSolicitation, rewriteAsAdvertisement } from "../../assembly/wire/icmpv6";
import { hex, put, refFold, refSum } from "./support/bytes";

const FD00_1 = "fd 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 ";
const FD00_2 = "fd 00 00 00 00 00 00 00 00 00 00 00 00 00 00 02 ";
const SOLICITED_NODE_2 = "ff 02 00 00 00 00 00 00 00 00 00 01 ff 00 00 02 ";

// Frame 38: fd00::1 asks for fd00::2, with its source link-layer option (01 01 + MAC).
const NS = "60 00 00 00 00 20 3a ff " + FD00_1 + SOLICITED_NODE_2 +
  "87 00 73 55 00 00 00 00 " + FD00_2 + "01 01 02 42 0a 00 00 01";
// Frame 1: duplicate address detection for fe80::42:aff:fe00:2, from ::, with a nonce option.
const DAD = "60 00 00 00 00 20 3a ff " + "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 " + SOLICITED_NODE_2 +
  "87 00 15 02 00 00 00 00 fe 80 00 00 00 00 00 00 00 42 0a ff fe 00 00 02 0e 01 df c1 56 6d 19 a7";
// Frame 39 is c2's kernel answering with flags S|O (60 00 00 00) and checksum 12 58. A proxy
// answers with S only (RFC 4861 §7.2.8: a proxy SHOULD NOT set O), so the golden has 40 00 00 00
// and, 0x2000 less in the sum, checksum 0x1258 + 0x2000 = 0x3258.
const NA = "60 00 00 00 00 20 3a ff " + FD00_2 + FD00_1 +
  "88 00 32 58 40 00 00 00 " + FD00_2 + "02 01 02 42 0a 00 00 02";

function packet(text: string): usize {
  let p = memory.data(128);
  memory.fill(p, 0xa5, 128);
  put(p, text);
  return p;
}

/** Reference ICMPv6 sum over pseudo-header + message, folded: 0xffff when the checksum is right. */
function verify(ip: usize, len: u32): u32 {
  let sum = refSum(ip + 8, 32); // source and destination
  sum += len + 58; // upper-layer length (32 bits) and next header, RFC 8200 §8.1
  return refFold(refSum(ip + IPV6_HEADER_LEN, len, sum));
}

describe("icmpv6 neighbour discovery", () => {
  test("the captured solicitation is answerable, and its checksum verifies with the reference sum", () => {
    let p = packet(NS);
    expect(verify(p, 32)).toBe(0xffff, "the fixture itself is right");
    expect(isAnswerableSolicitation(p)).toBe(true);
  });

  test("isAnswerableSolicitation() requires hop limit 255 (§7.1.1: it was not routed)", () => {
    let p = packet(NS);
    store<u8>(p, 254, 7);
    expect(isAnswerableSolicitation(p)).toBe(false, "hop limit 254");
    store<u8>(p, 64, 7);
    expect(isAnswerableSolicitation(p)).toBe(false, "hop limit 64");
  });

  test("isAnswerableSolicitation() requires ICMPv6 code 0", () => {
    let p = packet(NS);
    store<u8>(p, 1, IPV6_HEADER_LEN + 1);
    expect(isAnswerableSolicitation(p)).toBe(false);
  });

  test("isAnswerableSolicitation() leaves a DAD probe from :: to flood (the real one in frame 1)", () => {
    let p = packet(DAD);
    expect(verify(p, 32)).toBe(0xffff, "the fixture itself is right");
    expect(isAnswerableSolicitation(p)).toBe(false);
    store<u8>(p, 1, 23); // same probe from ::1 — only the all-zero source is DAD
    expect(isAnswerableSolicitation(p)).toBe(true);
    store<u8>(p, 0, 23);
    store<u8>(p, 0xfe, 8); // nonzero only in the first half of the source
    expect(isAnswerableSolicitation(p)).toBe(true);
  });

  test("isAnswerableSolicitation() refuses a multicast target", () => {
    let p = packet(NS);
    put(p + IPV6_HEADER_LEN + 8, "ff 02 00 00 00 00 00 00 00 00 00 00 00 00 00 01");
    expect(isAnswerableSolicitation(p)).toBe(false);
  });

  test("isAnswerableSolicitation() refuses other messages, other next headers, short payloads", () => {
    let p = packet(NS);
    store<u8>(p, 136, IPV6_HEADER_LEN);
    expect(isAnswerableSolicitation(p)).toBe(false, "an advertisement");
    p = packet(NS);
    store<u8>(p, 17, 6);
    expect(isAnswerableSolicitation(p)).toBe(false, "next header UDP");
    p = packet(NS);
    put(p + 4, "00 17");
    expect(isAnswerableSolicitation(p)).toBe(false, "payload 23 < 24: no room for the target");
    put(p + 4, "00 18");
    expect(isAnswerableSolicitation(p)).toBe(true, "payload 24: a target and no options");
  });

  test("rewriteAsAdvertisement() gives the golden advertisement, and writes nothing past it", () => {
    let p = packet(NS);
    let mac = memory.data(6);
    put(mac, "02 42 0a 00 00 02");
    let len = rewriteAsAdvertisement(p, mac);
    expect(len).toBe(72);
    expect(hex(p, 80)).toBe(NA + " a5 a5 a5 a5 a5 a5 a5 a5");
    expect(verify(p, 32)).toBe(0xffff, "the ICMPv6 checksum verifies over pseudo-header + message");
  });

  test("rewriteAsAdvertisement() grows a solicitation without options by the one TLLA option", () => {
    let p = packet(NS);
    put(p + 4, "00 18");
    memory.fill(p + 64, 0xa5, 8); // the solicitation ends at 64; its tailroom is unset
    let mac = memory.data(6);
    put(mac, "02 42 0a 00 00 02");
    expect(rewriteAsAdvertisement(p, mac)).toBe(72);
    expect(hex(p, 80)).toBe(NA + " a5 a5 a5 a5 a5 a5 a5 a5", "same advertisement as with the option");
    expect(verify(p, 32)).toBe(0xffff);
  });
});
