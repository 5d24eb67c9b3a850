// `weft vtep` options the README names, each shown to do what it says on two hosts in namespaces:
// --mtu, --fdb-max, --source-ports (16 by default, and each inner flow on one of them), the
// forced socket buffers, and the --offload steps (each on or off where it can be seen: the TAP's
// TSO feature and the core's gso_frames on the sender, gro_merged on the receiver). Whether the
// sender uses UDP_SEGMENT (gso) is not visible from outside the process: those modes are shown
// to carry TCP; bench:e2e counts their system calls.

import assert from "node:assert/strict";
import { run, tcpTransfer, twoHosts, udpSockets, vtepFor } from "../../cli/lab/mod.ts";
import { labTest } from "../harness.ts";
import { SOCKET_BUFFER_BYTES } from "../../cli/phy/udp.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** Ports of the UDP sockets bound to `addr` in `ns` other than the VXLAN port's. */
async function senderPorts(ns: string, addr: string): Promise<number[]> {
  return (await udpSockets(ns)).split("\n").map((l) => l.trim().split(/\s+/)[3] ?? "")
    .filter((a) => a.startsWith(`${addr}:`) && !a.endsWith(":4789")).map((a) => Number(a.split(":")[1]));
}

labTest(
  "weft vtep --mtu, --fdb-max, --source-ports, 16 sockets by default, forced socket buffers",
  opts,
  async (lab) => {
    const { h1, h2, c1, c2 } = await twoHosts(lab);
    const c3 = await lab.netns("c3");
    const v1 = await vtepFor(lab, h1, c1, "t1", "10.0.0.1/24", "198.18.0.1", "198.18.0.2", [
      ...["--mtu", "1400", "--fdb-max", "1", "--source-ports", "4"],
    ]);
    const v2 = await lab.vtep(h2, [
      ...["--vni", "42", "--listen", "198.18.0.2", "--peer", "198.18.0.1"],
      ...["--tap", `${lab.prefix}t2`, "--netns", c2, "--address", "10.0.0.2/24"],
      ...["--tap", `${lab.prefix}t3`, "--netns", c3, "--address", "10.0.0.3/24"],
    ]);

    // --source-ports 4 on h1; the default, 16, on h2.
    const p1 = await senderPorts(h1, "198.18.0.1"), p2 = await senderPorts(h2, "198.18.0.2");
    assert.equal(p1.length, 4, `h1 sends from 4 sockets: ${p1}`);
    assert.equal(p2.length, 16, `h2 sends from 16 sockets: ${p2}`);

    // --mtu 1400: the TAP's MTU, and an inner frame above 1400 + 14 from the tunnel is dropped.
    assert.match((await lab.exec(c1, ["ip", "link", "show", `${lab.prefix}t1`])).stdout, /mtu 1400 /);
    for (const c of ["10.0.0.2", "10.0.0.3"]) {
      const p = await lab.exec(c1, ["ping", "-c", "2", "-i", "0.2", "-W", "1", c]);
      assert.equal(p.code, 0, `c1 → ${c}: ${p.stdout}`);
    }
    const fits = await lab.exec(c2, ["ping", "-M", "do", "-s", "1372", "-c", "1", "-W", "1", "10.0.0.1"]);
    assert.equal(fits.code, 0, `1400 bytes of IP reach c1: ${fits.stdout}`);
    const over0 = (await v1.stats()).vnis[0].counters.dropped.over_mtu;
    const big = await lab.exec(c2, ["ping", "-M", "do", "-s", "1422", "-c", "1", "-W", "1", "10.0.0.1"]);
    assert.notEqual(big.code, 0, "1450 bytes of IP do not reach c1");
    assert.match(big.stdout, /1 packets transmitted, 0 received/, "sent by c2, lost on the way");
    const s1 = await v1.stats();
    assert.equal(s1.vnis[0].counters.dropped.over_mtu, over0 + 1, "h1 dropped it as over_mtu");

    // --fdb-max 1: h1 learned c1's MAC and no more, but still forwards to c2 and c3 (flooding).
    const learned = (await v1.fdb()).entries.filter((e: { static: boolean }) => !e.static);
    assert.equal(learned.length, 1, `one learned entry: ${JSON.stringify(learned)}`);
    assert.ok(
      s1.vnis[0].counters.fdb_learn_limit >= 2,
      `learn limit hit: ${s1.vnis[0].counters.fdb_learn_limit}`,
    );

    // Each inner flow leaves h1 from one of its 4 sender sockets; 24 flows spread over several.
    const dump = lab.spawn(h2, [
      ...["tcpdump", "-l", "-n", "-i", `${lab.prefix}u2`, "-c", "24"],
      ...["udp", "dst", "port", "4789", "and", "src", "host", "198.18.0.1", "and", "greater", "60"],
    ], "tcpdump");
    await new Promise((r) => setTimeout(r, 1000));
    await lab.exec(c1, [
      "bash",
      "-c",
      "for p in $(seq 7001 7024); do echo flow > /dev/udp/10.0.0.2/$p; sleep 0.05; done",
    ]);
    const timer = setTimeout(() => dump.signal("SIGTERM"), 10000);
    await dump.status;
    clearTimeout(timer);
    const seen = [...(await dump.stdout).matchAll(/198\.18\.0\.1\.(\d+) > 198\.18\.0\.2\.4789/g)]
      .map((m) => Number(m[1]));
    assert.equal(seen.length, 24, `24 datagrams captured: ${await dump.stderr}`);
    assert.ok(seen.every((p) => p1.includes(p)), `all from h1's sender sockets ${p1}: ${seen}`);
    assert.ok(new Set(seen).size >= 2, `flows spread over several source ports: ${[...new Set(seen)]}`);

    // Socket buffers forced past net.core.[rw]mem_max (the kernel reports twice the request).
    const max = Number((await run(["cat", "/proc/sys/net/core/rmem_max"])).stdout);
    const mem = (await lab.exec(h1, ["ss", "-Huanm", "src", "198.18.0.1:4789"])).stdout;
    const rb = Number(/rb(\d+)/.exec(mem)?.[1]), tb = Number(/tb(\d+)/.exec(mem)?.[1]);
    assert.equal(rb, 2 * SOCKET_BUFFER_BYTES, `receive buffer ${mem}`);
    assert.equal(tb, 2 * SOCKET_BUFFER_BYTES, `send buffer ${mem}`);
    assert.ok(rb > max, `above rmem_max ${max}: only SO_RCVBUFFORCE gets there`);
    void v2;
  },
);

for (
  const [mode, args, tap, gro] of [
    ["--offload tap", ["--offload", "tap"], true, false],
    ["--offload tap,gso", ["--offload", "tap,gso"], true, false],
    // Merges need the sender's GSO too here: a veth does no receive GRO of its own, so only a
    // UDP_SEGMENT send reaches the UDP_GRO socket as one buffer.
    ["--offload tap,gso,gro", ["--offload", "tap,gso,gro"], true, true],
    // UDP GRO buffers without vnet TAPs: read in bulk, but a TAP without IFF_VNET_HDR cannot take
    // a merged super-frame, so the segments go out one by one (worker.ts setCoalescing).
    ["--offload gro", ["--offload", "gro"], false, false],
    ["--offload none", ["--offload", "none"], false, false],
    ["--no-offload", ["--no-offload"], false, false],
  ] as const
) {
  labTest(
    `weft vtep ${mode}: TCP across, TSO ${tap ? "on" : "off"} at the TAP, GRO merges ${gro ? "on" : "off"}`,
    opts,
    async (lab) => {
      const { h1, h2, c1, c2 } = await twoHosts(lab);
      const v1 = await vtepFor(lab, h1, c1, "t1", "10.0.0.1/24", "198.18.0.1", "198.18.0.2", [...args]);
      const v2 = await vtepFor(lab, h2, c2, "t2", "10.0.0.2/24", "198.18.0.2", "198.18.0.1", [...args]);
      const features = (await lab.exec(c1, ["ethtool", "-k", `${lab.prefix}t1`], { check: true })).stdout;
      assert.match(features, new RegExp(`tcp-segmentation-offload: ${tap ? "on" : "off"}`));
      await tcpTransfer(lab, c1, c2, "10.0.0.2", { bytes: "10M" });
      const sent = (await v1.stats()).vnis[0].counters, got = (await v2.stats()).vnis[0].counters;
      if (tap) {
        assert.ok(sent.gso_frames > 0, `super-frames from the TAP cut by the core: ${sent.gso_frames}`);
      } else assert.equal(sent.gso_frames, 0, "no super-frame without the TAP offload");
      if (gro) assert.ok(got.gro_merged > 0, `segments merged on receive: ${got.gro_merged}`);
      else assert.equal(got.gro_merged, 0, "no merge without GRO");
    },
  );
}

labTest(
  "TSO6 from a real TAP: an IPv6 TCP stream reaches the core as super-frames it cuts, merged again",
  opts,
  async (lab) => {
    const { h1, h2, c1, c2 } = await twoHosts(lab);
    const v1 = await vtepFor(lab, h1, c1, "t1", "10.0.0.1/24", "198.18.0.1", "198.18.0.2");
    const v2 = await vtepFor(lab, h2, c2, "t2", "10.0.0.2/24", "198.18.0.2", "198.18.0.1");
    for (const [c, tap, a] of [[c1, "t1", "fd00::1"], [c2, "t2", "fd00::2"]]) {
      await lab.exec(c, ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0"], { check: true });
      await lab.exec(c, ["ip", "-6", "addr", "add", `${a}/64`, "dev", `${lab.prefix}${tap}`, "nodad"], {
        check: true,
      });
    }
    const features = (await lab.exec(c1, ["ethtool", "-k", `${lab.prefix}t1`], { check: true })).stdout;
    assert.match(features, /tx-tcp6-segmentation: on/, "the TAP offers TSO6 to the stack");
    const before = (await v1.stats()).vnis[0].counters.gso_frames;
    const merged0 = (await v2.stats()).vnis[0].counters.gro_merged;
    await tcpTransfer(lab, c1, c2, "fd00::2", { bytes: "10M" });
    const after = (await v1.stats()).vnis[0].counters.gso_frames;
    assert.ok(after - before > 10, `IPv6 super-frames cut by the core: ${after - before}`);
    assert.ok((await v2.stats()).vnis[0].counters.gro_merged > merged0, "and merged on receive");
  },
);
