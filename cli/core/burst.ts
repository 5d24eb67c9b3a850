// The frame path of the binding: frame slots, RX descriptors in, verdicts and TX entries out,
// one Wasm call per burst (process). Nothing here throws on a bad frame: the core turns it into
// a drop verdict and a named counter (DROP_REASONS). Layouts: RX and TX in cli/core/abi.ts,
// drawn in assembly/pipeline/burst.ts (RX) and assembly/pipeline/tx.ts (TX).

import { RX, RX_DESC_LEN, RX_VNET_HDR, TX, TX_ENTRY_LEN, TX_HAS_VNET, TX_INNER_DF } from "./abi.ts";
import { CoreInstance } from "./instance.ts";

/** One TX entry (cli/core/abi.ts TX; assembly/pipeline/tx.ts draws it). */
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

/** The second layer of WeftCore: the frame path over CoreInstance's views. Not used on its own. */
export class CoreFrames extends CoreInstance {
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
}
