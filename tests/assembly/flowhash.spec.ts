// pipeline/flowhash.ts: the outer UDP source port carries a hash of the inner flow
// (RFC 7348 §5), scaled into [32768, 61000) like the kernel's udp_flow_src_port().
import { flowHash, portMax, portMin, setPortRange, sourcePort } from "../../assembly/pipeline/flowhash";
import { put } from "./support/bytes";

const C1 = "02 42 0a 00 00 01";
const C2 = "02 42 0a 00 00 02";

/** Ethernet + IPv4 (20 B) + the first 20 bytes of TCP/UDP; returns the frame length. */
function ipv4Frame(f: usize, proto: u8, sport: u16, dport: u16, src: u32, dst: u32): u32 {
  memory.fill(f, 0, 128);
  put(f, C2 + C1 + "08 00");
  put(f + 14, "45 00 00 28 00 01 40 00 40");
  store<u8>(f, proto, 14 + 9);
  store<u32>(f, bswap<u32>(src), 14 + 12);
  store<u32>(f, bswap<u32>(dst), 14 + 16);
  store<u16>(f, bswap<u16>(sport), 34);
  store<u16>(f, bswap<u16>(dport), 36);
  return 54;
}

function tcp4(sport: u16, dport: u16): u32 {
  let f = memory.data(128);
  return flowHash(f, ipv4Frame(f, 6, sport, dport, 0x0a000001, 0x0a000002));
}

/** Ethernet + IPv6 fd00::1 → fd00::2 + 20 bytes of L4. */
function ipv6Frame(f: usize, next: u8, sport: u16, dport: u16): u32 {
  memory.fill(f, 0, 128);
  put(f, C2 + C1 + "86 dd");
  put(f + 14, "60 00 00 00 00 14 00 40 fd 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01");
  put(f + 38, "fd 00 00 00 00 00 00 00 00 00 00 00 00 00 00 02");
  store<u8>(f, next, 14 + 6);
  store<u16>(f, bswap<u16>(sport), 54);
  store<u16>(f, bswap<u16>(dport), 56);
  return 74;
}

function tcp6(sport: u16, dport: u16): u32 {
  let f = memory.data(128);
  return flowHash(f, ipv6Frame(f, 6, sport, dport));
}

// inner.pcap frame 15, the ARP request, with 0xa5 where Ethernet padding would be.
const ARP = "ff ff ff ff ff ff " + C1 + "08 06 00 01 08 00 06 04 00 01 " + C1 +
  "0a 00 00 01 00 00 00 00 00 00 0a 00 00 02";

describe("flowhash", () => {
  test("sourcePort() maps the whole u32 range into [32768, 61000)", () => {
    expect(portMin).toBe(32768);
    expect(portMax).toBe(61000);
    expect(sourcePort(0)).toBe(32768);
    expect(sourcePort(0xffffffff)).toBe(60999);
    expect(sourcePort(0x80000000)).toBe(32768 + 14116, "the middle of the range");
    let x: u32 = 0x2545f491;
    for (let i = 0; i < 10000; i++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      let p = sourcePort(x);
      if (p < 32768 || p >= 61000) expect(p).toBe(32768, "hash " + x.toString() + " out of range");
    }
  });

  test("every port of 3000 real-shaped flows is in range, and they spread over it", () => {
    let lowHalf = 0;
    for (let i: u32 = 0; i < 3000; i++) {
      let p = sourcePort(tcp4(<u16>(1024 + i * 7), 80));
      expect(p >= 32768 && p < 61000).toBe(true, "flow " + i.toString() + ": " + p.toString());
      if (p < 46884) lowHalf++;
    }
    expect(lowHalf > 1300 && lowHalf < 1700).toBe(true, "about half below the middle: " + lowHalf.toString());
  });

  test("the same IPv4 flow gets the same port whatever the MACs, TTL, ident or payload", () => {
    let f = memory.data(128);
    let len = ipv4Frame(f, 6, 43210, 80, 0x0a000001, 0x0a000002);
    let h = flowHash(f, len);
    expect(flowHash(f, len)).toBe(h, "again");
    put(f, "02 42 0a 00 00 09 02 42 0a 00 00 08");
    store<u8>(f, 1, 14 + 8); // TTL
    store<u16>(f, 0xbeef, 14 + 4); // ident
    store<u32>(f, 0xdeadbeef, 38); // TCP sequence number
    expect(flowHash(f, len)).toBe(h);
  });

  test("swapping TCP ports changes the hash (the two directions are two flows)", () => {
    expect(tcp4(43210, 80)).not.toBe(tcp4(80, 43210), "43210 ↔ 80");
    expect(tcp4(50000, 22)).not.toBe(tcp4(22, 50000), "50000 ↔ 22");
    expect(tcp4(1024, 443)).not.toBe(tcp4(443, 1024), "1024 ↔ 443");
    expect(tcp4(4789, 8472)).not.toBe(tcp4(8472, 4789), "4789 ↔ 8472");
  });

  test("another port, address or protocol is another flow", () => {
    let f = memory.data(128);
    let h = tcp4(43210, 80);
    expect(tcp4(43210, 81)).not.toBe(h, "destination port");
    expect(tcp4(43211, 80)).not.toBe(h, "source port");
    expect(flowHash(f, ipv4Frame(f, 6, 43210, 80, 0x0a000003, 0x0a000002))).not.toBe(h, "source address");
    expect(flowHash(f, ipv4Frame(f, 6, 43210, 80, 0x0a000001, 0x0a000004))).not.toBe(h, "destination address");
    expect(flowHash(f, ipv4Frame(f, 17, 43210, 80, 0x0a000001, 0x0a000002))).not.toBe(h, "UDP, same ports");
  });

  test("an 802.1Q tag does not change an IP flow's hash", () => {
    let f = memory.data(128);
    let g = memory.data(132);
    let len = ipv4Frame(f, 17, 5353, 53, 0x0a000001, 0x0a000002);
    memory.copy(g, f, 12);
    put(g + 12, "81 00 00 2a");
    memory.copy(g + 16, f + 12, len - 12);
    expect(flowHash(g, len + 4)).toBe(flowHash(f, len));
  });

  test("fragments hash by addresses only, so all fragments of a datagram stay on one path", () => {
    let f = memory.data(128);
    let len = ipv4Frame(f, 17, 5353, 53, 0x0a000001, 0x0a000002);
    put(f + 14 + 6, "20 00"); // MF, offset 0: the first fragment, with the ports
    let first = flowHash(f, len);
    put(f + 14 + 6, "00 b9"); // a later fragment: its bytes at the port offsets are data
    store<u32>(f, 0x12345678, 34);
    expect(flowHash(f, len)).toBe(first);
  });

  test("IPv6: the same flow gets the same port; swapped or changed ports are other flows", () => {
    let f = memory.data(128);
    let len = ipv6Frame(f, 6, 43210, 80);
    let h = flowHash(f, len);
    put(f, "02 42 0a 00 00 09 02 42 0a 00 00 08");
    store<u8>(f, 1, 14 + 7); // hop limit
    expect(flowHash(f, len)).toBe(h, "MACs and hop limit ignored");
    expect(tcp6(80, 43210)).not.toBe(h, "swapped");
    expect(tcp6(50000, 22)).not.toBe(tcp6(22, 50000), "swapped");
    expect(tcp6(43210, 81)).not.toBe(h, "another port");
    expect(flowHash(f, ipv6Frame(f, 17, 43210, 80))).not.toBe(h, "UDP");
    let p = sourcePort(h);
    expect(p >= 32768 && p < 61000).toBe(true);
  });

  test("non-IP frames hash by their MACs: the real ARP request", () => {
    let f = memory.data(64);
    memory.fill(f, 0xa5, 64);
    put(f, ARP);
    let h = flowHash(f, 42);
    put(f + 14 + 24, "0a 00 00 63"); // asks for another address
    expect(flowHash(f, 42)).toBe(h, "ARP body ignored");
    expect(flowHash(f, 60)).toBe(h, "padding ignored");
    put(f + 6, "02 42 0a 00 00 02");
    expect(flowHash(f, 42)).not.toBe(h, "another source MAC");
    put(f + 6, C1);
    put(f, "02 42 0a 00 00 02");
    expect(flowHash(f, 42)).not.toBe(h, "another destination MAC");
  });

  test("IP frames that fail their shape check, or are cut inside a VLAN tag, hash by MACs", () => {
    let f = memory.data(128);
    let len = ipv4Frame(f, 6, 43210, 80, 0x0a000001, 0x0a000002);
    store<u8>(f, 0x65, 14); // version 6 under EtherType IPv4
    let h = flowHash(f, len);
    store<u32>(f, 0x01020304, 14 + 12); // other "addresses": not read
    expect(flowHash(f, len)).toBe(h, "malformed IPv4: addresses not used");
    put(f + 6, "02 42 0a 00 00 07");
    expect(flowHash(f, len)).not.toBe(h, "but the MACs are");
    len = ipv4Frame(f, 6, 43210, 80, 0x0a000001, 0x0a000002);
    put(f + 12, "81 00 00 2a 08 00"); // a tag announced, but the frame ends at byte 15
    h = flowHash(f, 15);
    store<u32>(f, 0x01020304, 18 + 12); // an "address" past the end of the frame
    expect(flowHash(f, 15)).toBe(h, "cut inside the tag: nothing past it is read");
  });

  test("setPortRange() moves the range, and every port stays inside it", () => {
    setPortRange(49152, 65535);
    expect(sourcePort(0)).toBe(49152);
    expect(sourcePort(0xffffffff)).toBe(65534);
    for (let i: u32 = 0; i < 500; i++) {
      let p = sourcePort(tcp4(<u16>(2000 + i), 443));
      expect(p >= 49152 && p < 65535).toBe(true, "port " + p.toString());
    }
    setPortRange(32768, 61000);
  });
});
