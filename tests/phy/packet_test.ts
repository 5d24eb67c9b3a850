// cli/phy/packet.ts, the demo's capture without tcpdump: a packet socket opened in another
// namespace from this process keeps exactly the UDP datagrams to the VXLAN port (IPv4 and IPv6,
// not other ports), in order, with the kernel's receive times, and leaves this thread where it was.

import assert from "node:assert/strict";
import { PacketCapture } from "../../cli/phy/packet.ts";
import { labTest } from "../harness.ts";

labTest("PacketCapture in another namespace keeps UDP to port 4789 only, v4 and v6, in order, timestamped", {
  ignore: Deno.uid() !== 0,
}, async (lab) => {
  const a = await lab.netns("a"), b = await lab.netns("b");
  await lab.veth(a, "eth0", "198.18.0.1/24", b, "eth0", "198.18.0.2/24");
  for (const [ns, addr] of [[a, "fd00::1/64"], [b, "fd00::2/64"]]) {
    await lab.exec(ns, ["ip", "addr", "add", addr, "dev", "eth0", "nodad"], { check: true });
  }
  const before = Deno.readLinkSync("/proc/thread-self/ns/net");
  const cap = PacketCapture.open({ ifname: "eth0", netns: b, udpDstPort: 4789 });
  try {
    assert.equal(Deno.readLinkSync("/proc/thread-self/ns/net"), before, "this thread is back home");
    const t0 = Date.now() / 1000;
    // bash's /dev/udp sends one datagram per redirection; neighbour discovery and ARP go too.
    const sends = [
      "echo one > /dev/udp/198.18.0.2/4789",
      "echo two > /dev/udp/198.18.0.2/4790",
      "echo three > /dev/udp/fd00::2/4789",
      "echo four > /dev/udp/fd00::2/53",
      "echo five > /dev/udp/198.18.0.2/4789",
    ];
    for (const cmd of sends) await lab.exec(a, ["bash", "-c", cmd], { check: true });
    const t1 = Date.now() / 1000;
    const got = cap.drain();
    // The payload is the datagram's last bytes: the word and echo's newline.
    const words = got.map((p) => /([a-z]+)\n$/.exec(new TextDecoder().decode(p.data))?.[1]);
    assert.deepEqual(words, ["one", "three", "five"]);
    for (const p of got) {
      assert.ok(p.time >= t0 - 1 && p.time <= t1 + 1, `timestamp ${p.time} within the sends`);
      assert.equal(p.origLen, p.data.length);
    }
    assert.ok(got[0].time <= got[1].time && got[1].time <= got[2].time, "in order");
    assert.deepEqual(cap.drain(), [], "nothing more queued");
  } finally {
    cap.close();
  }
  assert.throws(
    () => PacketCapture.open({ ifname: "nosuch0", netns: b }),
    /no interface nosuch0 in /,
  );
  assert.throws(
    () => PacketCapture.open({ ifname: "eth0", netns: `${lab.prefix}missing` }),
    /cannot enter network namespace/,
  );
  assert.equal(Deno.readLinkSync("/proc/thread-self/ns/net"), before, "back home after failures too");
});
