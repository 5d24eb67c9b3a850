// wire/ipv6.ts and wire/udp.ts: shape checks, the pseudo-header sum, emit.
import { finish, sumBytes } from "../../assembly/wire/checksum";
import { IPPROTO_ICMPV6, IPPROTO_UDP } from "../../assembly/wire/ipv4";
import { IPV6_HEADER_LEN, check as ipv6Check, emitIpv6, hopLimit, nextHeader, payloadLen, pseudoHeaderSum } from "../../assembly/wire/ipv6";
import { UDP_HEADER_LEN, check as udpCheck, dstPort, emitUdp, length, srcPort } from "../../assembly/wire/udp";
import { hex, put } from "./support/bytes";

// inner.pcap frame 38: neighbour solicitation fd00::1 → ff02::1:ff00:2 for fd00::2.
const NS_HEADER =
  "60 00 00 00 00 20 3a ff " +
  "fd 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 " +
  "ff 02 00 00 00 00 00 00 00 00 00 01 ff 00 00 02";
const NS_ICMP = "87 00 73 55 00 00 00 00 fd 00 00 00 00 00 00 00 00 00 00 00 00 00 00 02 01 01 02 42 0a 00 00 01";

function ns(): usize {
  let p = memory.data(96);
  memory.fill(p, 0xa5, 96);
  put(p, NS_HEADER + NS_ICMP);
  return p;
}

describe("ipv6", () => {
  test("check() accepts a real solicitation and reads its fields", () => {
    let p = ns();
    expect(ipv6Check(p, 72)).toBe(true);
    expect(ipv6Check(p, 96)).toBe(true, "trailing bytes are allowed");
    expect(payloadLen(p)).toBe(32);
    expect(nextHeader(p)).toBe(IPPROTO_ICMPV6);
    expect(hopLimit(p)).toBe(255);
  });

  test("check() refuses version 4, a payload longer than the buffer, and a short header", () => {
    let p = ns();
    expect(ipv6Check(p, 71)).toBe(false, "40 + 32 > 71");
    expect(ipv6Check(p, 39)).toBe(false, "no room for the fixed header");
    store<u8>(p, 0x45);
    expect(ipv6Check(p, 72)).toBe(false, "version 4");
  });

  test("pseudoHeaderSum() makes the captured ICMPv6 checksum verify (RFC 8200 §8.1)", () => {
    let p = ns();
    let sum = sumBytes(p + IPV6_HEADER_LEN, 32, pseudoHeaderSum(p, 32, IPPROTO_ICMPV6));
    expect(finish(sum)).toBe(0);
    store<u8>(p, 0x00, 23); // the solicitor's address changes: the sum must notice
    sum = sumBytes(p + IPV6_HEADER_LEN, 32, pseudoHeaderSum(p, 32, IPPROTO_ICMPV6));
    expect(finish(sum)).not.toBe(0);
  });

  test("emitIpv6() writes the captured header byte for byte, and nothing past byte 40", () => {
    let buf = memory.data(48);
    memory.fill(buf, 0xa5, 48);
    // The addresses come from a copy of the captured header (bytes 8..39: fd00::1, ff02::1:ff00:2).
    let addrs = ns() + 8;
    emitIpv6(buf, 32, IPPROTO_ICMPV6, 255, addrs, addrs + 16);
    expect(hex(buf, 48)).toBe(hex(ns(), 40) + " a5 a5 a5 a5 a5 a5 a5 a5");
  });
});

// outer.pcap frame 17: 198.18.0.1:47271 → 198.18.0.2:4789, length 114.
const REAL = "b8 a7 12 b5 00 72 8c ab";

describe("udp", () => {
  test("check() accepts a length field equal to, or shorter than, the buffer", () => {
    let p = memory.data(128);
    put(p, REAL);
    expect(udpCheck(p, 114)).toBe(true);
    expect(udpCheck(p, 120)).toBe(true, "trailing bytes (padding) are allowed");
    expect(srcPort(p)).toBe(47271);
    expect(dstPort(p)).toBe(4789);
    expect(length(p)).toBe(114);
  });

  test("check() refuses a length field bigger than the buffer or smaller than the header", () => {
    let p = memory.data(16);
    put(p, REAL);
    expect(udpCheck(p, 113)).toBe(false, "length 114 > len 113");
    put(p + 4, "00 07");
    expect(udpCheck(p, 16)).toBe(false, "length 7 < 8");
    put(p + 4, "00 08");
    expect(udpCheck(p, 8)).toBe(true, "an empty datagram");
    expect(udpCheck(p, 7)).toBe(false, "no room for the header");
  });

  test("emitUdp() writes ports, length and a zero checksum (RFC 7348 §5), nothing past byte 8", () => {
    let p = memory.data(12);
    memory.fill(p, 0xa5, 12);
    emitUdp(p, 47271, 4789, 106);
    expect(hex(p, 12)).toBe("b8 a7 12 b5 00 72 00 00 a5 a5 a5 a5");
    expect(UDP_HEADER_LEN).toBe(8);
    expect(IPPROTO_UDP).toBe(17);
  });
});
