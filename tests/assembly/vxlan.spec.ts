import { VXLAN_HEADER_LEN, check, emitVxlan, flags, hasVni, vni } from "../../assembly/wire/vxlan";

describe("vxlan", () => {
  test("emit writes the I flag, zero reserved bits and the VNI (RFC 7348 §5)", () => {
    let buf = memory.data(16);
    memory.fill(buf, 0xa5, 16);
    emitVxlan(buf, 42);
    expect(load<u8>(buf, 0)).toBe(0x08);
    expect(load<u8>(buf, 1)).toBe(0);
    expect(load<u16>(buf, 2)).toBe(0);
    expect(load<u8>(buf, 4)).toBe(0);
    expect(load<u8>(buf, 5)).toBe(0);
    expect(load<u8>(buf, 6)).toBe(42);
    expect(load<u8>(buf, 7)).toBe(0);
    expect(load<u8>(buf, 8)).toBe(0xa5, "nothing past the header");
    expect(vni(buf)).toBe(42);
    expect(hasVni(buf)).toBe(true);
    expect(VXLAN_HEADER_LEN).toBe(8);
  });

  test("check() wants the header and an inner Ethernet header (8 + 14 bytes)", () => {
    let buf = memory.data(32);
    emitVxlan(buf, 42);
    expect(check(buf, 22)).toBe(true);
    expect(check(buf, 21)).toBe(false);
    expect(check(buf, 8)).toBe(false, "a header alone carries no frame");
  });
});
