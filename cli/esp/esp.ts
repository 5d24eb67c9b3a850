// ESP (RFC 4303) in transport mode over a VXLAN datagram, sent UDP-encapsulated (RFC 3948), with
// AES-GCM (RFC 4106, 16-byte ICV) from GnuTLS, or OpenSSL's libcrypto where GnuTLS is missing
// (cli/sys/libgnutls.ts aesGcm()), and 64-bit extended sequence numbers (RFC 4304).
// The framing works in place on memory the caller owns (the Wasm core's frame slots, which have
// headroom and tailroom): the VXLAN datagram gets its UDP header and the ESP header in front,
// the trailer and ICV behind, and is encrypted where it lies. No allocation per datagram.
//
// What the underlay carries (outer UDP from the socket, destination port the swarm's ESP port,
// ESP_PORT by default; cli/esp/port.ts):
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  ─┐
//   |               Security Parameters Index (SPI)                 |   │ AAD, with the
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   │ implicit high 32
//   |              Sequence Number (low 32 bits, RFC 4304)          |   │ bits between
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  ─┘ (RFC 4106 §5)
//   |          IV: the 64-bit sequence number (RFC 4106 §3.1)       |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  ─┐
//   |   UDP header (source port = flow hash, destination 4789)      |   │
//   |   VXLAN header | inner Ethernet frame …                       |   │ encrypted
//   |               | Padding 0–3 (1, 2, 3) | Pad Length | Next=17  |   │
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  ─┘
//   |                       ICV (16 bytes)                          |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Nonce uniqueness: the GCM nonce is salt ‖ sequence number; a sender's SA numbers its datagrams
// 1, 2, 3 … and never wraps, and every SA has its own key (cli/esp/keys.ts), so no (key, nonce)
// pair repeats. The inner UDP checksum is zero: RFC 3948 §3.1.2 lets a transport-mode receiver
// skip it, and the ICV already covers every byte.

import { type Aead, GCM_TAG_LEN } from "../sys/libcrypto.ts";
import { aesGcm } from "../sys/libgnutls.ts";
import { type Region, region } from "../sys/mem.ts";
import { ReplayWindow } from "./replay.ts";

export { ESP_PORT } from "./port.ts";
/** SPI and sequence number. */
export const ESP_HEADER_LEN = 8;
/** The explicit IV of AES-GCM in ESP (RFC 4106 §3.1). */
export const ESP_IV_LEN = 8;
/** The ICV weft sends and requires (RFC 4106 §6: 16 is the one implementations MUST support). */
export const ESP_ICV_LEN = GCM_TAG_LEN;
/** Pad Length and Next Header. */
export const ESP_TRAILER_LEN = 2;
/** The transport-mode UDP header in front of the VXLAN header. */
export const INNER_UDP_LEN = 8;
/** Bytes {@link EspOutbound.seal} writes before the VXLAN datagram. */
export const ESP_HEADROOM = ESP_HEADER_LEN + ESP_IV_LEN + INNER_UDP_LEN;
/** Bytes it may write after it: up to 3 of padding (4-byte alignment, RFC 4303 §2.4), trailer, ICV. */
export const ESP_TAILROOM = 3 + ESP_TRAILER_LEN + ESP_ICV_LEN;
/** The largest growth of a VXLAN datagram. */
export const ESP_OVERHEAD = ESP_HEADROOM + ESP_TAILROOM;
/**
 * How much smaller an encrypted network's MTU is than a plain one's (1450 → 1408 on a 1500-byte
 * IPv4 underlay): outer IP 20 + UDP 8 + ESP 8 + IV 8 + UDP 8 + VXLAN 8 + Ethernet 14 + MTU +
 * padding + trailer 2 + ICV 16 ≤ 1500, and at MTU 1408 the padding is 0 (1438 + 2 is a multiple
 * of 4), so 42 bytes less than the 50 of plain VXLAN; shorter frames pad to at most the same end.
 */
export const ESP_MTU_REDUCTION = 42;
/** Key material per SA (RFC 4106 §8.1): a 16-byte AES-128 key then the 4-byte salt. */
export const ESP_KEYMAT_LEN = 20;
/** IANA protocol numbers for Next Header: UDP, and "no next header" (RFC 4303 §2.6 dummy packets). */
export const NEXT_UDP = 17;
export const NEXT_NONE = 59;
/** SPIs 1–255 are reserved by IANA, 0 is never sent (RFC 4303 §2.1); on port 4500 a zero SPI is
 *  the non-ESP marker of IKE (RFC 3948 §2.2), which weft does not speak. */
export const SPI_MIN = 256;
/** A sender stops before its sequence number leaves the exact range of a JS number. */
export const SEQ_LIMIT = Number.MAX_SAFE_INTEGER;
/** The shortest valid ESP datagram: header, IV, an empty payload padded to 4, trailer, ICV. */
const ESP_MIN_LEN = ESP_HEADER_LEN + ESP_IV_LEN + 2 + ESP_TRAILER_LEN + ESP_ICV_LEN;
const TWO32 = 0x1_0000_0000;
// Scratch layout (one region per SA): the nonce (salt ‖ IV) at 0, the AAD at 16.
const NONCE = 0;
const AAD = 16;
/** SPI ‖ sequence high ‖ sequence low (RFC 4106 §5, ESN). */
const AAD_LEN = 12;

/** Why an ESP datagram was dropped, as `weft stats` names it. */
export type EspDrop = "esp_malformed" | "unknown_spi" | "replayed" | "auth_failed" | "esp_dummy";

/**
 * Per-network ESP counters, in the order `weft stats` prints them, with what each counts: one
 * list, as the core's DROP_REASONS (cli/core/counters.ts) and DNS_COUNTERS are; EspCounters and
 * espCounters() follow from it. Host-side only: ESP is sealed and opened in TypeScript
 * (cli/dataplane/esp_path.ts), so these have no block in the core's memory; cleartext datagrams
 * refused for an encrypted VNI are cut out of what the VXLAN port read (dropCleartext), and a read
 * left with none reaches the core empty and is also counted there once (vxlan_runt).
 */
export const ESP_COUNTERS = [
  ["encrypted", "datagrams sealed and handed to the socket"],
  ["decrypted", "datagrams that verified and were handed to the core"],
  ["auth_failed", "ICV did not verify (wrong key, or altered in transit)"],
  ["replayed", "sequence number already seen, or older than the anti-replay window"],
  ["cleartext_dropped", "cleartext VXLAN for this network's VNI, dropped (fail closed)"],
  ["rekeys", "key generations installed after the first"],
  ["esp_malformed", "too short, longer than a frame slot, bad padding or a next header other than UDP"],
] as const;

/** An ESP counter's name: "encrypted", "auth_failed", … */
export type EspCounter = typeof ESP_COUNTERS[number][0];

/** Per-network ESP counters (`weft stats`): one number per ESP_COUNTERS name. */
export type EspCounters = Record<EspCounter, number>;

/** A zeroed set of ESP counters, in ESP_COUNTERS order. */
export function espCounters(): EspCounters {
  return Object.fromEntries(ESP_COUNTERS.map(([name]) => [name, 0])) as EspCounters;
}

/**
 * Node-wide ESP counters (`weft stats`, the "ESP node" block): datagrams on the ESP port that
 * cannot be put down to a network. A datagram's network is its SA's, and the SPI is the only
 * clear field: with no SA for it, no network's counters may move (a stranger could otherwise
 * make any network's counters climb).
 */
export const ESP_NODE_COUNTERS = [
  ["unknown_spi", "no inbound SA with that SPI, or too short to carry one"],
  ["misdirected", "verified under an SA, but the VNI or inner port is not that SA's"],
  ["no_descriptor", "decrypted (and counted so), then dropped: no RX descriptor left in the burst for its run"],
] as const;

/** A node-wide ESP counter's name. */
export type EspNodeCounter = typeof ESP_NODE_COUNTERS[number][0];

/** Node-wide ESP counters: one number per ESP_NODE_COUNTERS name. */
export type EspNodeCounters = Record<EspNodeCounter, number>;

/** Shared by both directions: the AEAD context and a scratch area for nonce and AAD. */
class SaBase {
  protected readonly gcm: Aead;
  protected readonly scratch: Region = region(64);
  protected readonly noncePtr: bigint;
  protected readonly aadPtr: bigint;

  /**
   * @param spi the SA's SPI, SPI_MIN ≤ spi < 2^32.
   * @param keymat ESP_KEYMAT_LEN bytes: key ‖ salt (RFC 4106 §8.1); the caller zeroes its copy.
   * @throws RangeError on a bad SPI or key material length.
   * @throws CryptoUnavailableError when neither GnuTLS nor libcrypto takes the key: the network
   *   must not come up.
   */
  constructor(readonly spi: number, keymat: Uint8Array, readonly counters: EspCounters) {
    if (!Number.isInteger(spi) || spi < SPI_MIN || spi >= TWO32) throw new RangeError(`SPI ${spi}`);
    if (keymat.length !== ESP_KEYMAT_LEN) throw new RangeError(`ESP key material of ${keymat.length} bytes`);
    this.gcm = aesGcm(keymat.subarray(0, 16));
    this.scratch.view.setUint32(NONCE, new DataView(keymat.buffer, keymat.byteOffset + 16).getUint32(0));
    this.scratch.view.setUint32(AAD, spi);
    this.noncePtr = this.scratch.ptr + BigInt(NONCE);
    this.aadPtr = this.scratch.ptr + BigInt(AAD);
  }

  free(): void {
    this.gcm.free();
  }
}

/** The sending side of one SA: numbers and seals datagrams. */
export class EspOutbound extends SaBase {
  /** The sequence number of the next datagram (RFC 4303 §3.3.3: the first is 1). */
  seq = 1;

  /**
   * Wraps the VXLAN datagram at `mem[off, off + len)` in UDP and ESP and encrypts it in place.
   * Needs ESP_HEADROOM bytes before `off` and ESP_TAILROOM after the datagram.
   * @param memPtr the address of `mem`'s first byte (bigint, as the AEAD's parameters).
   * @param srcPort the inner UDP source port (the flow hash, RFC 7348 §5); `dstPort` the VXLAN port.
   * @returns the ESP datagram's length, starting at `off - ESP_HEADROOM`; 0 when nothing may be
   *   sent (the AEAD failed, or the sequence space is used up: the SA must be replaced).
   */
  seal(mem: DataView, memPtr: bigint, off: number, len: number, srcPort: number, dstPort: number): number {
    const seq = this.seq;
    if (seq >= SEQ_LIMIT) return 0;
    const p = off - INNER_UDP_LEN; // the encrypted payload: UDP header, VXLAN datagram
    const plen = len + INNER_UDP_LEN;
    mem.setUint16(p, srcPort);
    mem.setUint16(p + 2, dstPort);
    mem.setUint16(p + 4, plen);
    mem.setUint16(p + 6, 0);
    // RFC 4303 §2.4: padding bytes 1, 2, 3 … so the trailer ends on a 4-byte boundary.
    const pad = (4 - ((plen + ESP_TRAILER_LEN) & 3)) & 3;
    let t = p + plen;
    for (let i = 1; i <= pad; i++) mem.setUint8(t++, i);
    mem.setUint8(t++, pad);
    mem.setUint8(t++, NEXT_UDP);
    const clen = t - p;
    const hi = Math.floor(seq / TWO32), lo = seq >>> 0;
    const h = p - ESP_IV_LEN - ESP_HEADER_LEN;
    mem.setUint32(h, this.spi);
    mem.setUint32(h + 4, lo);
    mem.setUint32(h + 8, hi); // IV = the 64-bit sequence number: unique under this key
    mem.setUint32(h + 12, lo);
    const s = this.scratch.view;
    s.setUint32(NONCE + 4, hi);
    s.setUint32(NONCE + 8, lo);
    s.setUint32(AAD + 4, hi);
    s.setUint32(AAD + 8, lo);
    const data = memPtr + BigInt(p);
    if (!this.gcm.seal(this.noncePtr, this.aadPtr, AAD_LEN, data, clen, data + BigInt(clen))) return 0;
    this.seq = seq + 1;
    this.counters.encrypted++;
    return ESP_HEADER_LEN + ESP_IV_LEN + clen + ESP_ICV_LEN;
  }
}

/** The receiving side of one SA: checks, decrypts, remembers what it accepted. */
export class EspInbound extends SaBase {
  readonly window = new ReplayWindow();
  /** After a successful open(): where the VXLAN datagram lies, and the inner UDP ports. */
  vxlanOff = 0;
  vxlanLen = 0;
  srcPort = 0;
  dstPort = 0;

  /**
   * Verifies and decrypts the ESP datagram at `mem[off, off + len)` in place (its SPI is this SA's).
   * RFC 4303 §3.4: replay check on the inferred 64-bit sequence number, then the ICV, then the
   * window moves; nothing of a datagram that fails is used.
   * @returns null when the VXLAN datagram is at vxlanOff/vxlanLen, else the drop reason (counted).
   */
  open(mem: DataView, memPtr: bigint, off: number, len: number): EspDrop | null {
    const c = this.counters;
    if (len < ESP_MIN_LEN) return drop(c, "esp_malformed");
    const seq = this.window.infer(mem.getUint32(off + 4));
    if (!this.window.fresh(seq)) return drop(c, "replayed");
    const hi = Math.floor(seq / TWO32), lo = seq >>> 0;
    const s = this.scratch.view;
    // The nonce takes the IV as sent; the AAD the sequence number as inferred (RFC 4106 §5).
    s.setUint32(NONCE + 4, mem.getUint32(off + ESP_HEADER_LEN));
    s.setUint32(NONCE + 8, mem.getUint32(off + ESP_HEADER_LEN + 4));
    s.setUint32(AAD + 4, hi);
    s.setUint32(AAD + 8, lo);
    const p = off + ESP_HEADER_LEN + ESP_IV_LEN;
    const clen = len - ESP_HEADER_LEN - ESP_IV_LEN - ESP_ICV_LEN;
    const data = memPtr + BigInt(p);
    if (!this.gcm.open(this.noncePtr, this.aadPtr, AAD_LEN, data, clen, data + BigInt(clen))) {
      return drop(c, "auth_failed");
    }
    // Authentic from here on: the window moves even if the contents are then refused.
    this.window.accept(seq);
    const next = mem.getUint8(p + clen - 1);
    const pad = mem.getUint8(p + clen - 2);
    if (next === NEXT_NONE) return drop(c, "esp_dummy");
    const plen = clen - ESP_TRAILER_LEN - pad;
    if (next !== NEXT_UDP || plen < INNER_UDP_LEN || mem.getUint16(p + 4) !== plen) {
      return drop(c, "esp_malformed");
    }
    for (let i = 1; i <= pad; i++) if (mem.getUint8(p + plen + i - 1) !== i) return drop(c, "esp_malformed");
    this.srcPort = mem.getUint16(p);
    this.dstPort = mem.getUint16(p + 2);
    this.vxlanOff = p + INNER_UDP_LEN;
    this.vxlanLen = plen - INNER_UDP_LEN;
    c.decrypted++;
    return null;
  }
}

/** Counts a drop under an SA (its network's counters; unknown_spi is the SAD's, node-wide). */
function drop(c: EspCounters, why: Exclude<EspDrop, "unknown_spi">): EspDrop {
  if (why !== "esp_dummy") c[why]++;
  return why;
}

/** The SPI of an ESP datagram (0: the non-ESP marker, or too short to have one). */
export function spiOf(mem: DataView, off: number, len: number): number {
  return len >= ESP_HEADER_LEN ? mem.getUint32(off) : 0;
}
