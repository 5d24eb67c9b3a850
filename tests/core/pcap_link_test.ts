// cli/pcap/link.ts and cli/pcap/vxlan.ts, the two header readers the host runs before the core
// sees a capture: where a record's network layer starts for each link type tcpdump writes (VLAN
// tags skipped, as the kernel's and Wireshark's dissectors do), and the VXLAN / VXLAN-GPE header
// checks (RFC 7348 §5; the kernel's vxlan_parse_gpe_proto()).

import assert from "node:assert/strict";
import * as link from "../../cli/pcap/link.ts";
import { GPE_BAD_FLAGS, GPE_NOT_ETHERNET, gpeDropReason, vxlanVni } from "../../cli/pcap/vxlan.ts";
import { eth, ipv4Frame, vxlan } from "./frames.ts";

/** `frame` with 802.1Q-style tags (TPID, VLAN id) inserted after the MACs. */
function withTags(frame: Uint8Array, tags: [number, number][]): Uint8Array {
  const out = new Uint8Array(frame.length + 4 * tags.length);
  out.set(frame.subarray(0, 12));
  tags.forEach(([tpid, vid], i) => out.set([tpid >> 8, tpid & 0xff, vid >> 8, vid & 0xff], 12 + 4 * i));
  out.set(frame.subarray(12), 12 + 4 * tags.length);
  return out;
}

Deno.test("networkLayer on Ethernet: the EtherType after every VLAN tag (802.1Q, 802.1ad, 0x9100), its offset", () => {
  const frame = ipv4Frame();
  assert.deepEqual(link.networkLayer(link.LINKTYPE_ETHERNET, frame), {
    etherType: link.ETHERTYPE_IPV4,
    offset: 14,
    tags: 0,
  });
  assert.deepEqual(link.networkLayer(link.LINKTYPE_ETHERNET, withTags(frame, [[0x8100, 42]])), {
    etherType: link.ETHERTYPE_IPV4,
    offset: 18,
    tags: 1,
  });
  const qinq = withTags(frame, [[0x88a8, 100], [0x8100, 42]]);
  assert.deepEqual(link.networkLayer(link.LINKTYPE_ETHERNET, qinq), {
    etherType: link.ETHERTYPE_IPV4,
    offset: 22,
    tags: 2,
  });
  const old = withTags(eth("02:42:0a:00:00:02", "02:42:0a:00:00:01", link.ETHERTYPE_IPV6, 80), [[0x9100, 7]]);
  assert.deepEqual(link.networkLayer(link.LINKTYPE_ETHERNET, old), {
    etherType: link.ETHERTYPE_IPV6,
    offset: 18,
    tags: 1,
  });
  // ARP is reported as it is: the caller decides what it reads.
  const arp = eth("ff:ff:ff:ff:ff:ff", "02:42:0a:00:00:01", 0x0806, 42);
  assert.deepEqual(link.networkLayer(link.LINKTYPE_ETHERNET, arp), {
    etherType: 0x0806,
    offset: 14,
    tags: 0,
  });
});

Deno.test("networkLayer: undefined for a record shorter than its link header or its tags, and for unread link types", () => {
  assert.equal(link.networkLayer(link.LINKTYPE_ETHERNET, new Uint8Array(13)), undefined);
  const tagged = withTags(ipv4Frame(), [[0x8100, 42]]);
  assert.equal(
    link.networkLayer(link.LINKTYPE_ETHERNET, tagged.subarray(0, 17)),
    undefined,
    "cut inside the tag",
  );
  assert.deepEqual(link.networkLayer(link.LINKTYPE_ETHERNET, tagged.subarray(0, 18)), {
    etherType: link.ETHERTYPE_IPV4,
    offset: 18,
    tags: 1,
  }, "a whole tag and nothing after: the IP reader judges the rest");
  assert.equal(link.networkLayer(link.LINKTYPE_LINUX_SLL, new Uint8Array(15)), undefined);
  assert.equal(link.networkLayer(link.LINKTYPE_LINUX_SLL2, new Uint8Array(19)), undefined);
  assert.equal(link.networkLayer(link.LINKTYPE_RAW, new Uint8Array(0)), undefined);
  assert.equal(link.networkLayer(105, new Uint8Array(64)), undefined, "802.11 is not read");
});

Deno.test("networkLayer on Linux cooked captures: protocol at byte 14 of SLL (16-byte header), byte 0 of SLL2 (20)", () => {
  const ip = ipv4Frame().subarray(14);
  const sll = new Uint8Array(16 + ip.length);
  sll.set([0x08, 0x00], 14);
  sll.set(ip, 16);
  assert.deepEqual(link.networkLayer(link.LINKTYPE_LINUX_SLL, sll), {
    etherType: link.ETHERTYPE_IPV4,
    offset: 16,
    tags: 0,
  });
  const sll2 = new Uint8Array(20 + 4 + ip.length);
  sll2.set([0x81, 0x00], 0); // a VLAN tag kept in the payload (no VLAN offload on capture)
  sll2.set([0x00, 0x2a, 0x86, 0xdd], 20);
  assert.deepEqual(link.networkLayer(link.LINKTYPE_LINUX_SLL2, sll2), {
    etherType: link.ETHERTYPE_IPV6,
    offset: 24,
    tags: 1,
  });
});

Deno.test("networkLayer on raw IP: RAW by the version nibble (0 when neither), IPV4 and IPV6 as named", () => {
  assert.deepEqual(link.networkLayer(link.LINKTYPE_RAW, Uint8Array.of(0x45)), {
    etherType: link.ETHERTYPE_IPV4,
    offset: 0,
    tags: 0,
  });
  assert.deepEqual(link.networkLayer(link.LINKTYPE_RAW, Uint8Array.of(0x60)), {
    etherType: link.ETHERTYPE_IPV6,
    offset: 0,
    tags: 0,
  });
  assert.deepEqual(link.networkLayer(link.LINKTYPE_RAW, Uint8Array.of(0x50)), {
    etherType: 0,
    offset: 0,
    tags: 0,
  });
  assert.deepEqual(link.networkLayer(link.LINKTYPE_IPV4, new Uint8Array(0)), {
    etherType: link.ETHERTYPE_IPV4,
    offset: 0,
    tags: 0,
  });
  assert.deepEqual(link.networkLayer(link.LINKTYPE_IPV6, new Uint8Array(0)), {
    etherType: link.ETHERTYPE_IPV6,
    offset: 0,
    tags: 0,
  });
});

Deno.test("linkTypeName: tcpdump's name and the number, or the number alone", () => {
  assert.equal(link.linkTypeName(link.LINKTYPE_ETHERNET), "EN10MB (1)");
  assert.equal(link.linkTypeName(link.LINKTYPE_LINUX_SLL2), "LINUX_SLL2 (276)");
  assert.equal(link.linkTypeName(link.LINKTYPE_RAW), "RAW (101)");
  assert.equal(link.linkTypeName(105), "105");
});

Deno.test("vxlanVni: the 24-bit VNI with the I flag (RFC 7348 §5), -1 without it or a whole header", () => {
  const inner = eth("02:42:0a:00:00:02", "02:42:0a:00:00:01");
  assert.equal(vxlanVni(vxlan(42, inner)), 42);
  assert.equal(vxlanVni(vxlan(0, inner)), 0);
  assert.equal(vxlanVni(vxlan(0xffffff, inner)), 0xffffff);
  assert.equal(vxlanVni(vxlan(42, inner, 0x00)), -1, "no I flag");
  assert.equal(vxlanVni(vxlan(42, inner, 0x0c)), 42, "other flag bits are not its business");
  assert.equal(vxlanVni(vxlan(42, new Uint8Array(0)).subarray(0, 7)), -1, "7 bytes");
});

Deno.test("gpeDropReason follows vxlan_parse_gpe_proto(): P set, version 0, no OAM; then Ethernet payloads only", () => {
  /** flags, next protocol → a GPE header (VNI 42) and nothing else. */
  const gpe = (flags: number, next: number) => Uint8Array.of(flags, 0, 0, next, 0, 0, 42, 0);
  assert.equal(gpeDropReason(gpe(0x0c, 3)), undefined, "I + P, Ethernet");
  assert.equal(gpeDropReason(gpe(0x08, 3)), GPE_BAD_FLAGS, "no P: no default payload on a GPE device");
  assert.equal(gpeDropReason(gpe(0x1c, 3)), GPE_BAD_FLAGS, "version 1");
  assert.equal(gpeDropReason(gpe(0x0d, 3)), GPE_BAD_FLAGS, "OAM");
  for (const next of [1, 2, 4, 5]) {
    assert.equal(gpeDropReason(gpe(0x0c, next)), GPE_NOT_ETHERNET, `next ${next}`);
  }
  assert.equal(gpeDropReason(gpe(0x0c, 3).subarray(0, 7)), undefined, "a runt is the core's (vxlan_runt)");
});
