// The ESP anti-replay window with 64-bit extended sequence numbers: RFC 4303 §3.4.3 (the check
// before and the update after the integrity check) and Appendix A2 (inferring the high 32 bits,
// which are never on the wire), kept as a ring of bits as RFC 6479 describes.
//
// Sequence numbers are JS numbers: exact up to 2^53, which a sender would reach after 2^53
// datagrams (decades at 10 M datagrams/s); the sender stops before (cli/esp/esp.ts).

/** Datagrams the window remembers behind the highest one seen (RFC 4303 §3.4.3 asks ≥ 32, and
 *  64 by default; the issue asks ≥ 1024; WireGuard keeps 8192). A power of two. */
export const REPLAY_WINDOW = 4096;
const WORDS = REPLAY_WINDOW / 32;
const TWO32 = 0x1_0000_0000;

/** One window per inbound SA (one sender, one SPI). */
export class ReplayWindow {
  /** Highest authenticated sequence number (0: none yet; senders start at 1). */
  top = 0;
  private readonly bits = new Uint32Array(WORDS);

  /**
   * The full 64-bit sequence number of a datagram whose low 32 bits are `low`, as RFC 4303
   * Appendix A2.2 infers it from the window: in the window's subspace, or the next one when
   * `low` lies below the window. May return a negative number (below sequence 1): a replay.
   */
  infer(low: number): number {
    const th = Math.floor(this.top / TWO32), tl = this.top % TWO32;
    const bottom = tl - REPLAY_WINDOW + 1;
    let sh: number;
    if (bottom >= 0) sh = low >= bottom ? th : th + 1; // window within one subspace
    else sh = low >= bottom + TWO32 ? th - 1 : th; // window spans two subspaces
    return sh * TWO32 + low;
  }

  /**
   * RFC 4303 §3.4.3 before the ICV check: true when `seq` was never accepted and is not older
   * than the window (go on to the ICV check); false for a replay ("the receiver MUST discard").
   */
  fresh(seq: number): boolean {
    if (seq < 1) return false;
    if (seq > this.top) return true;
    if (this.top - seq >= REPLAY_WINDOW) return false;
    const bit = seq % REPLAY_WINDOW;
    return (this.bits[bit >>> 5] & (1 << (bit & 31))) === 0;
  }

  /** After the ICV verified: slides the window up to `seq` and marks it. Call only after fresh() said so. */
  accept(seq: number): void {
    if (seq > this.top) {
      const ahead = seq - this.top;
      if (ahead >= REPLAY_WINDOW) this.bits.fill(0);
      else {
        // Forget the sequence numbers the window moves past: they share bits with the new ones.
        for (let s = this.top + 1; s <= seq; s++) {
          const b = s % REPLAY_WINDOW;
          if ((b & 31) === 0 && seq - s >= 31) {
            this.bits[b >>> 5] = 0;
            s += 31;
          } else this.bits[b >>> 5] &= ~(1 << (b & 31));
        }
      }
      this.top = seq;
    }
    const bit = seq % REPLAY_WINDOW;
    this.bits[bit >>> 5] |= 1 << (bit & 31);
  }
}
