// The core's switching logic (assembly/pipeline/, switch/learn.ts) written as plain TypeScript, the
// reference the benchmark measures the Wasm core against. It is meant to be a fair rival, not a
// strawman: the same descriptor, TX-entry and slot layout in one ArrayBuffer; the same
// open-addressing FDB with 16-byte entries (four u32 words) and linear probing; the same checks
// in the same order (descriptor bounds, runt, MTU, source MAC, learning with static/move
// semantics, learn and load limits, ageing, split horizon, flood sets, TX-list full); the same
// VXLAN header in the headroom and the same flow-hash source port; the same counters.
//
// The same algorithm too, with the core's three shortcuts: run counters (a run of frames from one
// port, or to one VTEP, adds its RX/TX counters up in fields and stores them once per run and at
// the end of the burst), the one-entry learn cache (the last FDB entry learning touched, its key
// re-checked), and one VNI counter bump per flood for all its copies.
//
// Where plain JavaScript differs it takes the natural JS route:
//  - the FDB key is two u32 words (MAC low 4 bytes; MAC high 2 bytes | (VNI slot + 1) << 16)
//    hashed with a 32-bit multiply-shift (Math.imul) instead of a 64-bit one;
//  - counters are a Float64Array (exact to 2^53) rather than BigInt arithmetic;
//  - VNI records are small objects.
// The flow hash must give the very source port the core gives (tests/core/ts_switch_test.ts
// compares TX entries), so its splitmix64 finaliser is emulated with 32-bit halves.
//
// Not modelled: PORT_UNDERLAY_ETH (whole outer packets; counted as not_vxlan); the offloads
// (RX_VNET_HDR frames and UDP GRO buffers: the fields are read as the core reads them, and such
// descriptors are counted as bad_descriptor); the ARP/ND neighbour table (suppression looks at
// the EtherType and finds no neighbour, as with an empty table, so requests are flooded).

import { DROP_REASONS, LATE_COUNTERS, LINK_COUNTERS, VNI_COUNTERS } from "../../cli/core/counters.ts";
import type { LinkCounters, VniCounters } from "../../cli/core/counters.ts";
import { parseIp, parseMac } from "../../cli/core/addr.ts";
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from "../../cli/pcap/link.ts";
import {
  HEADROOM,
  RX,
  TAILROOM,
  TX,
  TX_INNER_DF,
  VNI_FLAG_LEARN as FLAG_LEARN,
  VNI_FLAG_SUPPRESS as FLAG_SUPPRESS,
} from "../../cli/core/abi.ts";
import {
  type CoreConfig,
  PORT_UNDERLAY,
  PORT_UNDERLAY_ETH,
  RX_DESC_LEN,
  RX_VNET_HDR,
  TARGET_REMOTE,
  TX_ENTRY_LEN,
  type TxEntry,
  type VniOptions,
} from "../../cli/core/mod.ts";

export { HEADROOM, TAILROOM };
// Descriptor and TX-entry fields from the binding (cli/core/abi.ts, checked against the core at
// load), as module constants so the hot loops see plain numbers.
const { PTR: RX_PTR, LEN: RX_LEN, PORT: RX_PORT, PEER_PORT: RX_PEER_PORT, VERDICT: RX_VERDICT } = RX;
const { FLAGS: RX_FLAGS, PEER: RX_PEER, GSO_SIZE: RX_GSO_SIZE } = RX;
const { PTR: TX_PTR, LEN: TX_LEN, TARGET: TX_TARGET, SRC_PORT: TX_SRC_PORT, RX_INDEX: TX_RX_INDEX } = TX;
const { GSO_SIZE: TX_GSO_SIZE, FLAGS: TX_FLAGS, VNET: TX_VNET, TOS: TX_TOS } = TX;
const STATIC = 0x80000000;
const FROM_REMOTE = 0xffffffff;
const FORWARDED = 0;
const VXLAN_HEADER_LEN = 8;
const ETH_HEADER_LEN = 14;
const VLAN_TAG_LEN = 4;
const ETHERTYPE_ARP = 0x0806;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;

// Counter indices, as in assembly/counters.ts (by name, from the binding's list).
const at = (name: typeof VNI_COUNTERS[number]) => VNI_COUNTERS.indexOf(name);
const RX_FRAMES = at("rx_frames"), RX_BYTES = at("rx_bytes"), TX_FRAMES = at("tx_frames");
const TX_BYTES = at("tx_bytes"), ENCAP = at("encap"), DECAP = at("decap"), FLOOD = at("flood");
const FDB_HIT = at("fdb_hit"), FDB_MISS = at("fdb_miss"), FDB_LEARN = at("fdb_learn");
const FDB_MOVE = at("fdb_move"), FDB_LEARN_LIMIT = at("fdb_learn_limit");
const VTEP_LEARN_FULL = at("vtep_learn_full"), DROPS = at("drops"), DROP_BASE = VNI_COUNTERS.length;
// The core's late counters (PMTU replies, ECN marks) follow; this reference never bumps them.
const BLOCK = DROP_BASE + DROP_REASONS.length + LATE_COUNTERS.length;
const LINK = LINK_COUNTERS.length;
const L_RX_FRAMES = 0, L_RX_BYTES = 1, L_TX_FRAMES = 2, L_TX_BYTES = 3, L_DROPS = 4;
const DROP_BAD_DESCRIPTOR = 0, DROP_RUNT = 1, DROP_OVER_MTU = 2, DROP_VXLAN_RUNT = 3;
const DROP_VXLAN_BAD_FLAGS = 4, DROP_UNKNOWN_VNI = 5, DROP_UNKNOWN_PORT = 6, DROP_BAD_SOURCE_MAC = 7;
const DROP_SAME_PORT = 8, DROP_SPLIT_HORIZON = 9, DROP_NO_RECIPIENT = 10, DROP_NOT_VXLAN = 12;
const DROP_TX_FULL = 13;
const MAX_PER_VNI = 256;

class Vni {
  learnCount = 0;
  readonly ports: number[] = [];
  readonly flood: number[] = [];
  constructor(
    public vni: number,
    public mtu: number,
    public learnMax: number,
    public ageing: number,
    public flags: number,
  ) {}
}

// Result registers of the 64-bit helpers: a typed array, so results are stored raw (a module
// `let` holding a number above 2^30 would box it on every store). Words are kept as int32 for the
// same reason; `>>> 0` only where a comparison or a division needs the unsigned value.
const R = new Int32Array(2);
const LO = 0, HI = 1;

/** Low 64 bits of (ah:al) × (bh:bl) into R. 16-bit partial products stay exact in doubles. */
function mul64(ah: number, al: number, bh: number, bl: number): void {
  const a0 = al & 0xffff, a1 = al >>> 16, b0 = bl & 0xffff, b1 = bl >>> 16;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const hi = a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16);
  R[LO] = Math.imul(al, bl);
  R[HI] = hi + Math.imul(ah, bl) + Math.imul(al, bh);
}

/** High 32 bits of splitmix64's finaliser of (h:l), as assembly/hash.ts's mix64() >>> 32 (as int32). */
function mixHigh(h: number, l: number): number {
  l = l ^ ((l >>> 30) | (h << 2));
  h = h ^ (h >>> 30);
  mul64(h, l, 0xbf58476d | 0, 0x1ce4e5b9);
  h = R[HI];
  l = R[LO];
  l = l ^ ((l >>> 27) | (h << 5));
  h = h ^ (h >>> 27);
  mul64(h, l, 0x94d049bb | 0, 0x133111eb);
  h = R[HI];
  return h ^ (h >>> 31);
}

export class TsSwitch {
  readonly config: CoreConfig;
  readonly buffer: ArrayBuffer;
  readonly bytes: Uint8Array;
  private readonly u16: Uint16Array;
  private readonly u32: Uint32Array;
  private readonly dv: DataView;
  readonly rxPtr: number;
  readonly txPtr: number;
  readonly slotBase: number;
  readonly slotSize: number;
  readonly slotsEnd: number;
  readonly headroom = HEADROOM;
  private readonly burstMax: number;
  private readonly txMax: number;

  // FDB: entry i at words 4i..4i+3 = key low, key high, target, stamp (int32 words, so the
  // TARGET_REMOTE and STATIC bits read as the sign); key high 0 = empty.
  private readonly fdb: Int32Array;
  private readonly bits: number;
  private readonly shift: number;
  private readonly mask: number;
  private readonly loadLimit: number;
  private used = 0;

  private readonly counters64: Float64Array;
  private readonly portCounters64: Float64Array;
  private readonly vtepCounters64: Float64Array;

  private readonly vnis: (Vni | undefined)[];
  private lastVni = 0;
  private lastSlot = -1;
  private readonly portSlot: Int32Array; // VNI slot + 1, 0 = unattached

  // VTEPs: address as four u32 words, port; an open-addressing index of id + 1.
  private readonly vtepAddr: Uint32Array;
  private readonly vtepPortOf: Uint16Array;
  private vtepCountN = 0;
  private readonly vtepIndex: Uint32Array;
  private readonly vtepIndexMask: number;
  private lastA = 0;
  private lastB = 0;
  private lastC = 0;
  private lastD = 0;
  private lastVtep = -1;

  vxlanPort = 4789;
  portMin = 32768;
  portMax = 61000;

  private txCount = 0;
  private now = 0;

  // Run counters (pipeline/run_counters.ts countLocalRx/countRemoteTx): -1 = no run.
  private rxRunPort = -1;
  private rxRunBlk = 0;
  private rxRunFrames = 0;
  private rxRunBytes = 0;
  private rxRunHits = 0;
  private txRunTarget = 0;
  private txRunBlk = 0;
  private txRunFrames = 0;
  private txRunBytes = 0;
  /** Word index of the FDB entry learning last touched, or -1 (switch/learn.ts lastLearned). */
  private lastLearned = -1;

  constructor(config: CoreConfig) {
    this.config = config;
    const align = (n: number) => (n + 63) & ~63;
    this.burstMax = config.burst;
    this.txMax = config.txEntries;
    this.slotSize = 1 << config.slotSizeLog2;
    this.rxPtr = 64;
    this.txPtr = align(this.rxPtr + config.burst * RX_DESC_LEN);
    this.slotBase = align(this.txPtr + config.txEntries * TX_ENTRY_LEN);
    this.slotsEnd = this.slotBase + config.slots * this.slotSize;
    this.buffer = new ArrayBuffer(this.slotsEnd);
    this.bytes = new Uint8Array(this.buffer);
    this.u16 = new Uint16Array(this.buffer);
    this.u32 = new Uint32Array(this.buffer);
    this.dv = new DataView(this.buffer);

    this.bits = config.fdbBits;
    this.shift = 32 - config.fdbBits;
    this.mask = (1 << config.fdbBits) - 1;
    this.loadLimit = (1 << config.fdbBits) - ((1 << config.fdbBits) >> 3);
    this.fdb = new Int32Array(4 << config.fdbBits);

    this.counters64 = new Float64Array((config.maxVnis + 1) * BLOCK);
    this.portCounters64 = new Float64Array(config.maxPorts * LINK);
    this.vtepCounters64 = new Float64Array(config.maxVteps * LINK);
    this.vnis = new Array(config.maxVnis).fill(undefined);
    this.portSlot = new Int32Array(config.maxPorts);
    this.vtepAddr = new Uint32Array(config.maxVteps * 4);
    this.vtepPortOf = new Uint16Array(config.maxVteps);
    let cap = 1;
    while (cap < config.maxVteps * 2) cap <<= 1;
    this.vtepIndex = new Uint32Array(cap);
    this.vtepIndexMask = cap - 1;
  }

  // ── the binding's surface (the subset of WeftCore the benchmark and test use) ──────────────

  slotData(i: number): number {
    return this.slotBase + i * this.slotSize + HEADROOM;
  }

  load(i: number, frame: Uint8Array, port: number, peer?: Uint8Array, peerPort = 0): void {
    const ptr = this.slotData(i);
    this.bytes.set(frame, ptr);
    this.describe(i, ptr, frame.length, port, peer, peerPort);
  }

  describe(i: number, ptr: number, len: number, port: number, peer?: Uint8Array, peerPort = 0): void {
    const d = this.rxPtr + i * RX_DESC_LEN;
    this.u32[(d + RX_PTR) >> 2] = ptr;
    this.u32[(d + RX_LEN) >> 2] = len;
    this.u16[(d + RX_PORT) >> 1] = port;
    this.u16[(d + RX_PEER_PORT) >> 1] = peerPort;
    this.u16[(d + RX_VERDICT) >> 1] = 0;
    this.u16[(d + RX_FLAGS) >> 1] = 0;
    if (peer) this.bytes.set(peer, d + RX_PEER);
    this.u16[(d + RX_GSO_SIZE) >> 1] = 0;
  }

  verdict(i: number): number {
    return this.u16[(this.rxPtr + i * RX_DESC_LEN + RX_VERDICT) >> 1];
  }

  tx(i: number): TxEntry {
    const t = (this.txPtr + i * TX_ENTRY_LEN) >> 2;
    return {
      ptr: this.u32[t + (TX_PTR >> 2)],
      len: this.u32[t + (TX_LEN >> 2)],
      target: this.u32[t + (TX_TARGET >> 2)],
      srcPort: this.u16[(t << 1) + (TX_SRC_PORT >> 1)],
      rxIndex: this.u16[(t << 1) + (TX_RX_INDEX >> 1)],
      gsoSize: this.u16[(t << 1) + (TX_GSO_SIZE >> 1)],
      vnet: (t << 2) + TX_VNET,
      tos: this.bytes[(t << 2) + TX_TOS],
      innerDf: (this.u16[(t << 1) + (TX_FLAGS >> 1)] & TX_INNER_DF) !== 0,
    };
  }

  txBytes(i: number): Uint8Array {
    const t = this.tx(i);
    return this.bytes.slice(t.ptr, t.ptr + t.len);
  }

  addVni(vni: number, o: VniOptions = {}): number {
    const flags = (o.learning ?? true ? FLAG_LEARN : 0) | (o.suppress ?? true ? FLAG_SUPPRESS : 0);
    let slot = this.slotOf(vni);
    if (slot < 0) slot = this.vnis.indexOf(undefined);
    if (slot < 0) throw new Error(`add VNI ${vni}: table full`);
    const v = this.vnis[slot];
    const learnMax = (o.learnMax ?? 0xffffffff) >>> 0, mtu = o.mtu ?? 1450, ageing = o.ageing ?? 300;
    if (v) Object.assign(v, { mtu, learnMax, ageing, flags });
    else this.vnis[slot] = new Vni(vni, mtu, learnMax, ageing, flags);
    return slot;
  }

  attachPort(port: number, vni: number): void {
    const slot = this.slotOf(vni);
    if (slot < 0 || this.portSlot[port] !== 0) throw new Error(`attach port ${port} to VNI ${vni} failed`);
    this.vnis[slot]!.ports.push(port);
    this.portSlot[port] = slot + 1;
  }

  addVtep(address: string | Uint8Array, port = 4789): number {
    const a = typeof address === "string" ? parseIp(address) : address;
    const v = new DataView(a.buffer, a.byteOffset, 16);
    const id = this.vtepAdd(
      v.getUint32(0, true),
      v.getUint32(4, true),
      v.getUint32(8, true),
      v.getUint32(12, true),
      port,
    );
    if (id < 0) throw new Error(`add VTEP: table full`);
    return id;
  }

  get vtepCount(): number {
    return this.vtepCountN;
  }

  addFlood(vni: number, vtep: number): void {
    const v = this.vnis[this.slotOf(vni)]!;
    if (!v.flood.includes(vtep) && v.flood.length < MAX_PER_VNI) v.flood.push(vtep);
  }

  addStatic(vni: number, mac: string | Uint8Array, to: { port: number } | { vtep: number }): void {
    const m = typeof mac === "string" ? parseMac(mac) : mac;
    const target = "port" in to ? to.port : (TARGET_REMOTE | to.vtep) >>> 0;
    if (this.addStaticRaw(vni, m[0] | m[1] << 8 | m[2] << 16 | m[3] << 24, m[4] | m[5] << 8, target) !== 0) {
      throw new Error(`add static FDB entry ${mac}: table full`);
    }
  }

  /** fdbAdd: an existing entry becomes static; a new one may use the whole load limit. */
  addStaticRaw(vni: number, lo: number, hi: number, target: number): number {
    const slot = this.slotOf(vni);
    if (slot < 0) return -5;
    const keyHi = hi | (slot + 1) << 16;
    lo |= 0;
    target |= 0;
    const e = this.find(lo, keyHi);
    if (e >= 0) {
      if (!(this.fdb[e + 3] & STATIC)) this.vnis[slot]!.learnCount--;
      this.fdb[e + 2] = target;
      this.fdb[e + 3] = STATIC;
      return 0;
    }
    return this.insert(lo, keyHi, target, STATIC) >= 0 ? 0 : -4;
  }

  get fdbSize(): number {
    return this.used;
  }

  counters(vni?: number): VniCounters {
    const slot = vni === undefined ? -1 : this.slotOf(vni);
    const start = (slot + 1) * BLOCK;
    const out = {} as VniCounters;
    VNI_COUNTERS.forEach((name, i) => (out[name] = this.counters64[start + i]));
    out.dropped = {} as VniCounters["dropped"];
    DROP_REASONS.forEach(([name], i) => (out.dropped[name] = this.counters64[start + DROP_BASE + i]));
    const late = start + DROP_BASE + DROP_REASONS.length;
    LATE_COUNTERS.forEach((name, i) => (out[name] = this.counters64[late + i]));
    return out;
  }

  portCounters(port: number): LinkCounters {
    return this.link(this.portCounters64, port);
  }

  vtepCounters(id: number): LinkCounters {
    return this.link(this.vtepCounters64, id);
  }

  private link(c: Float64Array, id: number): LinkCounters {
    const out = {} as LinkCounters;
    LINK_COUNTERS.forEach((name, i) => (out[name] = c[id * LINK + i]));
    return out;
  }

  // ── the data path ──────────────────────────────────────────────────────────────────────────

  /** Switches `count` frames described at rxPtr; returns the number of TX entries written. */
  process(count: number, now: number): number {
    this.txCount = 0;
    this.now = now & 0x7fffffff;
    if (count > this.burstMax) count = this.burstMax;
    const u16 = this.u16;
    for (let i = 0; i < count; i++) {
      const d = this.rxPtr + i * RX_DESC_LEN;
      u16[(d + RX_VERDICT) >> 1] = this.switchOne(d, i);
    }
    this.flushRxRun();
    this.flushTxRun();
    this.rxRunPort = -1;
    return this.txCount;
  }

  private countLocalRx(port: number, blk: number, len: number): void {
    if (port !== this.rxRunPort) {
      this.flushRxRun();
      this.rxRunPort = port;
      this.rxRunBlk = blk;
    }
    this.rxRunFrames++;
    this.rxRunBytes += len;
  }

  private flushRxRun(): void {
    if (this.rxRunFrames === 0) return;
    const c = this.counters64, pc = this.portCounters64, blk = this.rxRunBlk, p = this.rxRunPort * LINK;
    c[blk + RX_FRAMES] += this.rxRunFrames;
    c[blk + RX_BYTES] += this.rxRunBytes;
    pc[p + L_RX_FRAMES] += this.rxRunFrames;
    pc[p + L_RX_BYTES] += this.rxRunBytes;
    if (this.rxRunHits !== 0) c[blk + FDB_HIT] += this.rxRunHits;
    this.rxRunFrames = this.rxRunBytes = this.rxRunHits = 0;
  }

  private countRemoteTx(blk: number, target: number, len: number): void {
    if (target !== this.txRunTarget || blk !== this.txRunBlk) {
      this.flushTxRun();
      this.txRunTarget = target;
      this.txRunBlk = blk;
    }
    this.txRunFrames++;
    this.txRunBytes += len;
  }

  private flushTxRun(): void {
    if (this.txRunFrames === 0) return;
    const c = this.counters64, vc = this.vtepCounters64, blk = this.txRunBlk, n = this.txRunFrames;
    c[blk + TX_FRAMES] += n;
    c[blk + TX_BYTES] += this.txRunBytes;
    c[blk + ENCAP] += n;
    const vtep = (this.txRunTarget & 0x7fffffff) * LINK;
    vc[vtep + L_TX_FRAMES] += n;
    vc[vtep + L_TX_BYTES] += this.txRunBytes + n * VXLAN_HEADER_LEN;
    this.txRunFrames = this.txRunBytes = 0;
  }

  private switchOne(d: number, index: number): number {
    const ptr = this.u32[(d + RX_PTR) >> 2];
    const len = this.u32[(d + RX_LEN) >> 2];
    const port = this.u16[(d + RX_PORT) >> 1];
    if (ptr < this.slotBase || ptr >= this.slotsEnd) return this.drop(-1, DROP_BAD_DESCRIPTOR);
    const off = (ptr - this.slotBase) & (this.slotSize - 1);
    if (off < HEADROOM || off + len + TAILROOM > this.slotSize) return this.drop(-1, DROP_BAD_DESCRIPTOR);
    if (port === PORT_UNDERLAY) {
      const stride = this.u16[(d + RX_GSO_SIZE) >> 1];
      if (stride !== 0 && stride < len) return this.drop(-1, DROP_BAD_DESCRIPTOR); // GRO: not modelled
      return this.fromUnderlay(ptr, len, d + RX_PEER, index);
    }
    if (port === PORT_UNDERLAY_ETH) return this.drop(-1, DROP_NOT_VXLAN);
    if (this.u16[(d + RX_FLAGS) >> 1] & RX_VNET_HDR) return this.drop(-1, DROP_BAD_DESCRIPTOR); // offloads: not modelled
    return this.fromLocal(ptr, len, port, index);
  }

  private drop(slot: number, reason: number): number {
    const blk = (slot + 1) * BLOCK;
    this.counters64[blk + DROPS]++;
    this.counters64[blk + DROP_BASE + reason]++;
    return reason + 1;
  }

  private dropOnPort(slot: number, port: number, reason: number): number {
    this.portCounters64[port * LINK + L_DROPS]++;
    return this.drop(slot, reason);
  }

  private etherType(frame: number): number {
    return this.dv.getUint16(frame + 12);
  }

  private fitsMtu(v: Vni, frame: number, len: number): boolean {
    const max = v.mtu + ETH_HEADER_LEN;
    if (len <= max) return true;
    const type = this.etherType(frame);
    return (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) && len <= max + VLAN_TAG_LEN;
  }

  private fromUnderlay(ptr: number, len: number, peer: number, index: number): number {
    const b = this.bytes;
    if (len < VXLAN_HEADER_LEN + ETH_HEADER_LEN) return this.drop(-1, DROP_VXLAN_RUNT);
    if (!(b[ptr] & 0x08)) return this.drop(-1, DROP_VXLAN_BAD_FLAGS);
    const slot = this.slotOf(this.dv.getUint32(ptr + 4) >>> 8);
    if (slot < 0) return this.drop(-1, DROP_UNKNOWN_VNI);
    const v = this.vnis[slot]!;
    const blk = (slot + 1) * BLOCK;
    const c = this.counters64;
    const frame = ptr + VXLAN_HEADER_LEN;
    const flen = len - VXLAN_HEADER_LEN;
    c[blk + RX_FRAMES]++;
    c[blk + RX_BYTES] += flen;
    c[blk + DECAP]++;

    const w = peer >> 2;
    const u32 = this.u32;
    let vtep = this.vtepFind(u32[w], u32[w + 1], u32[w + 2], u32[w + 3]);
    const learning = (v.flags & FLAG_LEARN) !== 0;
    if (vtep < 0 && learning) {
      vtep = this.vtepAdd(u32[w], u32[w + 1], u32[w + 2], u32[w + 3], this.vxlanPort);
      if (vtep < 0) c[blk + VTEP_LEARN_FULL]++;
    }
    if (vtep >= 0) {
      this.vtepCounters64[vtep * LINK + L_RX_FRAMES]++;
      this.vtepCounters64[vtep * LINK + L_RX_BYTES] += len;
    }
    if (!this.fitsMtu(v, frame, flen)) return this.drop(slot, DROP_OVER_MTU);
    const dv = this.dv;
    const srcLo = dv.getInt32(frame + 6, true);
    const srcHi = dv.getUint16(frame + 10, true);
    if ((srcLo & 1) !== 0 || (srcLo | srcHi) === 0) return this.drop(slot, DROP_BAD_SOURCE_MAC);
    if (vtep >= 0 && learning) this.learn(slot, v, blk, srcLo, srcHi, TARGET_REMOTE | vtep);

    const dstLo = dv.getInt32(frame, true);
    if ((dstLo & 1) === 0) {
      const e = this.lookup(slot, v, dstLo, dv.getUint16(frame + 4, true));
      if (e >= 0) {
        c[blk + FDB_HIT]++;
        const t = this.fdb[e + 2];
        // Split horizon: what came over the tunnel never goes back into it.
        if (t & TARGET_REMOTE) return this.drop(slot, DROP_SPLIT_HORIZON);
        return this.toPort(slot, blk, frame, flen, t, index);
      }
      c[blk + FDB_MISS]++;
    }
    return this.flood(slot, v, blk, frame, flen, FROM_REMOTE, index);
  }

  private fromLocal(frame: number, len: number, port: number, index: number): number {
    const slot = port < this.portSlot.length ? this.portSlot[port] - 1 : -1;
    if (slot < 0) return this.drop(-1, DROP_UNKNOWN_PORT);
    const v = this.vnis[slot]!;
    const blk = (slot + 1) * BLOCK;
    const c = this.counters64;
    this.countLocalRx(port, blk, len);
    if (len < ETH_HEADER_LEN) return this.dropOnPort(slot, port, DROP_RUNT);
    if (!this.fitsMtu(v, frame, len)) return this.dropOnPort(slot, port, DROP_OVER_MTU);
    const dv = this.dv;
    const srcLo = dv.getInt32(frame + 6, true);
    const srcHi = dv.getUint16(frame + 10, true);
    if ((srcLo & 1) !== 0 || (srcLo | srcHi) === 0) return this.dropOnPort(slot, port, DROP_BAD_SOURCE_MAC);
    if (v.flags & FLAG_LEARN) this.learn(slot, v, blk, srcLo, srcHi, port);

    const dstLo = dv.getInt32(frame, true);
    if (dstLo & 1) {
      if (v.flags & FLAG_SUPPRESS) this.answer(frame, len);
      return this.flood(slot, v, blk, frame, len, port, index);
    }
    const e = this.lookup(slot, v, dstLo, dv.getUint16(frame + 4, true));
    if (e >= 0) {
      this.rxRunHits++; // the run's VNI is this frame's: a port belongs to one VNI
      const t = this.fdb[e + 2];
      if (t & TARGET_REMOTE) return this.toRemote(slot, v, blk, frame, len, t, index);
      if (t === port) return this.dropOnPort(slot, port, DROP_SAME_PORT);
      return this.toPort(slot, blk, frame, len, t, index);
    }
    c[blk + FDB_MISS]++;
    return this.flood(slot, v, blk, frame, len, port, index);
  }

  /** ARP/ND suppression's dispatch; the neighbour table is not modelled, so nothing is answered. */
  private answer(frame: number, len: number): number {
    const l3 = this.l3Offset(frame, len);
    if (l3 === 0) return 0;
    const type = this.bytes[frame + l3 - 2] << 8 | this.bytes[frame + l3 - 1];
    if (type === ETHERTYPE_ARP || type === ETHERTYPE_IPV6) return 0;
    return 0;
  }

  /** vxlan_snoop(): refresh, never move a static entry, move and count, or insert within limits. */
  private learn(slot: number, v: Vni, blk: number, lo: number, hi: number, target: number): void {
    const keyHi = hi | (slot + 1) << 16;
    const f = this.fdb;
    const c = this.lastLearned;
    const e = c >= 0 && f[c] === lo && f[c + 1] === keyHi ? c : this.find(lo, keyHi);
    if (e >= 0) {
      this.lastLearned = e;
      const stamp = f[e + 3];
      if (stamp & STATIC) return;
      if (f[e + 2] === target) {
        if (stamp !== this.now) f[e + 3] = this.now;
        return;
      }
      f[e + 2] = target;
      f[e + 3] = this.now;
      this.counters64[blk + FDB_MOVE]++;
      return;
    }
    if (v.learnCount >= v.learnMax || this.insert(lo, keyHi, target, this.now) < 0) {
      this.counters64[blk + FDB_LEARN_LIMIT]++;
      return;
    }
    v.learnCount++;
    this.counters64[blk + FDB_LEARN]++;
    this.lastLearned = -1; // an insert can land where the cached entry was expected to stay
  }

  private lookup(slot: number, v: Vni, lo: number, hi: number): number {
    const e = this.find(lo, hi | (slot + 1) << 16);
    if (e < 0) return -1;
    const stamp = this.fdb[e + 3];
    if (stamp & STATIC) return e;
    return ((this.now - stamp) >>> 0) > v.ageing ? -1 : e;
  }

  private home(lo: number, hi: number): number {
    return Math.imul(lo ^ Math.imul(hi, 0x85ebca77), 0x9e3779b1) >>> this.shift;
  }

  /** Word index of the entry for the key, or -1. */
  private find(lo: number, hi: number): number {
    const f = this.fdb, mask = this.mask;
    let i = this.home(lo, hi);
    for (;;) {
      const e = i << 2;
      const k = f[e + 1];
      if (k === hi && f[e] === lo) return e;
      if (k === 0) return -1;
      i = (i + 1) & mask;
    }
  }

  private insert(lo: number, hi: number, target: number, stamp: number): number {
    if (this.used >= this.loadLimit) return -1;
    const f = this.fdb;
    let i = this.home(lo, hi);
    while (f[(i << 2) + 1] !== 0) i = (i + 1) & this.mask;
    const e = i << 2;
    f[e] = lo;
    f[e + 1] = hi;
    f[e + 2] = target;
    f[e + 3] = stamp;
    this.used++;
    return e;
  }

  private emitTx(ptr: number, len: number, target: number, sport: number, index: number, outer = 0): boolean {
    if (this.txCount >= this.txMax) return false;
    const t = (this.txPtr + this.txCount * TX_ENTRY_LEN) >> 2;
    const u32 = this.u32;
    u32[t + (TX_PTR >> 2)] = ptr;
    u32[t + (TX_LEN >> 2)] = len;
    u32[t + (TX_TARGET >> 2)] = target;
    this.u16[(t << 1) + (TX_SRC_PORT >> 1)] = sport;
    this.u16[(t << 1) + (TX_RX_INDEX >> 1)] = index;
    u32[t + (TX_GSO_SIZE >> 2)] = 0; // one datagram, no GSO
    u32[t + (TX_VNET >> 2)] = 0; // no virtio_net_hdr: 10 zero bytes
    u32[t + (TX_VNET >> 2) + 1] = 0;
    this.u16[(t << 1) + ((TX_VNET + 8) >> 1)] = 0;
    if (outer !== 0) {
      this.u16[(t << 1) + (TX_FLAGS >> 1)] = outer & 0x100 ? TX_INNER_DF : 0;
      this.bytes[(t << 2) + TX_TOS] = outer & 0xff; // the TOS byte; its neighbour is padding
    } else {
      this.bytes[(t << 2) + TX_TOS] = 0;
    }
    this.txCount++;
    return true;
  }

  private toPort(slot: number, blk: number, frame: number, len: number, port: number, index: number): number {
    if (!this.emitTx(frame, len, port, 0, index)) return this.drop(slot, DROP_TX_FULL);
    const c = this.counters64, pc = this.portCounters64;
    c[blk + TX_FRAMES]++;
    c[blk + TX_BYTES] += len;
    pc[port * LINK + L_TX_FRAMES]++;
    pc[port * LINK + L_TX_BYTES] += len;
    return FORWARDED;
  }

  /** Prepends the VXLAN header (RFC 7348 §5) in the headroom; returns where the datagram starts. */
  private encapsulate(v: Vni, frame: number): number {
    const p = frame - VXLAN_HEADER_LEN;
    this.dv.setUint32(p, 0x08, true); // flags byte first, reserved bytes zero
    this.dv.setUint32(p + 4, v.vni << 8); // VNI in network order, then a reserved byte
    return p;
  }

  private toRemote(
    slot: number,
    v: Vni,
    blk: number,
    frame: number,
    len: number,
    target: number,
    index: number,
  ): number {
    const p = this.encapsulate(v, frame);
    const sport = this.sourcePort(this.flowHash(frame, len));
    const outer = this.encapInfo(frame, len);
    if (!this.emitTx(p, len + VXLAN_HEADER_LEN, target, sport, index, outer)) {
      return this.drop(slot, DROP_TX_FULL);
    }
    this.countRemoteTx(blk, target, len);
    return FORWARDED;
  }

  private flood(
    slot: number,
    v: Vni,
    blk: number,
    frame: number,
    len: number,
    ingress: number,
    index: number,
  ): number {
    const c = this.counters64, pc = this.portCounters64, vc = this.vtepCounters64;
    c[blk + FLOOD]++;
    let sent = 0, lost = 0, encapCopies = 0;
    const ports = v.ports;
    for (let i = 0; i < ports.length; i++) {
      const port = ports[i];
      if (port === ingress) continue;
      if (!this.emitTx(frame, len, port, 0, index)) {
        lost++;
        continue;
      }
      sent++;
      pc[port * LINK + L_TX_FRAMES]++;
      pc[port * LINK + L_TX_BYTES] += len;
    }
    const remotes = ingress === FROM_REMOTE ? 0 : v.flood.length;
    if (remotes !== 0) {
      const p = this.encapsulate(v, frame);
      const sport = this.sourcePort(this.flowHash(frame, len));
      const dlen = len + VXLAN_HEADER_LEN;
      const outer = this.encapInfo(frame, len);
      for (let i = 0; i < remotes; i++) {
        const vtep = v.flood[i];
        if (!this.emitTx(p, dlen, TARGET_REMOTE | vtep, sport, index, outer)) {
          lost++;
          continue;
        }
        sent++;
        encapCopies++;
        vc[vtep * LINK + L_TX_FRAMES]++;
        vc[vtep * LINK + L_TX_BYTES] += dlen;
      }
    }
    // The VNI's TX counters once for every copy (the per-port/VTEP ones went per copy above).
    if (sent !== 0) {
      c[blk + TX_FRAMES] += sent;
      c[blk + TX_BYTES] += sent * len;
      if (encapCopies !== 0) c[blk + ENCAP] += encapCopies;
    }
    if (sent === 0) return this.drop(slot, lost !== 0 ? DROP_TX_FULL : DROP_NO_RECIPIENT);
    if (lost !== 0) c[blk + DROP_BASE + DROP_TX_FULL] += lost;
    return FORWARDED;
  }

  /** pipeline/ecn.ts encapInfo: outer TOS (inner ECN, CE as ECT(0)) | 0x100 when DF is inherited. */
  private encapInfo(frame: number, len: number): number {
    const b = this.bytes, dv = this.dv;
    const l3 = this.l3Offset(frame, len);
    if (l3 === 0) return 0;
    const type = dv.getUint16(frame + l3 - 2);
    const ip = frame + l3, room = len - l3;
    let ecn: number, df: number;
    if (type === ETHERTYPE_IPV4 && room >= 20 && (b[ip] >> 4) === 4) {
      const ihl = (b[ip] & 0xf) << 2, total = dv.getUint16(ip + 2);
      if (ihl < 20 || total < ihl || total > room) return 0;
      ecn = b[ip + 1] & 3;
      df = dv.getUint16(ip + 6) & 0x4000 ? 0x100 : 0;
    } else if (
      type === ETHERTYPE_IPV6 && room >= 40 && (b[ip] >> 4) === 6 && 40 + dv.getUint16(ip + 4) <= room
    ) {
      ecn = (dv.getUint16(ip) >> 4) & 3;
      df = 0x100;
    } else {
      return 0;
    }
    return (ecn === 3 ? 2 : ecn) | df;
  }

  // ── flow hash (pipeline/flowhash.ts), bit for bit ─────────────────────────────────────────

  private l3Offset(frame: number, len: number): number {
    const type = this.etherType(frame);
    if (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) {
      return len >= ETH_HEADER_LEN + VLAN_TAG_LEN ? ETH_HEADER_LEN + VLAN_TAG_LEN : 0;
    }
    return ETH_HEADER_LEN;
  }

  private le32(p: number): number {
    return this.dv.getInt32(p, true);
  }

  flowHash(frame: number, len: number): number {
    const b = this.bytes, dv = this.dv;
    const l3 = this.l3Offset(frame, len);
    if (l3 !== 0) {
      const type = dv.getUint16(frame + l3 - 2);
      const ip = frame + l3;
      const room = len - l3;
      if (type === ETHERTYPE_IPV4 && room >= 20 && (b[ip] >> 4) === 4) {
        const ihl = (b[ip] & 0xf) << 2;
        const total = dv.getUint16(ip + 2);
        if (ihl >= 20 && total >= ihl && total <= room) {
          const p = b[ip + 9];
          let l = this.le32(ip + 12), h = this.le32(ip + 16) ^ (p << 24);
          const fragment = (dv.getUint16(ip + 6) & 0x3fff) !== 0;
          if ((p === 6 || p === 17) && !fragment && room >= ihl + 4) {
            mul64(0, this.le32(ip + ihl), 0x9e3779b9 | 0, 0x7f4a7c15);
            l ^= R[LO];
            h ^= R[HI];
          }
          return mixHigh(h, l);
        }
      }
      if (type === ETHERTYPE_IPV6 && room >= 40 && (b[ip] >> 4) === 6 && 40 + dv.getUint16(ip + 4) <= room) {
        let l = this.le32(ip + 8), h = this.le32(ip + 12);
        mul64(this.le32(ip + 20), this.le32(ip + 16), 0, 3);
        l ^= R[LO], h ^= R[HI];
        mul64(this.le32(ip + 28), this.le32(ip + 24), 0, 5);
        l ^= R[LO], h ^= R[HI];
        mul64(this.le32(ip + 36), this.le32(ip + 32), 0, 7);
        l ^= R[LO], h ^= R[HI];
        const p = b[ip + 6];
        h ^= p << 24;
        if ((p === 6 || p === 17) && room >= 44) {
          mul64(0, this.le32(ip + 40), 0x9e3779b9 | 0, 0x7f4a7c15);
          l ^= R[LO], h ^= R[HI];
        }
        return mixHigh(h, l);
      }
    }
    mul64(0, this.le32(frame + 8), 0x9e3779b9 | 0, 0x7f4a7c15);
    const l = this.le32(frame) ^ R[LO] ^ dv.getUint16(frame + 12, true);
    const h = this.le32(frame + 4) ^ R[HI];
    return mixHigh(h, l);
  }

  private sourcePort(hash: number): number {
    return (Math.floor((hash >>> 0) * (this.portMax - this.portMin) / 4294967296) + this.portMin) & 0xffff;
  }

  // ── VNIs and VTEPs ─────────────────────────────────────────────────────────────────────────

  private slotOf(vni: number): number {
    if (vni === this.lastVni && this.lastSlot >= 0) return this.lastSlot;
    for (let s = 0; s < this.vnis.length; s++) {
      if (this.vnis[s]?.vni === vni) {
        this.lastVni = vni;
        this.lastSlot = s;
        return s;
      }
    }
    return -1;
  }

  private vtepHash(a: number, b: number, c: number, d: number): number {
    return Math.imul(
      a ^ Math.imul(b ^ Math.imul(c ^ Math.imul(d, 0x85ebca77), 0xc2b2ae3d), 0x27d4eb2f),
      0x9e3779b1,
    ) >>> 0;
  }

  private vtepFind(a: number, b: number, c: number, d: number): number {
    if (a === this.lastA && b === this.lastB && c === this.lastC && d === this.lastD && this.lastVtep >= 0) {
      return this.lastVtep;
    }
    const w = this.vtepAddr;
    let i = this.vtepHash(a, b, c, d) & this.vtepIndexMask;
    for (;;) {
      const v = this.vtepIndex[i];
      if (v === 0) return -1;
      const r = (v - 1) * 4;
      if (w[r] === a && w[r + 1] === b && w[r + 2] === c && w[r + 3] === d) {
        this.lastA = a, this.lastB = b, this.lastC = c, this.lastD = d;
        this.lastVtep = v - 1;
        return v - 1;
      }
      i = (i + 1) & this.vtepIndexMask;
    }
  }

  private vtepAdd(a: number, b: number, c: number, d: number, port: number): number {
    const found = this.vtepFind(a, b, c, d);
    if (found >= 0) return found;
    if (this.vtepCountN >= this.config.maxVteps) return -1;
    const id = this.vtepCountN++;
    this.vtepAddr.set([a, b, c, d], id * 4);
    this.vtepPortOf[id] = port;
    let i = this.vtepHash(a, b, c, d) & this.vtepIndexMask;
    while (this.vtepIndex[i] !== 0) i = (i + 1) & this.vtepIndexMask;
    this.vtepIndex[i] = id + 1;
    return id;
  }
}
