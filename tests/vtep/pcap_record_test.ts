// --pcap records every inner frame the switch handles, also when the socket hands over UDP GRO
// buffers of many datagrams at once: one record per frame, each a whole Ethernet frame.

import assert from "node:assert/strict";
import { tcpTransfer, twoHosts, vtepFor } from "../../cli/lab/mod.ts";
import { labTest, tsharkFields } from "../harness.ts";

labTest(
  "weft vtep --pcap records each decapsulated frame of a UDP GRO buffer on its own",
  {},
  async (lab) => {
    const { h1, h2, c1, c2 } = await twoHosts(lab);
    const pcap = lab.tempPath("h2-inner.pcap");
    await vtepFor(lab, h1, c1, "t1", "10.0.0.1/24", "198.18.0.1", "198.18.0.2");
    const v2 = await vtepFor(lab, h2, c2, "t2", "10.0.0.2/24", "198.18.0.2", "198.18.0.1", [
      "--pcap",
      pcap,
    ]);
    await tcpTransfer(lab, c1, c2, "10.0.0.2", { bytes: "5M" });
    // Late ACKs may still pass while the capture is read: count before and after.
    const before = (await v2.stats()).io.pcap_records;
    const rows = await tsharkFields(pcap, ["frame.len", "_ws.malformed"]);
    const stats = await v2.stats();
    const after = stats.io.pcap_records;
    assert.ok(
      rows.length >= before && rows.length <= after,
      `one record per frame the vtep counted: ${rows.length} records, counted ${before}..${after}`,
    );
    // (iperf3 -n ends when the client has sent its bytes: what is still in flight may be cut.)
    assert.ok(rows.length > 1000, `MBs of TCP in MSS-sized frames: ${rows.length} records`);
    // The datagrams came in GRO buffers: many per read, each still recorded on its own.
    const { decap } = stats.vnis[0].counters;
    assert.ok(decap > 4 * stats.io.bursts, `${decap} datagrams in ${stats.io.bursts} bursts`);
    for (const [len, malformed] of rows) {
      assert.ok(Number(len) <= 1464 && !malformed, `a whole frame, not a GRO buffer: ${len}\t${malformed}`);
    }
  },
);
