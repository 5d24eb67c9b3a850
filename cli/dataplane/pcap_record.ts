// Recording a burst to a pcap file, as a tap on the side of the frame loop: after process(),
// every inner frame the switch accepted (local frames as read, VXLAN payloads without their
// 8-byte header, each datagram of a UDP GRO buffer on its own) is appended as one classic pcap
// record (the file's global header is written by cli/phy/pcapfile.ts), all of a burst in one
// writev whose iovecs point at the frames in the core's memory: no frame is copied.

import { PORT_UNDERLAY, RX, RX_DESC_LEN } from "../core/abi.ts";
import type { WeftCore } from "../core/core.ts";
import { type DropReason, verdictOf } from "../core/counters.ts";
import { IOV_BASE, IOV_LEN, IOVEC_LEN, libc } from "../sys/libc.ts";
import { region, setPtr } from "../sys/mem.ts";

const VXLAN_HEADER_LEN = 8;
const ETH_HEADER_LEN = 14;
/** A classic pcap record header: ts_sec, ts_usec, incl_len, orig_len (u32 each). */
const PCAP_RECORD_HEADER_LEN = 16;
/** Records per writev: two iovecs each, and writev takes at most UIO_MAXIOV (1024). */
const PCAP_BATCH = 512;

/** Verdicts (reason + 1) of frames that never became an inner frame of a VNI: not recorded. */
const NOT_INNER = new Set(
  (["bad_descriptor", "vxlan_runt", "vxlan_bad_flags", "unknown_vni"] as DropReason[]).map(verdictOf),
);

const c = libc();

/** Appends bursts of `core` to the pcap file open at `fd`; laid out once, no allocation after. */
export class BurstRecorder {
  /** Record headers, and iovecs alternating header / frame. */
  private readonly hdr = region(PCAP_BATCH * PCAP_RECORD_HEADER_LEN);
  private readonly iov = region(2 * PCAP_BATCH * IOVEC_LEN);
  /** Records queued in iov, and the burst's timestamp they carry. */
  private recCount = 0;
  private recSec = 0;
  private recUsec = 0;
  private readonly mem: DataView;
  /** writev calls that failed (each loses a batch of records). */
  errors = 0;
  /** Records written. */
  records = 0;

  /** `memBase`: the process address of the core's memory (addressOf(core.bytes)). */
  constructor(
    private readonly core: WeftCore,
    private readonly memBase: number,
    private readonly fd: number,
  ) {
    this.mem = core.view;
    for (let i = 0; i < PCAP_BATCH; i++) {
      setPtr(this.iov.view, 2 * i * IOVEC_LEN + IOV_BASE, this.hdr.base + i * PCAP_RECORD_HEADER_LEN);
      setPtr(this.iov.view, 2 * i * IOVEC_LEN + IOV_LEN, PCAP_RECORD_HEADER_LEN);
    }
  }

  /** Appends every inner frame of the burst the switch took in, as pcap records, in one writev. */
  record(k: number): void {
    const t = Date.now();
    this.recSec = Math.floor(t / 1000);
    this.recUsec = (t % 1000) * 1000;
    this.recCount = 0;
    for (let i = 0; i < k; i++) {
      if (NOT_INNER.has(this.core.verdict(i))) continue;
      const d = this.core.rxPtr + i * RX_DESC_LEN;
      const ptr = this.mem.getUint32(d + RX.PTR, true);
      const len = this.mem.getUint32(d + RX.LEN, true);
      if (this.mem.getUint16(d + RX.PORT, true) !== PORT_UNDERLAY) {
        this.recordFrame(ptr, len);
        continue;
      }
      // A UDP GRO buffer holds several datagrams, `stride` apart: one record per inner frame.
      const stride = this.mem.getUint16(d + RX.GSO_SIZE, true) || len;
      for (let off = 0; off < len; off += stride) {
        const dlen = Math.min(stride, len - off);
        if (dlen >= VXLAN_HEADER_LEN + ETH_HEADER_LEN) {
          this.recordFrame(ptr + off + VXLAN_HEADER_LEN, dlen - VXLAN_HEADER_LEN);
        }
      }
    }
    this.flushRecords();
  }

  /** Queues one pcap record (header + the frame's bytes in linear memory) for the next writev. */
  private recordFrame(ptr: number, len: number): void {
    if (this.recCount === PCAP_BATCH) this.flushRecords();
    const m = this.recCount++;
    const hv = this.hdr.view, iv = this.iov.view;
    const h = m * PCAP_RECORD_HEADER_LEN;
    hv.setUint32(h, this.recSec, true);
    hv.setUint32(h + 4, this.recUsec, true);
    hv.setUint32(h + 8, len, true);
    hv.setUint32(h + 12, len, true);
    setPtr(iv, (2 * m + 1) * IOVEC_LEN + IOV_BASE, this.memBase + ptr);
    setPtr(iv, (2 * m + 1) * IOVEC_LEN + IOV_LEN, len);
  }

  private flushRecords(): void {
    const m = this.recCount;
    this.recCount = 0;
    if (m === 0) return;
    if (c.writev(this.fd, this.iov.ptr, 2 * m) < 0) this.errors++;
    else this.records += m;
  }
}
