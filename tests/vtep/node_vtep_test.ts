// cli/dataplane/node_vtep.ts, the one way `weft vtep` and the daemon open this node's VTEP:
// a failure at any step closes every fd the earlier steps opened, close() closes them all, and
// the VTEP it opens switches: a VXLAN datagram from a VTEP on its flood list is decapsulated and
// its inner source MAC learned behind that VTEP. Loopback only (127.0.0.0/8), no root, no namespace.

import assert from "node:assert/strict";
import { parseIp } from "../../cli/core/addr.ts";
import { lowestFreePort, NodeVtep, type NodeVtepConfig } from "../../cli/dataplane/node_vtep.ts";
import { UsageError } from "../../cli/errors.ts";
import { SysError } from "../../cli/sys/errno.ts";

const NONE = { tap: false, gso: false, gro: false };
/** A port nothing else on this machine's loopback is likely to hold (the tests pick 47xx). */
const PORT = 47891;

/** This process's UDP sockets, as "fd inode" (the Deno runtime's own fds — its worker threads'
 *  epoll, eventfd and unix sockets — come and go on their own and are not counted). */
function fds(): Set<string> {
  const udp = new Set<string>();
  for (const f of ["/proc/net/udp", "/proc/net/udp6"]) {
    for (const line of Deno.readTextFileSync(f).split("\n").slice(1)) {
      const inode = line.trim().split(/\s+/)[9];
      if (inode) udp.add(inode);
    }
  }
  const out = new Set<string>();
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    let link = "";
    try {
      link = Deno.readLinkSync(`/proc/self/fd/${e.name}`);
    } catch { /* the directory's own fd, gone by now */ }
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m && udp.has(m[1])) out.add(`${e.name} ${m[1]}`);
  }
  return out;
}

function config(o: Partial<NodeVtepConfig> = {}): NodeVtepConfig {
  return { address: parseIp("127.0.0.1"), port: PORT, offload: NONE, sourcePorts: 2, ...o };
}

Deno.test({
  name: "NodeVtep.open closes what it opened when a later step fails, and close() closes the rest",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const before = fds();
    // The TAP step fails (a name the kernel refuses) after the sockets are open.
    await assert.rejects(NodeVtep.open(config({ taps: [{ name: "no/slash" }], mtu: 1450 })), UsageError);
    assert.deepEqual(fds(), before, "no UDP socket left after a failed TAP step");
    // The pcap step fails (no such directory) after the sockets are open.
    await assert.rejects(NodeVtep.open(config({ pcap: "/nonexistent-dir/x.pcap" })), SysError);
    assert.deepEqual(fds(), before, "no UDP socket left after a failed pcap step");

    const vtep = await NodeVtep.open(config());
    try {
      assert.equal(vtep.senders.length, 2);
      assert.equal(vtep.espError, undefined, "no ESP socket asked for, no error");
      // The port is taken now: the second open fails at bind and leaves nothing either.
      const during = fds();
      assert.equal(during.size, before.size + 3, "the VXLAN port's socket and 2 senders");
      await assert.rejects(
        NodeVtep.open(config()),
        (e: Error) => e instanceof SysError && /EADDRINUSE|in use/i.test(e.message),
      );
      assert.deepEqual(fds(), during, "the failed second open left no UDP socket");
    } finally {
      await vtep.close();
    }
    assert.deepEqual(fds(), before, "close() leaves no UDP socket");
  },
});

Deno.test({
  name: "a NodeVtep decapsulates a peer's VXLAN datagram (RFC 7348 §5) and learns its MAC behind the peer",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const peer = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.2", port: PORT });
    const vtep = await NodeVtep.open(config());
    try {
      await vtep.worker.ops([
        { op: "vni.add", vni: 42, mtu: 1450 },
        { op: "flood.add", vni: 42, addr: "127.0.0.2", port: PORT },
      ]);
      // An inner ARP broadcast from a MAC behind the peer, in a VXLAN header with the I flag and VNI 42.
      const inner = new Uint8Array(60);
      inner.fill(0xff, 0, 6);
      inner.set([0x02, 0x42, 10, 0, 0, 9, 0x08, 0x06], 6);
      const vxlan = new Uint8Array(8 + inner.length);
      vxlan.set([0x08, 0, 0, 0, 0, 0, 42, 0]);
      vxlan.set(inner, 8);
      await peer.send(vxlan, { transport: "udp", hostname: "127.0.0.1", port: PORT });
      let rx = 0;
      for (let i = 0; i < 50 && rx === 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
        const s = await vtep.worker.stats();
        rx = s.vnis.find((v) => v.vni === 42)?.counters.decap ?? 0;
      }
      assert.equal(rx, 1, "the peer's datagram was taken in by VNI 42's switch");
      const fdb = await vtep.worker.fdb();
      assert.deepEqual(
        fdb.entries.map((e) => [e.vni, e.mac, e.where]),
        [[42, "02:42:0a:00:00:09", `127.0.0.2:${PORT}`]],
        "learned behind the peer VTEP (vxlan_snoop)",
      );
    } finally {
      await vtep.close();
      peer.close();
    }
  },
});

Deno.test("lowestFreePort takes the lowest id not in use, from 0, reusing freed ones", () => {
  assert.equal(lowestFreePort([]), 0);
  assert.equal(lowestFreePort([0, 1, 2]), 3);
  assert.equal(lowestFreePort([0, 2, 3]), 1);
  assert.equal(lowestFreePort([1, undefined]), 0);
});
