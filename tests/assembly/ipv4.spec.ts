// wire/ipv4.ts: the one shape check, fragments, and the outer header the tunnel emits.
import { checksum } from "../../assembly/wire/checksum";
import { IPPROTO_UDP, IPV4_HEADER_LEN, check, dontFragment, emitIpv4, headerLen, isFragment, proto, setCe, totalLen, tos } from "../../assembly/wire/ipv4";
import { hex, put, refFold, refSum } from "./support/bytes";

// inner.pcap frame 17: ICMP echo request 10.0.0.1 → 10.0.0.2, id 0x6684, DF, TTL 64, 84 bytes.
const REAL_HEADER = "45 00 00 54 66 84 40 00 40 01 c0 22 0a 00 00 01 0a 00 00 02";

function realPacket(): usize {
  let p = memory.data(128);
  memory.fill(p, 0, 128);
  put(p, REAL_HEADER);
  put(p + 20, "08 00 e8 3b 19 87 00 01"); // the ICMP echo header; the rest of the 84 bytes is zero here
  return p;
}

describe("ipv4", () => {
  test("check() accepts a real header whose checksum verifies", () => {
    let p = realPacket();
    expect(check(p, 84)).toBe(true, "exactly total length");
    expect(check(p, 98)).toBe(true, "with trailing bytes (Ethernet padding)");
    expect(checksum(p, 20)).toBe(0, "a valid header sums to 0xffff");
    expect(headerLen(p)).toBe(20);
    expect(totalLen(p)).toBe(84);
    expect(proto(p)).toBe(1);
  });

  test("check() refuses a buffer shorter than the total length or than a header", () => {
    let p = realPacket();
    expect(check(p, 83)).toBe(false, "total 84 > len 83");
    expect(check(p, 19)).toBe(false, "no room for a header");
  });

  test("check() refuses version 6 (and 0) in the version nibble", () => {
    let p = realPacket();
    store<u8>(p, 0x65);
    expect(check(p, 84)).toBe(false, "version 6");
    store<u8>(p, 0x05);
    expect(check(p, 84)).toBe(false, "version 0");
  });

  test("check() refuses an IHL below 5", () => {
    let p = realPacket();
    store<u8>(p, 0x44);
    expect(check(p, 84)).toBe(false, "ihl 4");
    store<u8>(p, 0x40);
    expect(check(p, 84)).toBe(false, "ihl 0");
  });

  test("check() refuses a total length shorter than the header it declares", () => {
    let p = realPacket();
    put(p + 2, "00 13"); // 19 < 20
    expect(check(p, 84)).toBe(false, "total 19, ihl 20");
    store<u8>(p, 0x46); // 24-byte header (one option word)
    put(p + 2, "00 14");
    expect(check(p, 84)).toBe(false, "total 20, ihl 24");
    put(p + 2, "00 18");
    expect(check(p, 84)).toBe(true, "total 24, ihl 24: a header and no payload");
  });

  test("isFragment() is false for DF alone, true for MF or any offset", () => {
    let p = realPacket();
    expect(isFragment(p)).toBe(false, "40 00: DF");
    put(p + 6, "00 00");
    expect(isFragment(p)).toBe(false, "no flags");
    put(p + 6, "20 00");
    expect(isFragment(p)).toBe(true, "MF, offset 0: the first fragment");
    put(p + 6, "00 b9");
    expect(isFragment(p)).toBe(true, "offset 185 × 8, last fragment");
    put(p + 6, "60 01");
    expect(isFragment(p)).toBe(true, "DF and MF and an offset");
  });

  test("emitIpv4() writes the captured header byte for byte, and nothing past byte 20", () => {
    let p = memory.data(32);
    memory.fill(p, 0xa5, 32);
    // Addresses are passed in network order: the u32 whose memory bytes are 0a 00 00 01.
    emitIpv4(p, 64, 1, 64, 0x6684, bswap<u32>(0x0a000001), bswap<u32>(0x0a000002));
    expect(hex(p, 32)).toBe(REAL_HEADER + " a5 a5 a5 a5 a5 a5 a5 a5 a5 a5 a5 a5");
  });

  test("emitIpv4() fills a checksum the reference sum verifies (outer VXLAN header)", () => {
    let p = memory.data(24);
    memory.fill(p, 0xa5, 24);
    // 198.18.0.1 → 198.18.0.2, UDP, 114 bytes of payload, TTL 64, id 0x8333 (outer.pcap frame 17
    // carries these, but without DF). By hand: 4500 + 0086 + 8333 + 4000 + 4011 + c612 + 0001 +
    // c612 + 0002 = 0x2d4f1 → 0xd4f3, checksum ~0xd4f3 = 0x2b0c; the capture's 6b 0c less the
    // 0x4000 of DF agrees.
    emitIpv4(p, 114, IPPROTO_UDP, 64, 0x8333, bswap<u32>(0xc6120001), bswap<u32>(0xc6120002));
    expect(hex(p, 24)).toBe("45 00 00 86 83 33 40 00 40 11 2b 0c c6 12 00 01 c6 12 00 02 a5 a5 a5 a5");
    expect(refFold(refSum(p, IPV4_HEADER_LEN))).toBe(0xffff, "the header with its checksum sums to 0xffff");
    expect(check(p, 134)).toBe(true, "and passes its own shape check");
  });

  test("emitIpv4(…, tos 0, df false) writes the kernel's own outer header of outer.pcap frame 17 byte for byte", () => {
    // The kernel's VXLAN defaults (`df unset`, `tos 0`): DF clear, so the checksum is 6b 0c.
    let p = memory.data(24);
    memory.fill(p, 0xa5, 24);
    emitIpv4(p, 114, IPPROTO_UDP, 64, 0x8333, bswap<u32>(0xc6120001), bswap<u32>(0xc6120002), 0, false);
    expect(hex(p, 24)).toBe("45 00 00 86 83 33 00 00 40 11 6b 0c c6 12 00 01 c6 12 00 02 a5 a5 a5 a5");
    expect(dontFragment(p)).toBe(false);
    emitIpv4(p, 114, IPPROTO_UDP, 64, 0x8333, bswap<u32>(0xc6120001), bswap<u32>(0xc6120002), 0x02, false);
    expect(tos(p)).toBe(0x02, "ECT(0) outside for an ECT(0) inner packet (RFC 6040)");
    expect(refFold(refSum(p, IPV4_HEADER_LEN))).toBe(0xffff);
  });

  test("setCe() marks CE and patches the checksum as a full recompute would (RFC 1624)", () => {
    let p = realPacket();
    put(p + 1, "02"); // ECT(0); the checksum is now stale: recompute it as the sender would
    put(p + 10, "00 00");
    let c = checksum(p, IPV4_HEADER_LEN);
    store<u16>(p + 10, bswap<u16>(c));
    setCe(p);
    expect(tos(p)).toBe(0x03);
    expect(refFold(refSum(p, IPV4_HEADER_LEN))).toBe(0xffff, "the patched header still sums to 0xffff");
    setCe(p);
    expect(refFold(refSum(p, IPV4_HEADER_LEN))).toBe(0xffff, "CE twice changes nothing");
  });
});
