// The smallest Deno TAP ↔ VXLAN forwarder there can be, as a bench reference: the per-packet floor
// of the runtime weft runs in, with none of weft. One thread blocks in poll() on the TAP and the
// UDP socket; a TAP frame gets an 8-byte VXLAN header (I flag, VNI 42) and goes to the one peer
// with sendto(); a datagram loses its header and goes to the TAP with write(). No switch, no
// learning, no Wasm, no batching, no checks: it only shows what a packet costs a Deno process on
// this machine (wake-up, FFI calls, system calls), so that weft's own share of its RTT is the
// difference. Not for use anywhere else.
//
//   deno run -A tests/bench/floor_forwarder.ts TAP NETNS ADDRESS/PREFIX LISTEN PEER
//
// Runs in the host namespace; moves TAP into NETNS, addressed there (MTU 1450). SIGTERM ends it
// (no listener: the default action) and the kernel removes the TAP with the last fd.

import { parseIp } from "../../cli/core/addr.ts";
import { configureLink } from "../../cli/phy/link.ts";
import { sockaddr } from "../../cli/phy/sockaddr.ts";
import { openTap } from "../../cli/phy/tap.ts";
import { openUdp } from "../../cli/phy/udp.ts";
import { POLLFD_LEN, POLLIN } from "../../cli/sys/libc.ts";

const VXLAN_PORT = 4789;
const VXLAN_HEADER_LEN = 8;
const VNI = 42;
const MTU = 1450;
const FRAME_MAX = 65536;

const [tapName, netns, address, listen, peer] = Deno.args;
if (!peer) throw new Error("usage: floor_forwarder.ts TAP NETNS ADDRESS/PREFIX LISTEN PEER");

const tap = openTap(tapName);
await configureLink({ name: tapName, netns, mtu: MTU, address });
const udp = openUdp(parseIp(listen), VXLAN_PORT);

// Its own symbol table: buffers passed as typed arrays, the simplest FFI there is. 64-bit
// parameters take bigints, as weft's do (cli/sys/libc.ts): a number there is Deno's slow call.
const libc = Deno.dlopen("libc.so.6", {
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "i32" },
  recvfrom: { parameters: ["i32", "buffer", "usize", "i32", "usize", "usize"], result: "i32" },
}).symbols;

const pfd = new Uint8Array(2 * POLLFD_LEN);
const pv = new DataView(pfd.buffer);
pv.setInt32(0, tap.fd, true);
pv.setInt16(4, POLLIN, true);
pv.setInt32(POLLFD_LEN, udp.fd, true);
pv.setInt16(POLLFD_LEN + 4, POLLIN, true);

const packet = new Uint8Array(VXLAN_HEADER_LEN + FRAME_MAX);
packet[0] = 0x08; // I flag
new DataView(packet.buffer).setUint32(4, VNI << 8);
const frame = packet.subarray(VXLAN_HEADER_LEN);
const to = sockaddr(parseIp(peer), VXLAN_PORT);
const FRAME_ROOM = BigInt(frame.length), PACKET_ROOM = BigInt(packet.length);

for (;;) {
  if (libc.poll(pfd, 2n, -1) <= 0) continue;
  if (pv.getInt16(6, true) & POLLIN) {
    const n = libc.read(tap.fd, frame, FRAME_ROOM);
    if (n > 0) libc.sendto(udp.fd, packet, BigInt(VXLAN_HEADER_LEN + n), 0, to, to.length);
  }
  if (pv.getInt16(POLLFD_LEN + 6, true) & POLLIN) {
    const n = libc.recvfrom(udp.fd, packet, PACKET_ROOM, 0, 0n, 0n);
    if (n > VXLAN_HEADER_LEN) libc.write(tap.fd, frame, BigInt(n - VXLAN_HEADER_LEN));
  }
}
