// wire/arp.ts: the shape check and the in-place reply, against a real request/reply pair.
import { ARP_LEN, ARP_OPER_REQUEST, check, oper, rewriteAsReply } from "../../assembly/wire/arp";
import { hex, put } from "./support/bytes";

// inner.pcap frame 15: who has 10.0.0.2? tell 10.0.0.1 (02:42:0a:00:00:01).
const REQUEST = "00 01 08 00 06 04 00 01 02 42 0a 00 00 01 0a 00 00 01 00 00 00 00 00 00 0a 00 00 02";
// inner.pcap frame 16: the reply c2's kernel sent, 10.0.0.2 is at 02:42:0a:00:00:02.
const REPLY = "00 01 08 00 06 04 00 02 02 42 0a 00 00 02 0a 00 00 02 02 42 0a 00 00 01 0a 00 00 01";

function request(): usize {
  let p = memory.data(36);
  memory.fill(p, 0xa5, 36);
  put(p, REQUEST);
  return p;
}

describe("arp", () => {
  test("check() accepts a real request", () => {
    let p = request();
    expect(check(p, ARP_LEN)).toBe(true);
    expect(check(p, 46)).toBe(true, "with Ethernet padding after it");
    expect(oper(p)).toBe(ARP_OPER_REQUEST);
  });

  test("check() refuses a short packet and other hardware, protocol or lengths", () => {
    let p = request();
    expect(check(p, 27)).toBe(false, "27 bytes");
    put(p, "00 06"); // IEEE 802 hardware
    expect(check(p, 28)).toBe(false, "htype 6");
    p = request();
    put(p + 2, "86 dd");
    expect(check(p, 28)).toBe(false, "ptype IPv6");
    p = request();
    put(p + 4, "08");
    expect(check(p, 28)).toBe(false, "hlen 8");
    p = request();
    put(p + 5, "10");
    expect(check(p, 28)).toBe(false, "plen 16");
  });

  test("rewriteAsReply() swaps fields exactly as RFC 826 says: the captured reply, byte for byte", () => {
    let p = request();
    let mac = memory.data(6);
    put(mac, "02 42 0a 00 00 02");
    rewriteAsReply(p, mac);
    expect(hex(p, 36)).toBe(REPLY + " a5 a5 a5 a5 a5 a5 a5 a5");
  });
});
