// The security association database of one node (RFC 4301 §4.4.2, reduced to what weft needs):
// inbound SAs by SPI, so a datagram on the ESP port finds its SA in one map lookup, and the
// description of every SA for `weft esp sa`, in the format of Wireshark's ESP SA table.

import { type EspDrop, type EspInbound, spiOf } from "./esp.ts";

/** One SA as tshark needs it to decrypt a capture (RFC 4106 key material: key ‖ salt). */
export interface SaDescription {
  /** "IPv4" or "IPv6", the outer header's version. */
  family: "IPv4" | "IPv6";
  /** The sending and receiving nodes' underlay addresses. */
  src: string;
  dst: string;
  spi: number;
  /** ESP_KEYMAT_LEN bytes. */
  keymat: Uint8Array;
}

/** The name Wireshark's ESP dissector gives AES-GCM with a 16-byte ICV (its `esp_sa` table). */
export const WIRESHARK_AES_GCM_16 = "AES-GCM with 16 octet ICV [RFC4106]";

/**
 * One line of Wireshark's `esp_sa` UAT per SA, as `~/.config/wireshark/esp_sa` holds it and as
 * `tshark -o 'uat:esp_sa:LINE'` takes it: protocol, source, destination, SPI, encryption
 * algorithm, key ‖ salt, authentication algorithm (NULL: GCM's ICV is the authentication), key.
 */
export function espSaLines(sas: SaDescription[]): string[] {
  const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return sas.map((s) =>
    [
      s.family,
      s.src,
      s.dst,
      `0x${s.spi.toString(16).padStart(8, "0")}`,
      WIRESHARK_AES_GCM_16,
      `0x${hex(s.keymat)}`,
      "NULL",
      "",
    ].map((f) => JSON.stringify(f)).join(",")
  );
}

/** Inbound SAs by SPI. */
export class InboundSad {
  private readonly bySpi = new Map<number, EspInbound>();
  /** Datagrams no SA claims (ESP_NODE_COUNTERS' unknown_spi): they cannot be put down to a network. */
  unknownSpi = 0;
  /** The SA the last open() used (valid when it returned null). */
  sa?: EspInbound;

  add(sa: EspInbound): void {
    const old = this.bySpi.get(sa.spi);
    if (old && old !== sa) old.free();
    this.bySpi.set(sa.spi, sa);
  }

  remove(spi: number): void {
    this.bySpi.get(spi)?.free();
    this.bySpi.delete(spi);
  }

  get(spi: number): EspInbound | undefined {
    return this.bySpi.get(spi);
  }

  get size(): number {
    return this.bySpi.size;
  }

  /**
   * Finds the SA of the ESP datagram at `mem[off, off + len)` and opens it in place.
   * @returns null when the VXLAN datagram is at `this.sa.vxlanOff/vxlanLen`, else the drop reason.
   */
  open(mem: DataView, memPtr: bigint, off: number, len: number): EspDrop | null {
    const sa = this.bySpi.get(spiOf(mem, off, len));
    if (!sa) {
      this.unknownSpi++;
      return "unknown_spi";
    }
    this.sa = sa;
    return sa.open(mem, memPtr, off, len);
  }

  /**
   * Counts the ESP datagram at `mem[off, off + len)` that cannot be opened whole (the receive
   * buffer cut it: longer than a frame slot, which no weft node sends): its SA's esp_malformed,
   * or unknown_spi when no SA has its SPI. Nothing of it is used.
   */
  refuse(mem: DataView, off: number, len: number): EspDrop {
    const sa = this.bySpi.get(spiOf(mem, off, len));
    if (!sa) {
      this.unknownSpi++;
      return "unknown_spi";
    }
    sa.counters.esp_malformed++;
    return "esp_malformed";
  }

  clear(): void {
    for (const sa of this.bySpi.values()) sa.free();
    this.bySpi.clear();
  }
}
