// The ESP side of the frame loop (cli/dataplane/loop.ts) for encrypted networks: a second UDP
// socket on the ESP port (RFC 3948), the SAs, and the fail-closed rules:
// - a datagram of an encrypted VNI leaves only sealed, from the ESP socket; with no outbound SA
//   yet (no key) it is dropped, never sent in cleartext;
// - cleartext VXLAN for an encrypted VNI arriving on the VXLAN port is dropped and counted,
//   whoever sent it (moby's CVE-2023-28840/28842 accepted it), datagram by datagram: the other
//   datagrams of a UDP GRO buffer (a plain VNI's) are delivered;
// - a datagram that opens under an SA must carry that SA's VNI (a node keyed for one network
//   cannot inject into another) and go to the VXLAN port.
// Sealing works on a copy in this module's own ring of buffers: the core's TX entries may share
// bytes (a flood sends one datagram to every VTEP) and carry GSO super-frames, and each copy and
// each segment needs its own sequence number and ICV. Receiving decrypts in place in the frame
// slots and hands the core the VXLAN datagram inside, as if the VXLAN port had received it.
// The VNI is read here from the VXLAN header (RFC 7348 §5: bytes 4–6); the core is not told which
// datagrams were encrypted.

import { PORT_UNDERLAY, RX, RX_DESC_LEN, type WeftCore } from "../core/mod.ts";
import {
  ESP_HEADROOM,
  ESP_OVERHEAD,
  type EspCounters,
  espCounters,
  EspInbound,
  type EspNodeCounters,
  EspOutbound,
} from "../esp/esp.ts";
import { InboundSad } from "../esp/sad.ts";
import { type SendCounters, UdpReceiver, UdpSender } from "../phy/udp_batch.ts";
import { readSockaddrInto, sockaddrLen, writeSockaddr } from "../phy/sockaddr.ts";
import { libc, SOCKADDR_IN6_LEN } from "../sys/libc.ts";
import { type Region, region } from "../sys/mem.ts";

const c = libc();
const VXLAN_HEADER_LEN = 8;
/** Bytes of sealed datagrams per flush (sixteen 64 KiB super-frames and their ESP overhead). */
const RING_BYTES = 1 << 20;
/** A UDP_SEGMENT message carries at most 64 KiB of UDP payload: sealed segments per message. */
const GSO_BYTES = 60000;

/** An encrypted network on this node. */
interface EncryptedVni {
  counters: EspCounters;
  /** The SA this node sends with; none yet: nothing leaves. */
  out?: EspOutbound;
}

function vniAt(mem: DataView, ptr: number): number {
  return mem.getUint32(ptr + 4) >>> 8;
}

/**
 * Drops, from the cleartext buffer at `mem[ptr, ptr + len)` (one VXLAN datagram, or a UDP GRO
 * buffer of datagrams `stride` apart, the last possibly shorter), every datagram whose VNI is in
 * `encrypted`, counting each in its network's cleartext_dropped (moby's CVE-2023-28840/28842
 * accepted such datagrams), and moves the ones kept down over the gaps: they stay `stride` apart
 * with only the last one shorter, so the buffer is still a GRO buffer of the same stride. Datagrams
 * of other VNIs in the same buffer (a plain network beside an encrypted one) are delivered.
 * A datagram shorter than a VXLAN header is kept: the core counts it as a runt.
 * @returns the bytes kept (0 when every datagram was dropped).
 */
export function dropCleartext(
  mem: DataView,
  ptr: number,
  len: number,
  stride: number,
  encrypted: ReadonlyMap<number, { counters: EspCounters }>,
): number {
  const step = stride || len;
  let kept = 0;
  let bytes: Uint8Array | undefined;
  for (let off = 0; off < len; off += step) {
    const dlen = Math.min(step, len - off);
    const n = dlen >= VXLAN_HEADER_LEN ? encrypted.get(vniAt(mem, ptr + off)) : undefined;
    if (n) {
      n.counters.cleartext_dropped++;
      continue;
    }
    if (kept !== off) {
      bytes ??= new Uint8Array(mem.buffer, mem.byteOffset);
      bytes.copyWithin(ptr + kept, ptr + off, ptr + off + dlen);
    }
    kept += dlen;
  }
  return kept;
}

export class EspPath {
  private readonly nets = new Map<number, EncryptedVni>();
  private readonly sad = new InboundSad();
  /** The VNI each inbound SA was installed for. */
  private readonly saVni = new Map<number, number>();
  private readonly rx: UdpReceiver;
  private readonly tx: UdpSender;
  private readonly ring: Region = region(RING_BYTES);
  /** Bytes of the ring used since the last flush. */
  private used = 0;
  private readonly peers: Region;
  private peersBuilt = 0;
  private readonly saLen: number;
  private readonly memPtr: bigint;
  private readonly ringView: DataView;
  /** ESP datagrams dropped for their contents after they verified (wrong VNI or port): node-wide. */
  misdirected = 0;
  /** Decrypted datagrams dropped for want of an RX descriptor (a GRO buffer cut into many runs). */
  noDescriptor = 0;

  constructor(
    private readonly core: WeftCore,
    private readonly memBase: number,
    readonly fd: number,
    private readonly espPort: number,
    private readonly vxlanPort: number,
    family: number,
    burst: number,
    sent: SendCounters,
    /** The socket has UDP_GRO on (several datagrams per read) / takes UDP_SEGMENT. */
    private readonly gro = false,
    gso = false,
  ) {
    this.rx = new UdpReceiver(fd, burst);
    for (let i = 0; i < burst; i++) this.rx.setBuffer(i, memBase + core.slotData(i), core.slotCapacity);
    this.tx = new UdpSender(fd, gso, sent);
    this.saLen = sockaddrLen(family);
    this.family = family;
    this.peers = region(core.config.maxVteps * SOCKADDR_IN6_LEN);
    this.memPtr = BigInt(memBase);
    this.ringView = this.ring.view;
  }
  private readonly family: number;

  // ── control (worker ops) ───────────────────────────────────────────────────────────────────

  encrypt(vni: number): void {
    if (!this.nets.has(vni)) this.nets.set(vni, { counters: espCounters() });
  }

  /** Forgets the VNI and its SAs. */
  unencrypt(vni: number): void {
    const n = this.nets.get(vni);
    if (!n) return;
    n.out?.free();
    for (const [spi, v] of this.saVni) if (v === vni) this.removeInbound(spi);
    this.nets.delete(vni);
  }

  isEncrypted(vni: number): boolean {
    return this.nets.has(vni);
  }

  /** Replaces the VNI's outbound SA (a new generation, or a new key after a restart). */
  setOutbound(vni: number, spi: number, keymat: Uint8Array): void {
    const n = this.nets.get(vni);
    if (!n) throw new Error(`VNI ${vni} is not encrypted`);
    const sa = new EspOutbound(spi, keymat, n.counters);
    if (n.out) n.counters.rekeys++;
    n.out?.free();
    n.out = sa;
  }

  addInbound(vni: number, spi: number, keymat: Uint8Array): void {
    const n = this.nets.get(vni);
    if (!n) throw new Error(`VNI ${vni} is not encrypted`);
    this.sad.add(new EspInbound(spi, keymat, n.counters));
    this.saVni.set(spi, vni);
  }

  removeInbound(spi: number): void {
    this.sad.remove(spi);
    this.saVni.delete(spi);
  }

  stats(): { vni: number; counters: EspCounters; sending: boolean; inbound: number }[] {
    return [...this.nets].map(([vni, n]) => ({
      vni,
      counters: { ...n.counters },
      sending: n.out !== undefined,
      inbound: [...this.saVni.values()].filter((v) => v === vni).length,
    }));
  }

  /** The node-wide counters (ESP_NODE_COUNTERS): datagrams no network can be blamed for. */
  nodeCounters(): EspNodeCounters {
    return { unknown_spi: this.sad.unknownSpi, misdirected: this.misdirected, no_descriptor: this.noDescriptor };
  }

  // ── frame path ─────────────────────────────────────────────────────────────────────────────

  /**
   * Fail closed on the VXLAN port, per datagram: see {@link dropCleartext}. Returns the bytes
   * left at `ptr` for the core (0: nothing).
   */
  filterCleartext(mem: DataView, ptr: number, len: number, stride: number): number {
    return this.nets.size === 0 ? len : dropCleartext(mem, ptr, len, stride, this.nets);
  }

  /**
   * Receives ESP datagrams into slots `k`… and describes each one that opens as an underlay
   * datagram of the VXLAN port. Returns the next free descriptor index.
   */
  receive(k: number, max: number, slotPtr: number[]): number {
    const n = this.rx.receive(k, max - k);
    if (n <= 0) return k;
    const core = this.core, mem = core.view, base = this.memPtr;
    let d = k;
    for (let j = 0; j < n; j++) {
      const slot = slotPtr[k + j];
      const len = this.rx.length(k + j);
      if (this.rx.truncated(k + j)) {
        // Longer than the slot (only without GRO: 2 KiB slots): cut, it can never verify.
        this.sad.refuse(mem, slot, len);
        continue;
      }
      // An empty datagram is too short to carry an SPI: unknown_spi, like any other runt.
      if (len === 0) {
        this.openOne(mem, slot, 0);
        continue;
      }
      // A UDP GRO buffer holds datagrams `stride` apart. Each is opened in place and its VXLAN
      // datagram moved down to the run being built, so that equal-length ones lie back to back
      // and reach the core as one GRO-style descriptor (RX.GSO_SIZE = their length), as the
      // VXLAN port's GRO buffers do.
      const stride = (this.gro && this.rx.gsoSize(k + j)) || len;
      let run = slot, runEnd = slot, runLen = 0, count = 0;
      for (let off = 0; off < len; off += stride) {
        const dlen = Math.min(stride, len - off);
        const vx = this.openOne(mem, slot + off, dlen);
        if (vx < 0) continue;
        const vlen = this.sad.sa!.vxlanLen;
        // Only the last datagram of a run may be shorter: start another run otherwise.
        if (count > 0 && (vlen > runLen || runEnd - run !== count * runLen)) {
          if (d < max) this.emit(d++, k + j, run, runEnd - run, count > 1 ? runLen : 0);
          else this.noDescriptor += count;
          run = runEnd;
          count = 0;
        }
        if (count === 0) runLen = vlen;
        c.memmove(base + BigInt(runEnd), base + BigInt(vx), BigInt(vlen));
        runEnd += vlen;
        count++;
      }
      if (count > 0) {
        if (d < max) this.emit(d++, k + j, run, runEnd - run, count > 1 ? runLen : 0);
        else this.noDescriptor += count;
      }
    }
    return d;
  }

  /** Opens one ESP datagram in place; the VXLAN datagram's address, or −1 when dropped. */
  private openOne(mem: DataView, ptr: number, len: number): number {
    if (this.sad.open(mem, this.memPtr, ptr, len) !== null) return -1;
    const sa = this.sad.sa!;
    if (
      sa.dstPort !== this.vxlanPort || sa.vxlanLen < VXLAN_HEADER_LEN ||
      vniAt(mem, sa.vxlanOff) !== this.saVni.get(sa.spi)
    ) {
      // Counted here alone: open() counted it decrypted, but it never reaches the core.
      sa.counters.decrypted--;
      this.misdirected++;
      return -1;
    }
    return sa.vxlanOff;
  }

  /** Descriptor `d`: VXLAN datagrams at ptr (`stride` apart when several) from message `m`'s sender. */
  private emit(d: number, m: number, ptr: number, len: number, stride: number): void {
    const core = this.core;
    const desc = core.rxPtr + d * RX_DESC_LEN;
    readSockaddrInto(this.rx.names.view, this.rx.nameOffset(m), core.view, desc + RX.PEER);
    // The sender's VTEP is its address and VXLAN port, as the control plane programmed it.
    core.describe(d, ptr, len, PORT_UNDERLAY, undefined, this.vxlanPort, { groStride: stride });
  }

  /**
   * Handles a TX entry for a remote VTEP: false when its VNI is not encrypted (the caller sends
   * it as plain VXLAN); else seals a copy of each datagram (each GSO segment) and queues it for
   * the VTEP's ESP port, or drops it when the VNI has no outbound SA.
   */
  send(mem: DataView, ptr: number, len: number, gso: number, srcPort: number, vtep: number): boolean {
    const n = this.nets.get(vniAt(mem, ptr));
    if (!n) return false;
    if (!n.out) return true; // no key yet: nothing leaves, in cleartext least of all
    if (vtep >= this.peersBuilt) this.buildPeers();
    const step = gso && len > gso ? gso : len;
    const segs = Math.ceil(len / step);
    if (segs * (step + ESP_OVERHEAD) > RING_BYTES) return true; // cannot happen: 64 KiB super-frames
    if (this.used + segs * (step + ESP_OVERHEAD) > RING_BYTES) this.flush();
    // Sealed segments back to back: equal-length ones leave as one UDP_SEGMENT message.
    const src = this.memPtr + BigInt(ptr), dst = this.ring.ptr;
    const peer = this.peers.base + vtep * SOCKADDR_IN6_LEN;
    let start = this.used, cur = start, full = 0, count = 0;
    for (let off = 0; off < len; off += step) {
      const dlen = Math.min(step, len - off);
      const at = cur + ESP_HEADROOM;
      c.memmove(dst + BigInt(at), src + BigInt(off), BigInt(dlen));
      const elen = n.out.seal(this.ringView, this.ring.ptr, at, dlen, srcPort, this.vxlanPort);
      if (elen === 0) break;
      if (count === 0) full = elen;
      cur += elen;
      count++;
      if ((count + 1) * full > GSO_BYTES) {
        this.tx.add(this.ring.base + start, cur - start, count > 1 ? full : 0, peer, this.saLen);
        start = cur;
        count = 0;
      }
    }
    if (count > 0) this.tx.add(this.ring.base + start, cur - start, count > 1 ? full : 0, peer, this.saLen);
    this.used = cur;
    return true;
  }

  /** Sends what send() queued; the ring is free again. */
  flush(): void {
    if (this.tx.pending > 0) this.tx.flush();
    this.used = 0;
  }

  private buildPeers(): void {
    const count = this.core.vtepCount;
    for (let id = this.peersBuilt; id < count; id++) {
      writeSockaddr(
        this.peers.view,
        id * SOCKADDR_IN6_LEN,
        this.core.vtep(id).raw,
        this.espPort,
        this.family,
      );
    }
    this.peersBuilt = count;
  }

  close(): void {
    for (const vni of [...this.nets.keys()]) this.unencrypt(vni);
    this.sad.clear();
  }
}
