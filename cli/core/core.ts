// The typed binding over the Wasm core. No runtime APIs (no Deno.*, no node:*): esbuild bundles
// this for Node and browsers unchanged. Views over linear memory are made once: the core lays
// out all its memory in init() and never grows it afterwards.

import {
  DROP_REASONS,
  LATE_COUNTERS,
  LINK_COUNTERS,
  readLinkBlock,
  readVniBlock,
  VNI_COUNTERS,
} from "./counters.ts";
import type { LinkCounters, VniCounters } from "./counters.ts";
import { formatIp, formatMac, parseIp, parseMac } from "./addr.ts";
import { DEFAULT_AGEING, DEFAULT_LEARN_MAX, DEFAULT_MTU, VXLAN_PORT } from "../defaults.ts";
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
  EMIT_DF,
  EMIT_UDP_CSUM,
  ERROR_MESSAGES,
  LOCAL_MAX,
  PORT_UNDERLAY,
  PORT_UNDERLAY_ETH,
  REGION,
  RX,
  RX_DESC_LEN,
  RX_VNET_HDR,
  TARGET_REMOTE,
  TX,
  TX_ENTRY_LEN,
  TX_HAS_VNET,
  TX_INNER_DF,
  VNET_HDR_LEN,
  VNI_FLAG_LEARN,
  VNI_FLAG_PMTU,
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
  layoutRegions(): number;
  layoutRegionCount(): number;
  arena(): number;
  arenaBytes(): number;
  pmtuRegion(): number;
  pmtuRegionBytes(): number;
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
  underlayEmit(ptr: number, len: number, vtep: number, sport: number, tos: number, flags: number): number;
  localAdd(): number;
}

/**
 * Limits of one core instance, fixed at creation: init() lays out all linear memory from them
 * and never grows it afterwards. Ranges are the core's (assembly/index.ts init); a value
 * outside them fails creation with CoreError E_RANGE (-2).
 */
export interface CoreConfig {
  /** Frames per burst (RX descriptors), 1..65535. DPDK/OVS bursts are 32; weft uses 64. */
  burst: number;
  /** TX entries per burst, ≥ 1; a flood takes one per recipient. */
  txEntries: number;
  /** Frame slots; at least `burst`. */
  slots: number;
  /** log2 of the slot size in bytes, 9..17: 11 = 2 KiB, room for MTU-sized frames; 17 = 128 KiB
   *  for 64 KiB super-frames (OFFLOAD_CONFIG). */
  slotSizeLog2: number;
  /** VNIs (switch instances) at once, ≥ 1. */
  maxVnis: number;
  /** Local port ids 0..maxPorts-1, 1..65533 (0xfffe and up are PORT_UNDERLAY_ETH/PORT_UNDERLAY). */
  maxPorts: number;
  /** Remote VTEPs (configured and learned), 1..2^31-1. */
  maxVteps: number;
  /** The FDB has 2^fdbBits buckets (4..26) of 16 bytes and holds 7/8 of them. */
  fdbBits: number;
  /** The ARP/ND neighbour table has 2^neighBits buckets (4..24). */
  neighBits: number;
  /** Bytes per burst for segmenting super-frames (TAP offloads); 0 disables them. */
  arenaBytes: number;
}

/** Limits of createCore/loadCore when none are given: 64-frame bursts, 2 KiB slots, a 2^16-bucket
 *  FDB (57,344 MACs), no offload arena. The daemon and `weft vtep` use these or OFFLOAD_CONFIG. */
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

/** Options of one VNI's switch (WeftCore.addVni); every field is optional. */
export interface VniOptions {
  /** Largest L3 payload of an inner frame, bytes, ≥ 68 (default DEFAULT_MTU, Docker's overlay
   *  1450); larger frames are dropped as over_mtu. Must fit a slot with the VXLAN overhead. */
  mtu?: number;
  /** Most learned MACs in this VNI (default DEFAULT_LEARN_MAX: no limit); learning stops there,
   *  forwarding does not (VPP's learn limit), counted as fdb_learn_limit. */
  learnMax?: number;
  /** Seconds a learned entry lives without traffic (default DEFAULT_AGEING, Linux vxlan's 300). */
  ageing?: number;
  /** Learn source MACs, as the kernel's vxlan_snoop (default true). */
  learning?: boolean;
  /** Answer ARP/ND for addresses in the neighbour table instead of flooding (default true). */
  suppress?: boolean;
  /** Answer an over-MTU packet from a local port with ICMP frag-needed / packet-too-big
   *  (default true, as the kernel's VXLAN on a bridge: skb_tunnel_check_pmtu). */
  pmtu?: boolean;
}

/**
 * The kernel's VXLAN `df` choices (IFLA_VXLAN_DF): unset (outer DF 0, its default), set (DF 1),
 * inherit (DF when the inner packet is IPv4 with DF, or IPv6: vxlan_xmit_one()).
 */
export type DfMode = "unset" | "set" | "inherit";
export const DF_MODES: readonly DfMode[] = ["unset", "set", "inherit"];
/** The kernel's default: outer DF = 0, as every packet of fixture kernel-vxlan-vni42 shows. */
export const DF_DEFAULT: DfMode = "unset";

export {
  ARGS,
  DUMP,
  E_BUSY,
  E_FULL,
  E_NO_MEMORY,
  E_NOT_FOUND,
  E_RANGE,
  E_STATE,
  EMIT_DF,
  EMIT_UDP_CSUM,
  LOCAL_MAX,
  PORT_UNDERLAY,
  PORT_UNDERLAY_ETH,
  REGION,
  RX,
  RX_DESC_LEN,
  RX_VNET_HDR,
  TARGET_REMOTE,
  TX,
  TX_ENTRY_LEN,
  TX_HAS_VNET,
  TX_INNER_DF,
  VNET_HDR_LEN,
};

/** A control call of the core returned a negative code: `code` is one of E_STATE, E_RANGE,
 *  E_NO_MEMORY, E_FULL, E_NOT_FOUND, E_BUSY (cli/core/abi.ts); `op` says what was tried. */
export class CoreError extends Error {
  override name = "CoreError";
  constructor(readonly op: string, readonly code: number) {
    super(`${op}: ${ERROR_MESSAGES[code] ?? `error ${code}`}`);
  }
}

/** One forwarding entry as WeftCore.fdb() reports it (from the core's 24-byte dump record). */
export interface FdbEntry {
  vni: number;
  /** "02:42:0a:00:00:01" */
  mac: string;
  /** Configured (never learned over, never aged), as the kernel's NUD_PERMANENT entries. */
  static: boolean;
  /** Local port id, or undefined for a remote entry. */
  port?: number;
  /** Remote VTEP id, or undefined for a local entry. */
  vtep?: number;
  /** Seconds since last seen (0 for static entries). */
  age: number;
}

/** One TX entry (cli/core/abi.ts TX; assembly/pipeline/burst.ts draws it). */
export interface TxEntry {
  /** Address in linear memory (core.bytes) of the bytes to send. */
  ptr: number;
  /** Length in bytes: an Ethernet frame (local) or a VXLAN datagram, header included (remote). */
  len: number;
  /** A local port id, or TARGET_REMOTE | VTEP id. */
  target: number;
  /** UDP source port for a remote target: a hash of the inner flow (RFC 7348 §5). */
  srcPort: number;
  /** Index of the RX descriptor the entry came from. */
  rxIndex: number;
  /** Remote: stride of back-to-back datagrams (UDP_SEGMENT size); 0 for one datagram. */
  gsoSize: number;
  /** Address of the 10-byte virtio_net_hdr to write before a local frame on an IFF_VNET_HDR
   *  TAP, or 0: then the frame is plain (checksum complete) and a zero header goes before it. */
  vnet: number;
  /** Remote: the outer TOS / traffic class byte (ECN per RFC 6040: the inner ECN, CE as ECT(0)). */
  tos: number;
  /** Remote: the inner packet asks for DF (IPv4 with DF, or IPv6): `df inherit` sets the outer DF. */
  innerDf: boolean;
}

/**
 * One instance of the core: a set of learning switches (one per VNI, the seed's br0 per
 * overlay network) and the linear memory they work in. Control methods throw CoreError with
 * the core's code; the frame path (load/describe, process, verdict, tx) never throws on bad
 * frames: they become drop verdicts and named counters (DROP_REASONS).
 * Create it with WeftCore.create (or createCore from the bundle, loadCore in Deno).
 */
export class WeftCore {
  /** The module's raw exports (assembly/index.ts), for callers that need a call not wrapped here. */
  readonly exports: Exports;
  /** The limits it was created with (DEFAULT_CONFIG overridden by the caller's fields). */
  readonly config: CoreConfig;
  /** Whole linear memory. Valid for the core's life (memory never grows after init). */
  readonly bytes: Uint8Array;
  /** The same memory for little-endian field access. */
  readonly view: DataView;
  /** Address of RX descriptor 0 (RX_DESC_LEN bytes each, config.burst of them). */
  readonly rxPtr: number;
  /** Address of TX entry 0 (TX_ENTRY_LEN bytes each, config.txEntries of them). */
  readonly txPtr: number;
  /** Address of slot 0; slot i starts at slotBase + i * slotSize. */
  readonly slotBase: number;
  /** Bytes per slot: 2^config.slotSizeLog2. */
  readonly slotSize: number;
  /** Bytes before each frame in its slot (HEADROOM), where encapsulation prepends headers. */
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

  /**
   * Instantiates the module (bytes or compiled) with DEFAULT_CONFIG overridden by `config`.
   * @throws {AbiMismatchError} when the module's layouts, flags or error codes differ from this
   *   binding's (a stale build): nothing is initialised.
   * @throws {CoreError} E_RANGE (-2) for limits outside CoreConfig's ranges, E_NO_MEMORY (-3)
   *   when linear memory cannot grow to hold them.
   */
  static async create(wasm: BufferSource | WebAssembly.Module, config: Partial<CoreConfig> = {}) {
    const module = wasm instanceof WebAssembly.Module ? wasm : await WebAssembly.compile(wasm);
    const instance = await WebAssembly.instantiate(module, {});
    return new WeftCore(instance.exports as unknown as Exports, { ...DEFAULT_CONFIG, ...config });
  }

  /** create(), synchronously (a module this small compiles fast enough on any thread).
   *  @throws as create(). */
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

  /** Address where slot `i`'s frame starts (after the headroom); i in 0..config.slots-1. */
  slotData(i: number): number {
    return this.slotBase + i * this.slotSize + this.headroom;
  }

  /** Largest frame a slot holds, bytes: slotSize − HEADROOM − TAILROOM. */
  get slotCapacity(): number {
    return this.slotSize - this.headroom - this.exports.tailroom();
  }

  /**
   * Copies a frame into slot `i` and describes it as RX descriptor `i` (tests and captures).
   * `port`: a local port id, PORT_UNDERLAY (frame = VXLAN datagram from `peer`, a 16-byte
   * address, and `peerPort`) or PORT_UNDERLAY_ETH (a whole outer packet).
   * @throws {RangeError} when the frame is longer than slotCapacity.
   */
  load(i: number, frame: Uint8Array, port: number, peer?: Uint8Array, peerPort = 0): void {
    if (frame.length > this.slotCapacity) {
      throw new RangeError(`frame of ${frame.length} bytes exceeds a slot`);
    }
    const ptr = this.slotData(i);
    this.bytes.set(frame, ptr);
    this.describe(i, ptr, frame.length, port, peer, peerPort);
  }

  /**
   * Writes RX descriptor `i` for a frame already at `ptr` (a receive loop that read into the
   * slot): fields as load(); `opts.vnet`: a 10-byte virtio_net_hdr precedes the frame
   * (RX_VNET_HDR); `opts.groStride`: PORT_UNDERLAY only, the datagram stride of a UDP GRO
   * buffer. A descriptor pointing outside the slots is not an error here: process() drops it
   * as bad_descriptor.
   */
  describe(
    i: number,
    ptr: number,
    len: number,
    port: number,
    peer?: Uint8Array,
    peerPort = 0,
    opts: { vnet?: boolean; groStride?: number; tos?: number } = {},
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
    this.bytes[d + RX.TOS] = opts.tos ?? 0;
  }

  /** Merge decapsulated TCP segments into super-frames (all TAPs must have IFF_VNET_HDR). */
  setCoalescing(on: boolean): void {
    this.exports.setCoalescing(on ? 1 : 0);
  }

  /**
   * Switches RX descriptors 0..count-1 (count ≤ config.burst; more are ignored) in one Wasm
   * call; `now` in seconds (any epoch, for ageing; 31 bits used). Returns the number of TX
   * entries written (≤ config.txEntries; a frame that finds no room is dropped as tx_full).
   * Each descriptor's verdict is set (see verdict()).
   */
  process(count: number, now: number): number {
    return this.exports.process(count, now);
  }

  /** The 16-byte sender address of RX entry i (filled by the core for PORT_UNDERLAY_ETH). */
  rxPeer(i: number): Uint8Array {
    const p = this.rxPtr + i * RX_DESC_LEN + RX.PEER;
    return this.bytes.slice(p, p + 16);
  }

  /** The sender's UDP port of RX entry i (filled by the core for PORT_UNDERLAY_ETH). */
  rxPeerPort(i: number): number {
    return this.view.getUint16(this.rxPtr + i * RX_DESC_LEN + RX.PEER_PORT, true);
  }

  /** Verdict of RX descriptor i after process(): 0 forwarded, else the drop reason's index + 1
   *  (DROP_REASONS; verdictOf() maps a name to it). */
  verdict(i: number): number {
    return this.view.getUint16(this.rxPtr + i * RX_DESC_LEN + RX.VERDICT, true);
  }

  /** TX entry i (0..process()'s result − 1), decoded. */
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
      tos: this.bytes[t + TX.TOS],
      innerDf: (this.view.getUint16(t + TX.FLAGS, true) & TX_INNER_DF) !== 0,
    };
  }

  /** A copy of TX entry i's bytes. */
  txBytes(i: number): Uint8Array {
    const t = this.tx(i);
    return this.bytes.slice(t.ptr, t.ptr + t.len);
  }

  // ── configuration ──────────────────────────────────────────────────────────────────────────

  /**
   * Adds a VNI's switch (an overlay network), or sets the options of one that exists. Returns
   * its slot, the index of its counter block.
   * @throws {CoreError} E_RANGE (-2): vni outside VNI_MIN..VNI_MAX or mtu < 68 or too large for a
   *   slot; E_FULL (-4): config.maxVnis reached; E_STATE (-1): not initialised.
   */
  addVni(vni: number, o: VniOptions = {}): number {
    const flags = (o.learning ?? true ? VNI_FLAG_LEARN : 0) | (o.suppress ?? true ? VNI_FLAG_SUPPRESS : 0) |
      (o.pmtu ?? true ? VNI_FLAG_PMTU : 0);
    return this.check(
      `add VNI ${vni}`,
      this.exports.vniAdd(
        vni >>> 0,
        o.mtu ?? DEFAULT_MTU,
        o.learnMax ?? DEFAULT_LEARN_MAX,
        o.ageing ?? DEFAULT_AGEING,
        flags,
      ),
    );
  }

  /** Removes a VNI with no ports left, with its FDB, neighbour entries and counters.
   *  @throws {CoreError} E_NOT_FOUND (-5): no such VNI; E_BUSY (-6): ports still attached. */
  removeVni(vni: number): void {
    this.check(`remove VNI ${vni}`, this.exports.vniRemove(vni));
  }

  /** Whether the VNI is configured. */
  hasVni(vni: number): boolean {
    return this.exports.vniSlot(vni) >= 0;
  }

  /** Attaches local port `port` (0..config.maxPorts-1; a TAP, the seed's veth into br0) to a VNI.
   *  @throws {CoreError} E_NOT_FOUND (-5): no such VNI; E_RANGE (-2): port out of range;
   *  E_BUSY (-6): the port is attached already; E_FULL (-4): the VNI's port list is full. */
  attachPort(port: number, vni: number): void {
    this.check(`attach port ${port} to VNI ${vni}`, this.exports.portAttach(port, vni));
  }

  /** Detaches a port and forgets every MAC behind it (learned or static).
   *  @throws {CoreError} E_RANGE (-2): port out of range; E_NOT_FOUND (-5): not attached. */
  detachPort(port: number): void {
    this.check(`detach port ${port}`, this.exports.portDetach(port));
  }

  /**
   * Adds (or finds) a remote VTEP: an IPv4/IPv6 address (text or the 16-byte form) and UDP port
   * (default VXLAN_PORT). Returns its id, for addFlood/addStatic and TX targets.
   * @throws {AddressError} for an unparsable address. {CoreError} E_FULL (-4): config.maxVteps
   *   reached; E_STATE (-1): not initialised.
   */
  addVtep(address: string | Uint8Array, port = VXLAN_PORT): number {
    this.bytes.set(typeof address === "string" ? parseIp(address) : address, this.argsPtr + ARGS.ADDRESS);
    return this.check(`add VTEP ${address}`, this.exports.vtepAdd(port));
  }

  /** The id of a known VTEP, or -1 when there is none. */
  findVtep(address: string | Uint8Array): number {
    this.bytes.set(typeof address === "string" ? parseIp(address) : address, this.argsPtr + ARGS.ADDRESS);
    return this.exports.vtepFind();
  }

  /** A VTEP's address (text and 16-byte form) and UDP port.
   *  @throws {CoreError} E_NOT_FOUND (-5): no VTEP with that id. */
  vtep(id: number): { address: string; raw: Uint8Array; port: number } {
    const r = this.exports.vtepRecord(id);
    if (r === 0) throw new CoreError(`VTEP ${id}`, E_NOT_FOUND);
    const raw = this.bytes.slice(r + VTEP_RECORD.ADDRESS, r + VTEP_RECORD.ADDRESS + 16);
    return { address: formatIp(raw), raw, port: this.view.getUint16(r + VTEP_RECORD.PORT, true) };
  }

  /** VTEPs known (configured and learned); ids are 0..vtepCount-1. */
  get vtepCount(): number {
    return this.exports.vtepCount();
  }

  /**
   * One of this host's own VTEP addresses: datagrams from it are dropped (`self_vtep`) instead of
   * being learned from — a flood list that names this host would otherwise move local MACs to
   * "remote self". At most LOCAL_MAX (8).
   * @throws {AddressError} for an unparsable address. {CoreError} E_FULL (-4): LOCAL_MAX
   *   addresses already; E_STATE (-1): not initialised.
   */
  addLocalAddress(address: string | Uint8Array): void {
    this.bytes.set(typeof address === "string" ? parseIp(address) : address, this.argsPtr + ARGS.ADDRESS);
    this.check(`add local address ${address}`, this.exports.localAdd());
  }

  /** Adds a VTEP to a VNI's flood list (head-end replication of BUM traffic, RFC 7348 §4.2
   *  without multicast). @throws {CoreError} E_NOT_FOUND (-5): no such VNI; E_RANGE (-2): no
   *  such VTEP; E_FULL (-4): the flood list is full. */
  addFlood(vni: number, vtep: number): void {
    this.check(`add VTEP ${vtep} to the flood list of VNI ${vni}`, this.exports.floodAdd(vni, vtep));
  }

  /** Removes a VTEP from a VNI's flood list.
   *  @throws {CoreError} E_NOT_FOUND (-5): no such VNI, or the VTEP is not on its list. */
  removeFlood(vni: number, vtep: number): void {
    this.check(`remove VTEP ${vtep} from VNI ${vni}`, this.exports.floodRemove(vni, vtep));
  }

  /** Removes a VTEP from a VNI's flood list and forgets the MACs behind it; returns how many.
   *  @throws {CoreError} E_NOT_FOUND (-5): no such VNI. */
  forgetVtep(vni: number, vtep: number): number {
    return this.check(`forget VTEP ${vtep} in VNI ${vni}`, this.exports.vtepForget(vni, vtep));
  }

  /**
   * A static FDB entry (`bridge fdb add … permanent`): `{ port }` for a local port, `{ vtep }`
   * for a remote VTEP id. Learning never moves it; it replaces a learned entry for the MAC.
   * @throws {AddressError} for an unparsable MAC. {CoreError} E_NOT_FOUND (-5): no such VNI;
   *   E_RANGE (-2): group or all-zero MAC, or no such port/VTEP; E_FULL (-4): FDB full.
   */
  addStatic(vni: number, mac: string | Uint8Array, to: { port: number } | { vtep: number }): void {
    this.bytes.set(typeof mac === "string" ? parseMac(mac) : mac, this.argsPtr + ARGS.ADDRESS);
    const target = "port" in to ? to.port : (TARGET_REMOTE | to.vtep) >>> 0;
    this.check(`add static FDB entry ${mac}`, this.exports.fdbAdd(vni, target));
  }

  /** Removes one FDB entry (static or learned); false when the VNI or entry does not exist. */
  removeFdb(vni: number, mac: string | Uint8Array): boolean {
    this.bytes.set(typeof mac === "string" ? parseMac(mac) : mac, this.argsPtr + ARGS.ADDRESS);
    return this.exports.fdbRemove(vni) === 0;
  }

  /** Removes a VNI's learned entries (all entries with learnedOnly false); returns how many.
   *  @throws {CoreError} E_NOT_FOUND (-5): no such VNI. */
  flushFdb(vni: number, learnedOnly = true): number {
    return this.check(`flush FDB of VNI ${vni}`, this.exports.fdbFlush(vni, learnedOnly ? 1 : 0));
  }

  /** Ages learned entries older than their VNI's ageing (seconds, `now` as for process()),
   *  scanning at most `budget` buckets from where the last call stopped; returns how many were
   *  removed (counted as fdb_aged). Never throws. */
  age(now: number, budget = 1 << 30): number {
    return this.exports.fdbAge(now, budget);
  }

  /** Every live FDB entry of every VNI (expired learned entries are not shown), `now` in seconds. */
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

  /** FDB entries in use, all VNIs. */
  get fdbSize(): number {
    return this.exports.fdbUsed();
  }

  /** Entries the FDB holds: 7/8 of 2^config.fdbBits. */
  get fdbCapacity(): number {
    return this.exports.fdbCapacity();
  }

  /** An IP → MAC entry that ARP/ND suppression answers from (the kernel's neigh proxy on a
   *  vxlan device with `proxy`). @throws {AddressError} for a bad address or MAC;
   *  {CoreError} E_NOT_FOUND (-5): no such VNI; E_FULL (-4): the neighbour table is full. */
  addNeighbour(vni: number, ip: string, mac: string): void {
    this.bytes.set(parseIp(ip), this.argsPtr + ARGS.ADDRESS);
    this.bytes.set(parseMac(mac), this.argsPtr + ARGS.MAC);
    this.check(`add neighbour ${ip} in VNI ${vni}`, this.exports.neighAdd(vni));
  }

  /** Removes a neighbour entry; false when the VNI or entry does not exist. */
  removeNeighbour(vni: number, ip: string): boolean {
    this.bytes.set(parseIp(ip), this.argsPtr + ARGS.ADDRESS);
    return this.exports.neighRemove(vni) === 0;
  }

  /** The UDP destination port that means VXLAN in PORT_UNDERLAY_ETH packets (default
   *  VXLAN_PORT, 4789; Linux's old default was 8472). */
  setVxlanPort(port: number): void {
    this.exports.setVxlanPort(port);
  }

  /** The UDP source port range [min, max) the flow hash maps into (default 32768..61000, Linux's
   *  ip_local_port_range; RFC 7348 §5 recommends 49152..65535).
   *  @throws {CoreError} E_RANGE (-2): min 0, min ≥ max or max > 65536. */
  setSourcePortRange(min: number, max: number): void {
    this.check("set source port range", this.exports.setSourcePortRange(min, max));
  }

  // ── counters ───────────────────────────────────────────────────────────────────────────────

  /** Counters of a VNI, or the global block (frames with no VNI known) when vni is omitted;
   *  frames and bytes since the VNI was added (u64 read as number).
   *  @throws {CoreError} E_NOT_FOUND (-5): no such VNI. */
  counters(vni?: number): VniCounters {
    let slot = -1;
    if (vni !== undefined) {
      slot = this.exports.vniSlot(vni);
      if (slot < 0) throw new CoreError(`counters of VNI ${vni}`, E_NOT_FOUND);
    }
    return readVniBlock(this.counters64, (this.exports.counters() >> 3) + (slot + 1) * this.vniBlockLen);
  }

  /** Counters of local port `port` (since it was attached). */
  portCounters(port: number): LinkCounters {
    return readLinkBlock(this.counters64, (this.exports.portCounters() >> 3) + port * LINK_COUNTERS.length);
  }

  /** Counters of VTEP `id`. */
  vtepCounters(id: number): LinkCounters {
    return readLinkBlock(this.counters64, (this.exports.vtepCounters() >> 3) + id * LINK_COUNTERS.length);
  }

  /** [start, end) of the segmentation arena; TX entries of cut super-frames point there. */
  get arenaRange(): [number, number] {
    const base = this.exports.arena();
    return [base, base + this.exports.arenaBytes()];
  }

  /** [start, end) of the region where ICMP replies to over-MTU frames are built; a TX entry
   *  pointing there is such a reply, and its frame's verdict stays over_mtu. */
  get pmtuRange(): [number, number] {
    const base = this.exports.pmtuRegion();
    return [base, base + this.exports.pmtuRegionBytes()];
  }

  /** Bytes of linear memory laid out (all regions and tables). */
  get memoryUsed(): number {
    return this.exports.memoryUsed();
  }

  /** [start, end) of every region init laid out, in order (see assembly/layout.ts; records
   *  as REGION). */
  get layoutRegions(): [number, number][] {
    const t = this.exports.layoutRegions(), out: [number, number][] = [];
    for (let i = 0; i < this.exports.layoutRegionCount(); i++) {
      const r = t + i * REGION.RECORD_LEN;
      const start = this.view.getUint32(r + REGION.START, true);
      out.push([start, start + this.view.getUint32(r + REGION.SIZE, true)]);
    }
    return out;
  }
}

export { DROP_REASONS, LATE_COUNTERS, VNI_COUNTERS };
