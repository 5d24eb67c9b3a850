// Hand-built frames for switch tests, where a capture has no frame with the property needed.
import { parseIp, parseMac } from "../../cli/core/addr.ts";
import { readPcap } from "../../cli/pcap/pcap.ts";
import type { WeftCore } from "../../cli/core/mod.ts";

export const FIXTURES = new URL("../../../shared/fixtures/", import.meta.url);

export function fixture(path: string) {
  return readPcap(Deno.readFileSync(new URL(path, FIXTURES))).packets;
}

/** An Ethernet frame of `len` bytes (≥ 14): dst, src, EtherType, then a counting payload. */
export function eth(dst: string, src: string, type = 0x0800, len = 64): Uint8Array {
  const f = new Uint8Array(len);
  f.set(parseMac(dst), 0);
  f.set(parseMac(src), 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  for (let i = 14; i < len; i++) f[i] = i & 0xff;
  return f;
}

/** A VXLAN datagram (UDP payload): flags, VNI, the inner frame. */
export function vxlan(vni: number, inner: Uint8Array, flags = 0x08): Uint8Array {
  const d = new Uint8Array(8 + inner.length);
  d[0] = flags;
  d[4] = vni >>> 16;
  d[5] = (vni >>> 8) & 0xff;
  d[6] = vni & 0xff;
  d.set(inner, 8);
  return d;
}

export const ip = (s: string) => parseIp(s);

export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** RFC 1071 sum over a byte array, for checking checksums the core wrote. */
export function onesSum(b: Uint8Array, start = 0): number {
  let s = start;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i] << 8) | b[i + 1];
  if (b.length & 1) s += b[b.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

// ── TAP offloads ─────────────────────────────────────────────────────────────────────────────

export const NEEDS_CSUM = 1, TCPV4 = 1, TCPV6 = 4, UDP_L4 = 5, ECN = 0x80;
export const MSS = 1398; // MTU 1450 − IPv4 20 − TCP 32 (with timestamps)

export interface Super {
  frame: Uint8Array;
  vnet: Uint8Array;
  l4: number;
  hdr: number;
}

/** A TCP super-frame as a TAP with TSO hands it over: partial checksum, GSO fields set. */
export function tcpSuper(
  payload: number,
  opts: { v6?: boolean; flags?: number; gso?: number; mss?: number } = {},
): Super {
  const v6 = opts.v6 ?? false;
  const l3 = 14, ipLen = v6 ? 40 : 20, l4 = l3 + ipLen, tcpLen = 32, hdr = l4 + tcpLen;
  const f = eth("02:42:0a:00:00:02", "02:42:0a:00:00:01", v6 ? 0x86dd : 0x0800, hdr + payload);
  const v = new DataView(f.buffer);
  if (v6) {
    v.setUint32(l3, 0x60000000);
    v.setUint16(l3 + 4, tcpLen + payload);
    f[l3 + 6] = 6;
    f[l3 + 7] = 64;
    f.set(ip("fd00::1"), l3 + 8);
    f.set(ip("fd00::2"), l3 + 24);
  } else {
    f.set([0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], l3);
    v.setUint16(l3 + 2, ipLen + tcpLen + payload);
    v.setUint16(l3 + 10, 0xffff - onesSum(f.subarray(l3, l4)));
  }
  v.setUint16(l4, 40000);
  v.setUint16(l4 + 2, 5201);
  v.setUint32(l4 + 4, 0xfffff000); // sequence numbers wrap inside the super-frame
  v.setUint32(l4 + 8, 77);
  f[l4 + 12] = (tcpLen / 4) << 4;
  f[l4 + 13] = opts.flags ?? 0x18; // ACK PSH
  v.setUint16(l4 + 14, 501);
  f.set([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], l4 + 20); // NOP NOP timestamps
  for (let i = hdr; i < f.length; i++) f[i] = (i * 7) & 0xff;
  // The kernel leaves the folded pseudo-header sum in the checksum field (CHECKSUM_PARTIAL).
  const pseudo = v6
    ? onesSum(f.subarray(l3 + 8, l3 + 40), tcpLen + payload + 6)
    : onesSum(f.subarray(l3 + 12, l3 + 20), tcpLen + payload + 6);
  v.setUint16(l4 + 16, pseudo);
  const vnet = new Uint8Array(10);
  const vv = new DataView(vnet.buffer);
  vnet[0] = NEEDS_CSUM;
  vnet[1] = opts.gso ?? (v6 ? TCPV6 : TCPV4);
  vv.setUint16(2, hdr, true);
  vv.setUint16(4, opts.mss ?? MSS, true);
  vv.setUint16(6, l4, true);
  vv.setUint16(8, 16, true);
  return { frame: f, vnet, l4, hdr };
}

/**
 * Sends super-frame `s` from local port 0 of `core` and returns the datagrams (VXLAN header +
 * inner frame) it cut, each TX entry split at its GSO size.
 */
export function cutSuper(core: WeftCore, s: Super): Uint8Array[] {
  const ptr = core.slotData(0);
  core.bytes.set(s.vnet, ptr - 10);
  core.bytes.set(s.frame, ptr);
  core.describe(0, ptr, s.frame.length, 0, undefined, 0, { vnet: true });
  const n = core.process(1, 1);
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const t = core.tx(i), stride = t.gsoSize || t.len;
    for (let off = 0; off < t.len; off += stride) {
      out.push(core.bytes.slice(t.ptr + off, t.ptr + Math.min(off + stride, t.len)));
    }
  }
  return out;
}

// ── IP, ARP and ND frames (RFC 6040 ECN, path MTU, announcements) ───────────────────────────

/** An untagged IPv4 frame: ICMP echo (protocol 1) by default, `size` bytes of IP in all. */
export function ipv4Frame(
  o: {
    src?: string;
    dst?: string;
    smac?: string;
    dmac?: string;
    tos?: number;
    df?: boolean;
    proto?: number;
    size?: number;
    ttl?: number;
    icmpType?: number;
  } = {},
): Uint8Array {
  const size = o.size ?? 84;
  const f = eth(o.dmac ?? "02:42:0a:00:00:02", o.smac ?? "02:42:0a:00:00:01", 0x0800, 14 + size);
  const v = new DataView(f.buffer);
  f.set([0x45, o.tos ?? 0], 14);
  v.setUint16(16, size);
  v.setUint16(18, 0x1234);
  v.setUint16(20, o.df ?? true ? 0x4000 : 0);
  f[22] = o.ttl ?? 64;
  f[23] = o.proto ?? 1;
  v.setUint16(24, 0);
  f.set(parseIp(o.src ?? "10.0.0.1").subarray(12), 26);
  f.set(parseIp(o.dst ?? "10.0.0.2").subarray(12), 30);
  v.setUint16(24, 0xffff - onesSum(f.subarray(14, 34)));
  if ((o.proto ?? 1) === 1) {
    f[34] = o.icmpType ?? 8;
    f[35] = 0;
    v.setUint16(36, 0);
    v.setUint16(36, 0xffff - onesSum(f.subarray(34)));
  }
  return f;
}

/** An untagged IPv6 frame with `payload` bytes after the fixed header (next header 17 by default). */
export function ipv6Frame(
  o: {
    src?: string;
    dst?: string;
    smac?: string;
    dmac?: string;
    tc?: number;
    next?: number;
    payload?: number;
    hops?: number;
  } = {},
): Uint8Array {
  const payload = o.payload ?? 64;
  const f = eth(o.dmac ?? "02:42:0a:00:00:02", o.smac ?? "02:42:0a:00:00:01", 0x86dd, 14 + 40 + payload);
  const v = new DataView(f.buffer);
  v.setUint32(14, (6 << 28) | ((o.tc ?? 0) << 20));
  v.setUint16(18, payload);
  f[20] = o.next ?? 17;
  f[21] = o.hops ?? 64;
  f.set(parseIp(o.src ?? "fd00::1"), 22);
  f.set(parseIp(o.dst ?? "fd00::2"), 38);
  return f;
}

/** An ARP frame (RFC 826) over Ethernet, broadcast unless `dmac` says otherwise. */
export function arpFrame(
  op: number,
  sha: string,
  spa: string,
  tha: string,
  tpa: string,
  dmac = "ff:ff:ff:ff:ff:ff",
): Uint8Array {
  const f = eth(dmac, sha, 0x0806, 42);
  f.set([0, 1, 8, 0, 6, 4, 0, op], 14);
  f.set(parseMac(sha), 22);
  f.set(parseIp(spa).subarray(12), 28);
  f.set(parseMac(tha), 32);
  f.set(parseIp(tpa).subarray(12), 38);
  return f;
}

/** A neighbour advertisement (RFC 4861 §4.4) for `target` with flags (R 0x80, S 0x40, O 0x20). */
export function naFrame(smac: string, src: string, dst: string, target: string, flags: number): Uint8Array {
  const dmac = dst === "ff02::1" ? "33:33:00:00:00:01" : "02:42:0a:00:00:02";
  const f = ipv6Frame({ smac, dmac, src, dst, next: 58, payload: 32, hops: 255 });
  const icmp = 54;
  f.fill(0, icmp);
  f[icmp] = 136;
  f[icmp + 4] = flags;
  f.set(parseIp(target), icmp + 8);
  f.set([2, 1, ...parseMac(smac)], icmp + 24);
  const pseudo = new Uint8Array(40);
  pseudo.set(f.subarray(22, 54).subarray(0, 32));
  new DataView(pseudo.buffer).setUint32(32, 32);
  pseudo[39] = 58;
  new DataView(f.buffer).setUint16(icmp + 2, 0xffff - onesSum(f.subarray(icmp), onesSum(pseudo)));
  return f;
}

// ── Workload frames (core benchmark, TypeScript reference switch, ESP) ─────────────────────────

/** An Ethernet frame: dst, src, EtherType, `payload`. */
export function ethFrame(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(dst);
  f.set(src, 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  f.set(payload, 14);
  return f;
}

/** Ethernet + IPv4 + UDP, `size` bytes in all (no FCS), header checksum filled. */
export function udpFrame(
  dst: Uint8Array,
  src: Uint8Array,
  srcIp: number,
  dstIp: number,
  sport: number,
  dport: number,
  size: number,
): Uint8Array {
  const f = new Uint8Array(size);
  const v = new DataView(f.buffer);
  f.set(dst, 0);
  f.set(src, 6);
  v.setUint16(12, 0x0800);
  const ip = 14, ipLen = size - ip;
  v.setUint8(ip, 0x45);
  v.setUint16(ip + 2, ipLen);
  v.setUint16(ip + 6, 0x4000);
  v.setUint8(ip + 8, 64);
  v.setUint8(ip + 9, 17);
  v.setUint32(ip + 12, srcIp);
  v.setUint32(ip + 16, dstIp);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += v.getUint16(ip + i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  v.setUint16(ip + 10, ~sum & 0xffff);
  v.setUint16(ip + 20, sport);
  v.setUint16(ip + 22, dport);
  v.setUint16(ip + 24, ipLen - 20);
  for (let i = ip + 28; i < size; i++) f[i] = i & 0xff;
  return f;
}

/** VXLAN (VNI `vni`) + Ethernet + IPv4 + ICMP echo request whose payload is `pattern` repeated. */
export function vxlanPing(vni: number, seq: number, pattern: number, payload = 56): Uint8Array {
  const f = new Uint8Array(8 + 14 + 20 + 8 + payload);
  const v = new DataView(f.buffer);
  f[0] = 0x08;
  v.setUint32(4, vni << 8);
  f.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00], 8);
  const ip = 22;
  f.set([0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], ip);
  v.setUint16(ip + 2, 20 + 8 + payload);
  v.setUint16(ip + 10, 0xffff - onesSum(f.subarray(ip, ip + 20)));
  const icmp = ip + 20;
  f[icmp] = 8;
  v.setUint16(icmp + 4, 0x77);
  v.setUint16(icmp + 6, seq);
  f.fill(pattern, icmp + 8);
  v.setUint16(icmp + 2, 0xffff - onesSum(f.subarray(icmp)));
  return f;
}

/** Ethernet + IPv4 (198.18.0.1 → 198.18.0.2) + UDP(sport → dport) around a datagram, for tshark. */
export function underlayFrame(esp: Uint8Array, sport: number, dport: number): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + esp.length);
  const v = new DataView(f.buffer);
  f.set([0x02, 0, 0, 0, 0, 0x22, 0x02, 0, 0, 0, 0, 0x11, 0x08, 0x00]);
  f.set([0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2], 14);
  v.setUint16(16, 20 + 8 + esp.length);
  v.setUint16(24, 0xffff - onesSum(f.subarray(14, 34)));
  v.setUint16(34, sport);
  v.setUint16(36, dport);
  v.setUint16(38, 8 + esp.length);
  f.set(esp, 42);
  return f;
}
