// wire/ethernet.ts: MAC keys, the I/G bit, VLAN-aware L3 offset, emit.
import {
  ETH_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, check, emitEthernet, etherType,
  macIsGroup, macIsValidSource, macKey, payloadType, storeMacKey,
} from "../../assembly/wire/ethernet";
import { hex, put } from "./support/bytes";

function keyOf(mac: string): u64 {
  let buf = memory.data(8);
  put(buf, mac);
  return macKey(buf);
}

describe("ethernet", () => {
  test("macKey() puts byte 0 in the low bits, and storeMacKey() writes back exactly 6 bytes", () => {
    let buf = memory.data(16);
    memory.fill(buf, 0xa5, 16);
    put(buf + 1, "02 42 0a 00 00 01");
    let key = macKey(buf + 1);
    expect(key).toBe(0x0100000a4202);
    memory.fill(buf, 0xa5, 16);
    storeMacKey(buf + 5, key);
    expect(hex(buf, 16)).toBe("a5 a5 a5 a5 a5 02 42 0a 00 00 01 a5 a5 a5 a5 a5");
    expect(macKey(buf + 5)).toBe(key, "round trip");
  });

  test("macIsGroup() is the I/G bit: broadcast, IPv4 multicast 01:00:5e, IPv6 multicast 33:33", () => {
    expect(macIsGroup(keyOf("ff ff ff ff ff ff"))).toBe(true, "broadcast");
    expect(macIsGroup(keyOf("01 00 5e 00 00 16"))).toBe(true, "IGMPv3 report group");
    expect(macIsGroup(keyOf("33 33 ff 00 00 02"))).toBe(true, "solicited-node multicast");
    expect(macIsGroup(keyOf("02 42 0a 00 00 01"))).toBe(false, "unicast, locally administered");
    expect(macIsGroup(keyOf("fe 42 0a 00 00 01"))).toBe(false, "bit 1 set, bit 0 clear: unicast");
  });

  test("macIsValidSource() refuses the zero MAC and group MACs", () => {
    expect(macIsValidSource(keyOf("00 00 00 00 00 00"))).toBe(false, "zero");
    expect(macIsValidSource(keyOf("ff ff ff ff ff ff"))).toBe(false, "broadcast");
    expect(macIsValidSource(keyOf("33 33 00 00 00 16"))).toBe(false, "multicast");
    expect(macIsValidSource(keyOf("02 42 0a 00 00 01"))).toBe(true);
    expect(macIsValidSource(keyOf("00 00 00 00 00 02"))).toBe(true, "nonzero only in the last byte");
  });

  test("check() gives L3 at 14 untagged, and payloadType() is the EtherType there", () => {
    let f = memory.data(64);
    put(f, "02 42 0a 00 00 02 02 42 0a 00 00 01 08 00 45 00");
    expect(check(f, 14)).toBe(ETH_HEADER_LEN, "a header and nothing else");
    expect(check(f, 98)).toBe(14);
    expect(check(f, 13)).toBe(0, "13 bytes");
    expect(payloadType(f, 14)).toBe(ETHERTYPE_IPV4);
    expect(etherType(f)).toBe(ETHERTYPE_IPV4);
  });

  test("check() skips one 802.1Q or 802.1ad tag, and payloadType() reads the inner type", () => {
    let f = memory.data(64);
    put(f, "02 42 0a 00 00 02 02 42 0a 00 00 01 81 00 00 2a 86 dd 60 00");
    expect(check(f, 18)).toBe(18, "a tag and nothing else still fits");
    expect(check(f, 60)).toBe(18);
    expect(payloadType(f, 18)).toBe(ETHERTYPE_IPV6);
    put(f + 12, "88 a8 00 64 08 06");
    expect(check(f, 60)).toBe(18, "802.1ad");
    expect(payloadType(f, 18)).toBe(ETHERTYPE_ARP);
  });

  test("check() is 0 when the frame is too short for the tag it announces", () => {
    let f = memory.data(64);
    put(f, "02 42 0a 00 00 02 02 42 0a 00 00 01 81 00 00 2a 08 00");
    expect(check(f, 14)).toBe(0);
    expect(check(f, 17)).toBe(0);
    put(f + 12, "88 a8");
    expect(check(f, 16)).toBe(0, "802.1ad");
  });

  test("emitEthernet() writes dst, src and type, and nothing past byte 14", () => {
    let buf = memory.data(20);
    let dst = memory.data(6);
    let src = memory.data(6);
    memory.fill(buf, 0xa5, 20);
    put(dst, "02 42 0a 00 00 02");
    put(src, "02 42 0a 00 00 01");
    emitEthernet(buf, dst, src, ETHERTYPE_IPV4);
    // inner.pcap frame 17, bytes 0..13, then the untouched fill.
    expect(hex(buf, 20)).toBe("02 42 0a 00 00 02 02 42 0a 00 00 01 08 00 a5 a5 a5 a5 a5 a5");
  });
});
