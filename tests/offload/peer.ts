// The in-namespace half of the offload tests: run with `ip netns exec NS deno run -A peer.ts MODE
// key=value…`, prints one JSON line on stdout. Every loop is bounded by `ms`.
//   recv     listen=ADDR:PORT gro=0|1 ms=N [expect=N] [quiet=1] [tos=1: report each message's TOS]
//   send     from=ADDR:PORT to=ADDR:PORT entries=SIZExCOUNT,… gso=0|1 [tos=N]   (one sendmmsg for all)
//   bench    from=ADDR:PORT to=ADDR:PORT size=S gso=0|1 ms=N
//   relay    a=TAP b=TAP nsa=NS nsb=NS ms=N dump=FILE   (two IFF_VNET_HDR TAPs, bytes passed through)
//   tapwrite tap=TAP n=N                                  (writev vs in-place write to a TAP)

import { parseEndpoint } from "../../cli/core/addr.ts";
import { openUdp, socketBuffers } from "../../cli/phy/udp.ts";
import { openTap } from "../../cli/phy/tap.ts";
import { UdpReceiver, UdpSender } from "../../cli/phy/udp_batch.ts";
import { VnetTap } from "../../cli/phy/tap.ts";
import { sockaddr } from "../../cli/phy/sockaddr.ts";
import { addressOf, libc, POLLIN } from "../../cli/sys/libc.ts";
import { errnoOf } from "../../cli/sys/errno.ts";

const [mode, ...rest] = Deno.args;
const arg: Record<string, string> = Object.fromEntries(rest.map((a) => a.split("=", 2) as [string, string]));
const c = libc();
const out = (o: unknown) => console.log(JSON.stringify(o));

/** Off-heap bytes and their address. */
function buffer(n: number): { bytes: Uint8Array; base: number } {
  const bytes = new Uint8Array(new ArrayBuffer(n));
  return { bytes, base: addressOf(bytes) };
}

const pfd = buffer(16);
const pv = new DataView(pfd.bytes.buffer);
function waitIn(fds: number[], ms: number): number {
  fds.forEach((fd, i) => {
    pv.setInt32(i * 8, fd, true);
    pv.setInt16(i * 8 + 4, POLLIN, true);
    pv.setInt16(i * 8 + 6, 0, true);
  });
  return c.poll(BigInt(pfd.base), BigInt(fds.length), ms);
}
const ready = (i: number) => (pv.getInt16(i * 8 + 6, true) & POLLIN) !== 0;

const SLOT = 128 * 1024;

if (mode === "recv") {
  const ep = parseEndpoint(arg.listen, 4789);
  const gro = arg.gro === "1";
  const s = openUdp(ep.address, ep.port, { gro, recvTos: arg.tos === "1" });
  if (gro && !s.gro) throw new Error("UDP_GRO refused");
  const N = 64;
  const mem = buffer(N * SLOT);
  const rx = new UdpReceiver(s.fd, N);
  for (let i = 0; i < N; i++) rx.setBuffer(i, mem.base + i * SLOT, 65536);
  const msgs: { len: number; gso: number; trunc: boolean; first: number; tos: number }[] = [];
  let datagrams = 0, messages = 0, bytes = 0, truncated = 0, syscalls = 0;
  const expect = Number(arg.expect ?? Infinity);
  const deadline = performance.now() + Number(arg.ms ?? 2000);
  console.error("ready");
  while (performance.now() < deadline && datagrams < expect) {
    if (waitIn([s.fd], 50) <= 0) continue;
    const n = rx.receive(0, N);
    syscalls++;
    for (let i = 0; i < n; i++) {
      const len = rx.length(i), gso = rx.gsoSize(i);
      messages++;
      bytes += len;
      datagrams += gso ? Math.ceil(len / gso) : 1;
      if (rx.truncated(i)) truncated++;
      if (arg.quiet !== "1") {
        msgs.push({ len, gso, trunc: rx.truncated(i), first: mem.bytes[i * SLOT], tos: rx.tos });
      }
    }
  }
  out({
    gro: s.gro ?? false,
    messages,
    datagrams,
    bytes,
    truncated,
    syscalls,
    msgs,
    buffers: socketBuffers(s.fd),
  });
} else if (mode === "send" || mode === "bench") {
  const from = parseEndpoint(arg.from, 0), to = parseEndpoint(arg.to, 4789);
  const s = openUdp(from.address, from.port, { gso: true });
  const gso = arg.gso === "1" && s.gso === true;
  const tx = new UdpSender(s.fd, gso);
  const name = sockaddr(to.address, to.port);
  const nameBuf = buffer(32);
  nameBuf.bytes.set(name);
  const mem = buffer(1 << 20);
  for (let i = 0; i < mem.bytes.length; i++) mem.bytes[i] = i & 0xff;
  if (mode === "send") {
    // Each entry: COUNT datagrams of SIZE bytes, datagram k starting with byte (entry*16 + k).
    let off = 0;
    arg.entries.split(",").forEach((e, j) => {
      const [size, count] = e.split("x").map(Number);
      for (let k = 0; k < count; k++) mem.bytes[off + k * size] = j * 16 + k;
      tx.add(
        mem.base + off,
        size * count,
        count > 1 ? size : 0,
        nameBuf.base,
        name.length,
        Number(arg.tos ?? 0),
      );
      off += size * count;
    });
    tx.flush();
    out({ gso, ...tx.counters });
  } else {
    const size = Number(arg.size ?? 1400);
    const perEntry = Math.floor(65000 / size); // what the core puts in one TX entry
    const entries = 16;
    const deadline = performance.now() + Number(arg.ms ?? 2000);
    const t0 = performance.now();
    let bursts = 0;
    while (performance.now() < deadline) {
      for (let e = 0; e < entries; e++) {
        tx.add(mem.base + e * 65536, perEntry * size, size, nameBuf.base, name.length);
      }
      tx.flush();
      bursts++;
    }
    const secs = (performance.now() - t0) / 1000;
    const k = tx.counters;
    out({
      gso,
      size,
      secs,
      bursts,
      ...k,
      pps: k.datagrams / secs,
      gbps: (k.datagrams * size * 8) / secs / 1e9,
      buffers: socketBuffers(s.fd),
    });
  }
} else if (mode === "relay") {
  // Two TAPs with offloads, each moved to its namespace; every read is written, header and all,
  // to the other: a TCP stream between the namespaces only works if both directions do.
  const taps = [openTap(arg.a, { vnetHdr: true }), openTap(arg.b, { vnetHdr: true })];
  for (const [t, ns] of [[taps[0], arg.nsa], [taps[1], arg.nsb]] as const) {
    const r = await new Deno.Command("ip", { args: ["link", "set", "dev", t.name, "netns", ns] }).output();
    if (r.code !== 0) throw new Error(new TextDecoder().decode(r.stderr));
  }
  console.error(`ready offloads=0x${taps[0].offloads!.toString(16)}`);
  const io = new VnetTap();
  const mem = buffer(SLOT);
  const frame = mem.base + 64;
  const cap = SLOT - 128;
  const hist: Record<string, number> = {};
  const gsoTypes: Record<number, number> = {};
  const gsoSizes: Record<string, number> = {};
  const counts = { reads: [0, 0], writes: [0, 0], writeErrors: [0, 0], maxLen: 0, needsCsum: 0 };
  const dump: Uint8Array[] = [];
  const kept = [0, 0, 0];
  const deadline = performance.now() + Number(arg.ms ?? 5000);
  const fds = taps.map((t) => t.fd);
  while (performance.now() < deadline) {
    if (waitIn(fds, 50) <= 0) continue;
    for (let i = 0; i < 2; i++) {
      if (!ready(i)) continue;
      for (let q = 0; q < 64; q++) {
        const n = io.read(fds[i], BigInt(frame), cap);
        if (n < 0) break;
        counts.reads[i]++;
        const h = mem.bytes.subarray(64 - 10, 64);
        const type = h[1];
        gsoTypes[type] = (gsoTypes[type] ?? 0) + 1;
        if (h[0] & 1) counts.needsCsum++;
        if (type !== 0) {
          const size = h[4] | (h[5] << 8);
          const key = `${type}/${size}`; // gso_type/gso_size
          gsoSizes[key] = (gsoSizes[key] ?? 0) + 1;
          // Keep a few of each kind: early (slow start), full 64 KiB ones, and UDP (USO) ones.
          const kind = type === 5 ? 2 : n > 60000 ? 1 : 0;
          if (i === 0 && kept[kind] < 6) {
            kept[kind]++;
            dump.push(mem.bytes.slice(64 - 10, 64 + n));
          }
        }
        counts.maxLen = Math.max(counts.maxLen, n);
        const bucket = n <= 1514 ? "≤1514" : `${Math.floor(n / 8192) * 8}K-${Math.floor(n / 8192) * 8 + 8}K`;
        if (i === 0) hist[bucket] = (hist[bucket] ?? 0) + 1;
        // Alternate the two write paths: both must be accepted.
        const w = (counts.reads[i] & 1)
          ? io.write(fds[1 - i], frame - 10, frame, n)
          : io.writeInPlace(fds[1 - i], BigInt(frame), n);
        if (w === n + 10) counts.writes[i]++;
        else {
          counts.writeErrors[i]++;
          if (counts.writeErrors[i] < 4) console.error(`write ${w} errno ${errnoOf()} len ${n} type ${type}`);
        }
      }
    }
  }
  if (arg.dump) {
    const total = dump.reduce((a, d) => a + 4 + d.length, 0);
    const file = new Uint8Array(total);
    let off = 0;
    for (const d of dump) {
      new DataView(file.buffer).setUint32(off, d.length, true);
      file.set(d, off + 4);
      off += 4 + d.length;
    }
    Deno.writeFileSync(arg.dump, file);
  }
  out({ offloads: taps[0].offloads, hist, gsoTypes, gsoSizes, ...counts, dumped: dump.length });
} else if (mode === "tapwrite") {
  // Cost of the two write paths for a TAP with IFF_VNET_HDR; the frame goes nowhere (foreign MAC).
  const tap = openTap(arg.tap, { vnetHdr: true });
  await new Deno.Command("ip", { args: ["link", "set", "dev", tap.name, "up"] }).output();
  const io = new VnetTap();
  const mem = buffer(4096);
  const frame = mem.base + 64;
  const len = Number(arg.len ?? 1000);
  mem.bytes.set([0x02, 0, 0, 0, 0, 0x99, 0x02, 0, 0, 0, 0, 0x98, 0x88, 0xb5], 64); // local experimental ethertype
  const vnet = buffer(16);
  const n = Number(arg.n ?? 100000);
  const time = (f: () => number) => {
    let ok = 0;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) if (f() === len + 10) ok++;
    return { nsPerWrite: ((performance.now() - t0) * 1e6) / n, ok };
  };
  const r: Record<string, unknown> = {};
  for (let round = 0; round < 2; round++) {
    r.writev = time(() => io.write(tap.fd, vnet.base, frame, len));
    r.inPlace = time(() => io.writeInPlace(tap.fd, BigInt(frame), len));
    r.copyThenWrite = time(() => {
      mem.bytes.set(vnet.bytes.subarray(0, 10), 54);
      return io.writeInPlace(tap.fd, BigInt(frame), len);
    });
  }
  out(r);
} else {
  throw new Error(`unknown mode ${mode}`);
}
