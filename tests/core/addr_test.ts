// cli/core/addr.ts, the text forms of addresses: dotted IPv4 (no octal-looking parts), RFC 4291
// §2.2 IPv6 text, RFC 5952 canonical output, "[v6]:port" endpoints, MACs as the kernel prints them.
// Round trips are properties (fast-check): any 16 bytes, any port, any MAC.

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  AddressError,
  formatEndpoint,
  formatIp,
  formatMac,
  isMappedIpv4,
  mapIpv4,
  parseEndpoint,
  parseIp,
  parseIpv4,
  parseIpv6,
  parseMac,
} from "../../cli/core/addr.ts";
import { hex } from "./frames.ts";

const SEED = Number(Deno.env.get("WEFT_FC_SEED") ?? Date.now() % 2 ** 31);
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

Deno.test("parseIpv4 takes four decimal parts 0..255 and refuses leading zeros, which inet_aton reads as octal", () => {
  assert.deepEqual(parseIpv4("198.18.0.1"), Uint8Array.of(198, 18, 0, 1));
  assert.deepEqual(parseIpv4("0.0.0.0"), Uint8Array.of(0, 0, 0, 0));
  assert.deepEqual(parseIpv4("255.255.255.255"), Uint8Array.of(255, 255, 255, 255));
  for (
    const bad of [
      "010.0.0.1",
      "10.0.0.01",
      "256.0.0.1",
      "10.0.0",
      "10.0.0.1.2",
      " 10.0.0.1",
      "10.0.0.1/24",
      "a.b.c.d",
      "",
    ]
  ) {
    assert.equal(parseIpv4(bad), null, bad);
  }
});

Deno.test("parseIpv6 reads RFC 4291 §2.2 forms: full, :: once, an IPv4 tail; refuses the rest", () => {
  assert.equal(hex(parseIpv6("::")!), "00".repeat(16));
  assert.equal(hex(parseIpv6("::1")!), "00".repeat(15) + "01");
  assert.equal(hex(parseIpv6("fd00::2")!), "fd00" + "00".repeat(13) + "02");
  assert.equal(hex(parseIpv6("2001:DB8:0:0:1:0:0:1")!), "20010db8000000000001000000000001");
  assert.equal(hex(parseIpv6("::ffff:198.18.0.1")!), "00".repeat(10) + "ffff" + "c6120001");
  assert.equal(hex(parseIpv6("64:ff9b::10.0.0.1")!), "0064ff9b" + "00".repeat(8) + "0a000001");
  for (
    const bad of [
      ":",
      ":::",
      "1::2::3",
      "1:2:3:4:5:6:7", // 7 words, no ::
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4::5:6:7:8", // :: must stand for at least one word
      "12345::1",
      "fd00::g",
      "::ffff:198.18.0", // a short IPv4 tail
      "::198.18.0.1:1", // the IPv4 part only last
      "fd00::2%eth0",
    ]
  ) {
    assert.equal(parseIpv6(bad), null, bad);
  }
});

Deno.test("parseIp gives IPv4 as ::ffff:a.b.c.d (RFC 4291 §2.5.5.2) and throws AddressError quoting bad text", () => {
  const a = parseIp("198.18.0.2");
  assert.equal(hex(a), "00".repeat(10) + "ffff" + "c6120002");
  assert.ok(isMappedIpv4(a));
  assert.deepEqual(a, mapIpv4(Uint8Array.of(198, 18, 0, 2)));
  assert.ok(!isMappedIpv4(parseIp("fd00::2")));
  assert.ok(!isMappedIpv4(parseIp("::198.18.0.2")), "IPv4-compatible (deprecated) is not mapped");
  assert.throws(() => parseIp("010.0.0.1"), (e: unknown) => {
    assert.ok(e instanceof AddressError);
    assert.equal(e.name, "AddressError");
    assert.match(e.message, /Invalid IP address "010\.0\.0\.1"/);
    return true;
  });
});

Deno.test("formatIp writes RFC 5952: lower case, longest zero run as ::, the first of equal runs, never one zero word", () => {
  const f = (s: string) => formatIp(parseIp(s));
  assert.equal(f("2001:DB8:0:0:0:0:0:1"), "2001:db8::1"); // §4.3 lower case, §4.2.1 longest run
  assert.equal(f("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1"); // §4.2.2 one zero word stays
  assert.equal(f("2001:0:0:1:0:0:0:1"), "2001:0:0:1::1"); // §4.2.3 the longest run
  assert.equal(f("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1"); // §4.2.3 the first of equals
  assert.equal(f("::"), "::");
  assert.equal(f("fd00::"), "fd00::");
  assert.equal(f("0:0:0:0:0:0:0:1"), "::1");
  assert.equal(f("198.18.0.1"), "198.18.0.1", "mapped IPv4 as a dotted quad");
});

Deno.test("property: parseIp(formatIp(a)) is a for any 16 bytes", () => {
  fc.assert(
    fc.property(fc.oneof(bytes(16), bytes(4).map(mapIpv4)), (a) => {
      assert.deepEqual(parseIp(formatIp(a)), a);
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

Deno.test("parseEndpoint: host:port, [v6]:port, a bare address takes the default port; ports 1..65535", () => {
  const e = (s: string) => {
    const { address, port } = parseEndpoint(s, 4789);
    return `${formatIp(address)} ${port}`;
  };
  assert.equal(e("198.18.0.2:8472"), "198.18.0.2 8472");
  assert.equal(e("198.18.0.2"), "198.18.0.2 4789");
  assert.equal(e("[2001:2::2]:4790"), "2001:2::2 4790");
  assert.equal(e("[2001:2::2]"), "2001:2::2 4789");
  assert.equal(e("2001:2::2"), "2001:2::2 4789", "a bare IPv6 address: its colons are not a port");
  for (const bad of ["198.18.0.2:0", "198.18.0.2:65536", "198.18.0.2:x", "[fd00::2]:", "[fd00::2]:-1"]) {
    assert.throws(() => parseEndpoint(bad, 4789), AddressError, bad);
  }
  assert.throws(() => parseEndpoint("198.18.0:4789", 4789), /Invalid IP address "198\.18\.0"/);
});

Deno.test("property: parseEndpoint(formatEndpoint(a, port)) gives a and port back", () => {
  fc.assert(
    fc.property(fc.oneof(bytes(16), bytes(4).map(mapIpv4)), fc.integer({ min: 1, max: 65535 }), (a, port) => {
      const text = formatEndpoint(a, port);
      assert.equal(text.startsWith("["), !isMappedIpv4(a), text);
      const back = parseEndpoint(text, 1);
      assert.deepEqual(back.address, a);
      assert.equal(back.port, port);
    }),
    { seed: SEED, numRuns: 1000 },
  );
});

Deno.test("parseMac takes six hex pairs with one separator, : or -; formatMac writes lower case with :", () => {
  assert.deepEqual(parseMac("02:42:0a:00:00:01"), Uint8Array.of(2, 0x42, 10, 0, 0, 1));
  assert.deepEqual(parseMac("02-42-0A-00-00-FF"), Uint8Array.of(2, 0x42, 10, 0, 0, 0xff));
  for (
    const bad of [
      "02:42:0a-00:00:01",
      "02:42:0a:00:00",
      "02:42:0a:00:00:01:02",
      "0242.0a00.0001",
      "2:42:a:0:0:1",
    ]
  ) {
    assert.throws(() => parseMac(bad), AddressError, bad);
  }
  assert.equal(
    formatMac(Uint8Array.of(2, 0x42, 0xab, 0, 0, 1, 0x99)),
    "02:42:ab:00:00:01",
    "the first 6 bytes",
  );
  fc.assert(
    fc.property(bytes(6), (m) => assert.deepEqual(parseMac(formatMac(m)), m)),
    { seed: SEED, numRuns: 500 },
  );
});
