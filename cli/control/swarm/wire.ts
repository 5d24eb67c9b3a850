// Framing of the control protocol on 2377: one JSON object per line over TLS. Lines are bounded
// (a peer cannot make the manager buffer without limit) and anything that is not a JSON object
// ends the session with a reason.

/** Longest line a peer may send, in bytes (4 MiB: a snapshot of a large network fits). */
export const MAX_LINE = 4 << 20;

/** A peer broke the framing: not JSON, not an object, or a line over MAX_LINE. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/** One JSON object per line over a connection (TLS on the control port). */
export class LineConn {
  /** Received bytes not yet returned: buf[start, end). Grows only for long lines. */
  private buf = new Uint8Array(4096);
  private start = 0;
  private end = 0;
  private readonly dec = new TextDecoder();
  private readonly enc = new TextEncoder();
  private writing: Promise<void> = Promise.resolve();
  closed = false;

  constructor(readonly conn: Deno.Conn) {}

  /** Next message, or null at end of stream. @throws ProtocolError for a bad line. One buffer per connection, reused: a heartbeat a
   * second from a thousand nodes allocates nothing but its message. */
  async read(): Promise<Record<string, any> | null> {
    for (;;) {
      const nl = this.buf.subarray(this.start, this.end).indexOf(10);
      if (nl >= 0) {
        const line = this.dec.decode(this.buf.subarray(this.start, this.start + nl));
        this.start += nl + 1;
        if (this.start === this.end) this.start = this.end = 0;
        let m: unknown;
        try {
          m = JSON.parse(line);
        } catch {
          throw new ProtocolError("not a JSON message");
        }
        if (typeof m !== "object" || m === null || Array.isArray(m)) {
          throw new ProtocolError("not a JSON object");
        }
        return m as Record<string, any>;
      }
      if (this.end - this.start > MAX_LINE) throw new ProtocolError(`message longer than ${MAX_LINE} bytes`);
      if (this.start > 0) {
        this.buf.copyWithin(0, this.start, this.end);
        this.end -= this.start;
        this.start = 0;
      }
      if (this.end === this.buf.length) {
        const bigger = new Uint8Array(this.buf.length * 2);
        bigger.set(this.buf);
        this.buf = bigger;
      }
      const n = await this.conn.read(this.buf.subarray(this.end));
      if (n === null) return null;
      this.end += n;
    }
  }

  /** Writes are queued so concurrent senders never interleave lines. */
  send(m: unknown): Promise<void> {
    return this.sendText(JSON.stringify(m));
  }

  /** One message already serialised (a manager counts the bytes it sends). */
  sendText(text: string): Promise<void> {
    const bytes = this.enc.encode(text + "\n");
    this.writing = this.writing.then(async () => {
      if (this.closed) return;
      let off = 0;
      while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
    }).catch(() => {
      this.close();
    });
    return this.writing;
  }

  /** Closes the connection once; queued writes are dropped. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

/** Races a promise against a timeout of `ms` milliseconds.
 * @throws Error "<what> timed out after <ms> ms" when the timeout wins. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) =>
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)
    ),
  ]).finally(() => clearTimeout(timer));
}
