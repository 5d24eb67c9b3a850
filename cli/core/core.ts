// The typed binding over the Wasm core. No runtime APIs (no Deno.*, no node:*): esbuild bundles
// this for Node and browsers unchanged. Views over linear memory are made once: the core lays
// out all its memory in init() and never grows it afterwards.

import { DROP_REASONS, LINK_COUNTERS, readLinkBlock, readVniBlock, VNI_COUNTERS } from "./counters.ts";
import type { LinkCounters, VniCounters } from "./counters.ts";
import { formatIp, formatMac, parseIp, parseMac } from "./addr.ts";
import {
  ARGS,
  checkAbi,
  DUMP,
  DUMP_STATIC,
  E_BUSY,
  E_FULL,
  E_NO_MEMORY,
  E_NOT_FOUND,
  E_RANGE,
  E_STATE,
  ERROR_MESSAGES,
  PORT_UNDERLAY,
  PORT_UNDERLAY_ETH,
  RX,
  RX_DESC_LEN,
  RX_VNET_HDR,
  TARGET_REMOTE,
  TX,
  TX_ENTRY_LEN,
  TX_HAS_VNET,
  VNET_HDR_LEN,
  VNI_FLAG_LEARN,
  VNI_FLAG_SUPPRESS,
  VTEP_RECORD,
} from "./abi.ts";

/** Exports of build/weft.wasm (assembly/index.ts). */
interface Exports {
  memory: WebAssembly.Memory;
  init(
    burst: number,
    tx: number,
    slots: number,
    slotLog2: number,
    vnis: number,
    ports: number,
    vteps: number,
    fdbBits: number,
    neighBits: number,
    arenaBytes: number,
  ): number;
  args(): number;
  rxDescriptors(): number;
  txList(): number;
  slotBase(): number;
  slotBytes(): number;
  headroom(): number;
  tailroom(): number;
  counters(): number;
  portCounters(): number;
  vtepCounters(): number;
  counterBlockLength(): number;
  memoryUsed(): number;
  arena(): number;
  arenaBytes(): number;
  process(count: number, now: number): number;
  vniAdd(vni: number, mtu: number, learnMax: number, ageing: number, flags: number): number;
  vniSlot(vni: number): number;
  vniRemove(vni: number): number;
  portAttach(port: number, vni: number): number;
  portDetach(port: number): number;
  vtepAdd(port: number): number;
  vtepFind(): number;
  vtepRecord(id: number): number;
  vtepCount(): number;
  floodAdd(vni: number, vtep: number): number;
  floodRemove(vni: number, vtep: number): number;
  vtepForget(vni: number, vtep: number): number;
  fdbAdd(vni: number, target: number): number;
  fdbRemove(vni: number): number;
  fdbFlush(vni: number, learnedOnly: number): number;
  fdbAge(now: number, budget: number): number;
  fdbDump(cursor: number, now: number): number;
  fdbDumpRegion(): number;
  fdbDumpNext(): number;
  fdbUsed(): number;
  fdbCapacity(): number;
  neighAdd(vni: number): number;
  neighRemove(vni: number): number;
  setVxlanPort(port: number): void;
  setSourcePortRange(min: number, max: number): number;
  setCoalescing(on: number): void;
  underlayVni(ptr: number, len: number): number;
  underlayEmit(ptr: number, len: number, vtep: number, sport: number): number;
}

export interface CoreConfig {
  /** Frames per burst (RX descriptors). */
  burst: number;
  /** TX entries per burst; a flood takes one per recipient. */
  txEntries: number;
  /** Frame slots; at least `burst`. */
  slots: number;
  /** log2 of the slot size: 11 = 2 KiB, room for MTU-sized frames. */
  slotSizeLog2: number;
  maxVnis: number;
  maxPorts: number;
  maxVteps: number;
  /** The FDB has 2^fdbBits buckets and holds 7/8 of them. */
  fdbBits: number;
  neighBits: number;
  /** Bytes per burst for segmenting super-frames (TAP offloads); 0 disables them. */
  arenaBytes: number;
}

export const DEFAULT_CONFIG: CoreConfig = {
  burst: 64,
  txEntries: 4096,
  slots: 64,
  slotSizeLog2: 11,
  maxVnis: 64,
  maxPorts: 256,
  maxVteps: 1024,
  fdbBits: 16,
  neighBits: 12,
  arenaBytes: 0,
};

/** Limits for a data plane with TAP offloads and UDP GSO/GRO: 64 KiB super-frames in 128 KiB
 *  slots, and an arena where a burst of them can be cut into MTU-sized datagrams. */
export const OFFLOAD_CONFIG: Partial<CoreConfig> = {
  slotSizeLog2: 17,
  arenaBytes: 64 * 72 * 1024,
};

export interface VniOptions {
  /** Largest L3 payload of an inner frame (Docker's overlay default: 1450). */
  mtu?: number;
  /** Most learned MACs in this VNI; learning stops there, forwarding does not. */
  learnMax?: number;
  /** Seconds a learned entry lives without traffic (Linux default 300). */
  ageing?: number;
  learning?: boolean;
  /** Answer ARP/ND for addresses in the neighbour table instead of flooding. */
  suppress?: boolean;
}

export {
  ARGS,
  DUMP,
  E_BUSY,
  E_FULL,
  E_NO_MEMORY,
  E_NOT_FOUND,
  E_RANGE,
  E_STATE,
  PORT_UNDERLAY,
  PORT_UNDERLAY_ETH,
  RX,
  RX_DESC_LEN,
  RX_VNET_HDR,
  TARGET_REMOTE,
  TX,
  TX_ENTRY_LEN,
  TX_HAS_VNET,
  VNET_HDR_LEN,
};

export class CoreError extends Error {
  override name = "CoreError";
  constructor(readonly op: string, readonly code: number) {
    super(`${op}: ${ERROR_MESSAGES[code] ?? `error ${code}`}`);
  }
}

export interface FdbEntry {
  vni: number;
  mac: string;
  static: boolean;
  /** Local port id, or undefined for a remote entry. */
  port?: number;
  /** Remote VTEP id, or undefined for a local entry. */
  vtep?: number;
  /** Seconds since last seen (0 for static entries). */
  age: number;
}

export interface TxEntry {
  ptr: number;
  len: number;
  target: number;
  srcPort: number;
  rxIndex: number;
  /** Remote: stride of back-to-back datagrams (UDP_SEGMENT size); 0 for one datagram. */
  gsoSize: number;
  /** Address of the 10-byte virtio_net_hdr to write before a local frame on an IFF_VNET_HDR
   *  TAP, or 0: then the frame is plain (checksum complete) and a zero header goes before it. */
  vnet: number;
}

/** One instance of the core: a set of switches (one per VNI) and the memory they work in. */
export class WeftCore {
  readonly exports: Exports;
  readonly config: CoreConfig;
  /** Whole linear memory. Valid for the core's life (memory never grows after init). */
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly rxPtr: number;
  readonly txPtr: number;
  readonly slotBase: number;
  readonly slotSize: number;
  readonly headroom: number;
  private readonly argsPtr: number;
  private readonly counters64: BigUint64Array;
  private readonly vniBlockLen: number;

  private constructor(exports: Exports, config: CoreConfig) {
    checkAbi(exports as unknown as Record<string, unknown>);
    this.exports = exports;
    this.config = config;
    const rc = exports.init(
      config.burst,
      config.txEntries,
      config.slots,
      config.slotSizeLog2,
      config.maxVnis,
      config.maxPorts,
      config.maxVteps,
      config.fdbBits,
      config.neighBits,
      config.arenaBytes,
    );
    if (rc !== 0) throw new CoreError("init", rc);
    this.bytes = new Uint8Array(exports.memory.buffer);
    this.view = new DataView(exports.memory.buffer);
    this.counters64 = new BigUint64Array(exports.memory.buffer);
    this.rxPtr = exports.rxDescriptors();
    this.txPtr = exports.txList();
    this.slotBase = exports.slotBase();
    this.slotSize = exports.slotBytes();
    this.headroom = exports.headroom();
    this.argsPtr = exports.args();
    this.vniBlockLen = exports.counterBlockLength();
  }

  /** Instantiates the module (bytes or compiled) with the given limits. */
  static async create(wasm: BufferSource | WebAssembly.Module, config: Partial<CoreConfig> = {}) {
    const module = wasm instanceof WebAssembly.Module ? wasm : await WebAssembly.compile(wasm);
    const instance = await WebAssembly.instantiate(module, {});
    return new WeftCore(instance.exports as unknown as Exports, { ...DEFAULT_CONFIG, ...config });
  }

  static createSync(wasm: BufferSource | WebAssembly.Module, config: Partial<CoreConfig> = {}) {
    const module = wasm instanceof WebAssembly.Module ? wasm : new WebAssembly.Module(wasm);
    const instance = new WebAssembly.Instance(module, {});
    return new WeftCore(instance.exports as unknown as Exports, { ...DEFAULT_CONFIG, ...config });
  }

  private check(op: string, rc: number): number {
    if (rc < 0) throw new CoreError(op, rc);
    return rc;
  }

  // ── frames ─────────────────────────────────────────────────────────────────────────────────

  /** Address where slot `i`'s frame starts (after the headroom). */
  slotData(i: number): number {
    return this.slotBase + i * this.slotSize + this.headroom;
  }

  /** Largest frame a slot holds. */
  get slotCapacity(): number {
    return this.slotSize - this.headroom - this.exports.tailroom();
  }

  /** Copies a frame into slot `i` and describes it as RX entry `i` (tests and captures). */
  load(i: number, frame: Uint8Array, port: number, peer?: Uint8Array, peerPort = 0): void {
    if (frame.length > this.slotCapacity) {
      throw new RangeError(`frame of ${frame.length} bytes exceeds a slot`);
    }
    const ptr = this.slotData(i);
    this.bytes.set(frame, ptr);
    this.describe(i, ptr, frame.length, port, peer, peerPort);
  }

  describe(
    i: number,
    ptr: number,
    len: number,
    port: number,
    peer?: Uint8Array,
    peerPort = 0,
    opts: { vnet?: boolean; groStride?: number } = {},
  ): void {
    const d = this.rxPtr + i * RX_DESC_LEN;
    this.view.setUint32(d + RX.PTR, ptr, true);
    this.view.setUint32(d + RX.LEN, len, true);
    this.view.setUint16(d + RX.PORT, port, true);
    this.view.setUint16(d + RX.PEER_PORT, peerPort, true);
    this.view.setUint16(d + RX.VERDICT, 0, true);
    this.view.setUint16(d + RX.FLAGS, opts.vnet ? RX_VNET_HDR : 0, true);
    if (peer) this.bytes.set(peer, d + RX.PEER);
    this.view.setUint16(d + RX.GSO_SIZE, opts.groStride ?? 0, true);
  }

  /** Merge decapsulated TCP segments into super-frames (all TAPs must have IFF_VNET_HDR). */
  setCoalescing(on: boolean): void {
    this.exports.setCoalescing(on ? 1 : 0);
  }

  /** Switches RX entries 0..count-1; returns the number of TX entries. */
  process(count: number, now: number): number {
    return this.exports.process(count, now);
  }

  /** The 16-byte sender address of RX entry i (filled by the core for PORT_UNDERLAY_ETH). */
  rxPeer(i: number): Uint8Array {
    const p = this.rxPtr + i * RX_DESC_LEN + RX.PEER;
    return this.bytes.slice(p, p + 16);
  }

  /** 0 forwarded, else the drop reason's index + 1 (see DROP_REASONS). */
  verdict(i: number): number {
    return this.view.getUint16(this.rxPtr + i * RX_DESC_LEN + RX.VERDICT, true);
  }

  tx(i: number): TxEntry {
    const t = this.txPtr + i * TX_ENTRY_LEN;
    return {
      ptr: this.view.getUint32(t + TX.PTR, true),
      len: this.view.getUint32(t + TX.LEN, true),
      target: this.view.getUint32(t + TX.TARGET, true),
      srcPort: this.view.getUint16(t + TX.SRC_PORT, true),
      rxIndex: this.view.getUint16(t + TX.RX_INDEX, true),
      gsoSize: this.view.getUint16(t + TX.GSO_SIZE, true),
      vnet: this.view.getUint16(t + TX.FLAGS, true) & TX_HAS_VNET ? t + TX.VNET : 0,
    };
  }

  /** A copy of TX entry i's bytes. */
  txBytes(i: number): Uint8Array {
    const t = this.tx(i);
    return this.bytes.slice(t.ptr, t.ptr + t.len);
  }

  // ── configuration ──────────────────────────────────────────────────────────────────────────

  addVni(vni: number, o: VniOptions = {}): number {
    const flags = (o.learning ?? true ? VNI_FLAG_LEARN : 0) | (o.suppress ?? true ? VNI_FLAG_SUPPRESS : 0);
    return this.check(
      `add VNI ${vni}`,
      this.exports.vniAdd(vni >>> 0, o.mtu ?? 1450, o.learnMax ?? 0xffffffff, o.ageing ?? 300, flags),
    );
  }

  removeVni(vni: number): void {
    this.check(`remove VNI ${vni}`, this.exports.vniRemove(vni));
  }

  hasVni(vni: number): boolean {
    return this.exports.vniSlot(vni) >= 0;
  }

  attachPort(port: number, vni: number): void {
    this.check(`attach port ${port} to VNI ${vni}`, this.exports.portAttach(port, vni));
  }

  detachPort(port: number): void {
    this.check(`detach port ${port}`, this.exports.portDetach(port));
  }

  /** Adds (or finds) a remote VTEP; returns its id. */
  addVtep(address: string | Uint8Array, port = 4789): number {
    this.bytes.set(typeof address === "string" ? parseIp(address) : address, this.argsPtr + ARGS.ADDRESS);
    return this.check(`add VTEP ${address}`, this.exports.vtepAdd(port));
  }

  findVtep(address: string | Uint8Array): number {
    this.bytes.set(typeof address === "string" ? parseIp(address) : address, this.argsPtr + ARGS.ADDRESS);
    return this.exports.vtepFind();
  }

  vtep(id: number): { address: string; raw: Uint8Array; port: number } {
    const r = this.exports.vtepRecord(id);
    if (r === 0) throw new CoreError(`VTEP ${id}`, E_NOT_FOUND);
    const raw = this.bytes.slice(r + VTEP_RECORD.ADDRESS, r + VTEP_RECORD.ADDRESS + 16);
    return { address: formatIp(raw), raw, port: this.view.getUint16(r + VTEP_RECORD.PORT, true) };
  }

  get vtepCount(): number {
    return this.exports.vtepCount();
  }

  addFlood(vni: number, vtep: number): void {
    this.check(`add VTEP ${vtep} to the flood list of VNI ${vni}`, this.exports.floodAdd(vni, vtep));
  }

  removeFlood(vni: number, vtep: number): void {
    this.check(`remove VTEP ${vtep} from VNI ${vni}`, this.exports.floodRemove(vni, vtep));
  }

  /** Removes a VTEP from a VNI's flood list and forgets the MACs behind it; returns how many. */
  forgetVtep(vni: number, vtep: number): number {
    return this.check(`forget VTEP ${vtep} in VNI ${vni}`, this.exports.vtepForget(vni, vtep));
  }

  /** A static FDB entry: `{ port }` for a local port, `{ vtep }` for a remote VTEP id. */
  addStatic(vni: number, mac: string | Uint8Array, to: { port: number } | { vtep: number }): void {
    this.bytes.set(typeof mac === "string" ? parseMac(mac) : mac, this.argsPtr + ARGS.ADDRESS);
    const target = "port" in to ? to.port : (TARGET_REMOTE | to.vtep) >>> 0;
    this.check(`add static FDB entry ${mac}`, this.exports.fdbAdd(vni, target));
  }

  removeFdb(vni: number, mac: string | Uint8Array): boolean {
    this.bytes.set(typeof mac === "string" ? parseMac(mac) : mac, this.argsPtr + ARGS.ADDRESS);
    return this.exports.fdbRemove(vni) === 0;
  }

  flushFdb(vni: number, learnedOnly = true): number {
    return this.check(`flush FDB of VNI ${vni}`, this.exports.fdbFlush(vni, learnedOnly ? 1 : 0));
  }

  /** Ages learned entries, scanning at most `budget` buckets; returns how many were removed. */
  age(now: number, budget = 1 << 30): number {
    return this.exports.fdbAge(now, budget);
  }

  fdb(now: number): FdbEntry[] {
    const out: FdbEntry[] = [];
    const region = this.exports.fdbDumpRegion();
    let cursor = 0;
    do {
      const n = this.exports.fdbDump(cursor, now);
      for (let i = 0; i < n; i++) {
        const r = region + i * DUMP.RECORD_LEN;
        const target = this.view.getUint32(r + DUMP.TARGET, true);
        const remote = (target & TARGET_REMOTE) !== 0;
        out.push({
          vni: this.view.getUint32(r + DUMP.VNI, true),
          mac: formatMac(this.bytes.subarray(r + DUMP.MAC, r + DUMP.MAC + 6)),
          static: (this.view.getUint16(r + DUMP.FLAGS, true) & DUMP_STATIC) !== 0,
          port: remote ? undefined : target,
          vtep: remote ? (target & ~TARGET_REMOTE) >>> 0 : undefined,
          age: this.view.getUint32(r + DUMP.AGE, true),
        });
      }
      cursor = this.exports.fdbDumpNext();
    } while (cursor !== 0);
    return out;
  }

  get fdbSize(): number {
    return this.exports.fdbUsed();
  }

  get fdbCapacity(): number {
    return this.exports.fdbCapacity();
  }

  addNeighbour(vni: number, ip: string, mac: string): void {
    this.bytes.set(parseIp(ip), this.argsPtr + ARGS.ADDRESS);
    this.bytes.set(parseMac(mac), this.argsPtr + ARGS.MAC);
    this.check(`add neighbour ${ip} in VNI ${vni}`, this.exports.neighAdd(vni));
  }

  removeNeighbour(vni: number, ip: string): boolean {
    this.bytes.set(parseIp(ip), this.argsPtr + ARGS.ADDRESS);
    return this.exports.neighRemove(vni) === 0;
  }

  setVxlanPort(port: number): void {
    this.exports.setVxlanPort(port);
  }

  setSourcePortRange(min: number, max: number): void {
    this.check("set source port range", this.exports.setSourcePortRange(min, max));
  }

  // ── counters ───────────────────────────────────────────────────────────────────────────────

  /** Counters of a VNI, or the global block (frames with no VNI known) when vni is omitted. */
  counters(vni?: number): VniCounters {
    let slot = -1;
    if (vni !== undefined) {
      slot = this.exports.vniSlot(vni);
      if (slot < 0) throw new CoreError(`counters of VNI ${vni}`, E_NOT_FOUND);
    }
    return readVniBlock(this.counters64, (this.exports.counters() >> 3) + (slot + 1) * this.vniBlockLen);
  }

  portCounters(port: number): LinkCounters {
    return readLinkBlock(this.counters64, (this.exports.portCounters() >> 3) + port * LINK_COUNTERS.length);
  }

  vtepCounters(id: number): LinkCounters {
    return readLinkBlock(this.counters64, (this.exports.vtepCounters() >> 3) + id * LINK_COUNTERS.length);
  }

  /** [start, end) of the segmentation arena; TX entries of cut super-frames point there. */
  get arenaRange(): [number, number] {
    const base = this.exports.arena();
    return [base, base + this.exports.arenaBytes()];
  }

  get memoryUsed(): number {
    return this.exports.memoryUsed();
  }
}

export { DROP_REASONS, VNI_COUNTERS };
