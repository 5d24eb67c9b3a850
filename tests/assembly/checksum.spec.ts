// wire/checksum.ts against RFC 1071 and against the word-at-a-time reference in support/bytes.ts.
import { checksum, finish, sumBytes } from "../../assembly/wire/checksum";
import { put, refFold, refSum } from "./support/bytes";

// A real IPv4 header: the ICMP echo request 10.0.0.1 → 10.0.0.2 in
// ../shared/fixtures/kernel-vxlan-vni42/inner.pcap, frame 17 (checksum c0 22 included).
const REAL_IPV4 = "45 00 00 54 66 84 40 00 40 01 c0 22 0a 00 00 01 0a 00 00 02";

describe("checksum (RFC 1071)", () => {
  test("the RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2, checksum 0x220d", () => {
    let buf = memory.data(16);
    put(buf, "00 01 f2 03 f4 f5 f6 f7");
    expect(refFold(refSum(buf, 8))).toBe(0xddf2, "reference sum, as printed in the RFC");
    expect(finish(sumBytes(buf, 8, 0))).toBe(0x220d);
    expect(checksum(buf, 8)).toBe(0x220d);
  });

  test("an odd trailing byte counts as the high byte of a zero-padded word", () => {
    let buf = memory.data(8);
    memory.fill(buf, 0xa5, 8);
    put(buf, "01 02 03"); // 0x0102 + 0x0300 = 0x0402
    expect(checksum(buf, 3)).toBe(0xfbfd, "the 0xa5 after byte 3 must not be summed");
    put(buf, "00 01 f2 03 f4"); // 0x0001 + 0xf203 + 0xf400 = 0x1e604 → 0xe605
    expect(checksum(buf, 5)).toBe(<u16>~0xe605);
  });

  test("every length from 0 to 67 agrees with the word-at-a-time reference", () => {
    let buf = memory.data(72);
    let x: u32 = 0x12345678;
    for (let i = 0; i < 72; i++) {
      x = x * 1103515245 + 12345;
      store<u8>(buf + i, <u8>(x >>> 24));
    }
    for (let len: u32 = 0; len < 68; len++) {
      let want = <u16>~refFold(refSum(buf, len));
      expect(checksum(buf, len)).toBe(want, "length " + len.toString());
      // The same bytes at an odd address: the core sums frames at any offset.
      expect(checksum(buf + 1, len)).toBe(<u16>~refFold(refSum(buf + 1, len)), "unaligned, length " + len.toString());
    }
  });

  test("carries fold back in: 64 bytes of 0xff sum to 0xffff, checksum 0", () => {
    let buf = memory.data(64);
    memory.fill(buf, 0xff, 64);
    expect(checksum(buf, 64)).toBe(0);
    expect(checksum(buf, 0)).toBe(0xffff, "nothing summed: ~0");
  });

  test("sumBytes() continues a running sum, so even-length pieces chain", () => {
    let buf = memory.data(32);
    put(buf, REAL_IPV4);
    let whole = finish(sumBytes(buf, 20, 0));
    expect(finish(sumBytes(buf + 6, 14, sumBytes(buf, 6, 0)))).toBe(whole, "split at 6");
    expect(finish(sumBytes(buf + 12, 8, sumBytes(buf, 12, 0)))).toBe(whole, "split at 12");
  });

  test("a real IPv4 header, checksum included, sums to 0xffff (checksum 0)", () => {
    let buf = memory.data(32);
    put(buf, REAL_IPV4);
    expect(checksum(buf, 20)).toBe(0);
    store<u16>(buf, 0, 10);
    expect(checksum(buf, 20)).toBe(0xc022, "with the field zeroed it is the captured c0 22");
  });
});
