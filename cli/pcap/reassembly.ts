// Outer IP fragment reassembly for captures: what the receiving kernel does before its UDP
// socket (and so the VXLAN driver) sees a datagram, and what Wireshark shows with its default
// "reassemble fragmented IP datagrams". A VTEP never fragments (RFC 7348 §4.3), but the underlay
// between two VTEPs may, and the kernel reassembles.
//
// Rules, as Linux's net/ipv4/ip_fragment.c and net/ipv6/reassembly.c apply them:
//   - key: (source, destination, identification, protocol) for IPv4 (RFC 791), (source,
//     destination, identification) for IPv6 (RFC 8200 §4.5);
//   - a fragment that overlaps another discards the whole datagram (RFC 5722; the kernel does
//     the same for IPv4 since 4.19, inet_frag_queue_insert → IPFRAG_OVERLAP); an exact duplicate
//     is dropped alone (IPFRAG_DUP);
//   - a datagram not complete within REASSEMBLY_TIMEOUT_V4 / _V6 seconds of its first fragment
//     (capture time: net.ipv4.ipfrag_time = 30, net.ipv6.ip6frag_time = 60), or still open when
//     the capture ends, is incomplete and dropped;
//   - memory is bounded: at most REASSEMBLY_MAX_BYTES buffered (the kernel's ipfrag_high_thresh,
//     4 MiB), a fragment past that is dropped; no datagram grows past 65535 bytes.
// Each fragment is counted once: in the datagram it completes, or under the reason it was dropped.

/** Seconds an IPv4 datagram may take to complete (net.ipv4.ipfrag_time). */
export const REASSEMBLY_TIMEOUT_V4 = 30;
/** Seconds an IPv6 datagram may take to complete (net.ipv6.ip6frag_time). */
export const REASSEMBLY_TIMEOUT_V6 = 60;
/** Bytes buffered over all open datagrams (net.ipv4.ipfrag_high_thresh). */
export const REASSEMBLY_MAX_BYTES = 4 * 1024 * 1024;
/** Largest reassembled payload: the 16-bit length fields of both IP versions. */
export const REASSEMBLY_MAX_PAYLOAD = 65535;
/** Bookkeeping charged per fragment on top of its bytes, so many tiny fragments are bounded too. */
const FRAGMENT_OVERHEAD = 64;

export const FRAGMENT_OVERLAP = "outer_fragment_overlap";
export const FRAGMENT_DUPLICATE = "outer_fragment_duplicate";
export const FRAGMENT_INCOMPLETE = "outer_fragment_incomplete";
export const FRAGMENT_OVERSIZE = "outer_fragment_oversize";
export const FRAGMENT_NO_MEMORY = "outer_fragment_no_memory";

export interface Fragment {
  /** Key of its datagram (see above), any string unique to it. */
  key: string;
  /** Capture time in seconds. */
  now: number;
  /** Seconds its datagram may stay open (REASSEMBLY_TIMEOUT_V4 or _V6). */
  timeout: number;
  /** Byte offset of `data` in the datagram's payload (the fragment offset × 8). */
  offset: number;
  /** More fragments follow (IPv4 MF, IPv6 M). */
  more: boolean;
  data: Uint8Array;
  /** Whatever the caller needs again once the datagram completes (taken from offset 0). */
  head?: unknown;
}

export type ReassemblyResult =
  | { kind: "pending" }
  | { kind: "complete"; payload: Uint8Array; fragments: number; head: unknown }
  | { kind: "dropped"; reason: string; fragments: number };

interface Open {
  key: string;
  /** Capture time past which it is incomplete (first fragment + timeout). */
  deadline: number;
  parts: { offset: number; end: number; data: Uint8Array }[];
  /** Payload length, once the last fragment (more = false) is seen. */
  total?: number;
  held: number;
  bytes: number;
  head?: unknown;
}

/** Reassembles fragments of many datagrams; `onDrop` hears of datagrams dropped on the way. */
export class Reassembler {
  private open = new Map<string, Open>();
  private deadlines = new DeadlineHeap();
  private buffered = 0;

  constructor(
    private readonly onDrop: (reason: string, fragments: number) => void,
    private readonly maxBytes = REASSEMBLY_MAX_BYTES,
  ) {}

  /** Bytes buffered now (≤ the bound). */
  get bytes(): number {
    return this.buffered;
  }

  /** Datagrams open now. */
  get pending(): number {
    return this.open.size;
  }

  /** Offers one fragment; the datagram's whole payload once its last hole is filled. */
  add(f: Fragment): ReassemblyResult {
    this.expire(f.now);
    const end = f.offset + f.data.length;
    if (end > REASSEMBLY_MAX_PAYLOAD) return this.kill(f.key, FRAGMENT_OVERSIZE);
    let q = this.open.get(f.key);
    const cost = f.data.length + FRAGMENT_OVERHEAD;
    if (this.buffered + cost > this.maxBytes) {
      return { kind: "dropped", reason: FRAGMENT_NO_MEMORY, fragments: 1 };
    }
    if (!q) {
      q = { key: f.key, deadline: f.now + f.timeout, parts: [], held: 0, bytes: 0 };
      this.open.set(f.key, q);
      this.deadlines.push(q);
    }
    if (!f.more) {
      // A second, different end, or data already past this end: the kernel treats both as
      // corrupt and discards the datagram.
      if ((q.total !== undefined && q.total !== end) || q.parts.some((p) => p.end > end)) {
        return this.kill(f.key, FRAGMENT_OVERLAP);
      }
    } else if (q.total !== undefined && end > q.total) {
      return this.kill(f.key, FRAGMENT_OVERLAP);
    }
    for (const p of q.parts) {
      if (p.offset === f.offset && p.end === end) {
        return { kind: "dropped", reason: FRAGMENT_DUPLICATE, fragments: 1 };
      }
      if (f.offset < p.end && end > p.offset) return this.kill(f.key, FRAGMENT_OVERLAP);
    }
    if (!f.more) q.total = end;
    if (f.offset === 0) q.head = f.head;
    q.parts.push({ offset: f.offset, end, data: f.data.slice() });
    q.held++;
    q.bytes += cost;
    this.buffered += cost;
    if (q.total === undefined) return { kind: "pending" };
    let covered = 0;
    for (const p of q.parts) covered += p.end - p.offset;
    if (covered !== q.total) return { kind: "pending" };
    // No overlaps and as many bytes as the total: every hole is filled.
    const payload = new Uint8Array(q.total);
    for (const p of q.parts) payload.set(p.data, p.offset);
    this.forget(f.key, q);
    return { kind: "complete", payload, fragments: q.held, head: q.head };
  }

  /**
   * Drops every datagram whose time is up at `now`, as incomplete. Deadlines sit in a min-heap,
   * so a fragment costs O(log open), however many datagrams are open; entries of datagrams
   * already gone are skipped when they surface, and the heap is rebuilt when they pile up.
   */
  expire(now: number): void {
    const h = this.deadlines;
    while (h.size > 0 && h.peek()!.deadline < now) {
      const q = h.pop()!;
      if (this.open.get(q.key) !== q) continue; // completed or discarded before its time
      this.forget(q.key, q);
      this.onDrop(FRAGMENT_INCOMPLETE, q.held);
    }
    if (h.size > 2 * this.open.size + 64) this.deadlines = DeadlineHeap.of([...this.open.values()]);
  }

  /** The capture ended: whatever is still open is incomplete. */
  finish(): void {
    for (const [key, q] of this.open) {
      this.forget(key, q);
      this.onDrop(FRAGMENT_INCOMPLETE, q.held);
    }
    this.deadlines = new DeadlineHeap();
  }

  /** Discards a datagram with this fragment: all its fragments are dropped for `reason`. */
  private kill(key: string, reason: string): ReassemblyResult {
    const q = this.open.get(key);
    let fragments = 1;
    if (q) {
      fragments += q.held;
      this.forget(key, q);
    }
    return { kind: "dropped", reason, fragments };
  }

  private forget(key: string, q: Open): void {
    this.open.delete(key);
    this.buffered -= q.bytes;
  }
}

/** A binary min-heap of open datagrams by deadline. */
class DeadlineHeap {
  private items: Open[] = [];

  static of(items: Open[]): DeadlineHeap {
    const h = new DeadlineHeap();
    for (const q of items) h.push(q);
    return h;
  }

  get size(): number {
    return this.items.length;
  }

  peek(): Open | undefined {
    return this.items[0];
  }

  push(q: Open): void {
    const a = this.items;
    a.push(q);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent].deadline <= a[i].deadline) break;
      [a[parent], a[i]] = [a[i], a[parent]];
      i = parent;
    }
  }

  pop(): Open | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    a[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < a.length && a[l].deadline < a[m].deadline) m = l;
      if (r < a.length && a[r].deadline < a[m].deadline) m = r;
      if (m === i) break;
      [a[m], a[i]] = [a[i], a[m]];
      i = m;
    }
    return top;
  }
}
