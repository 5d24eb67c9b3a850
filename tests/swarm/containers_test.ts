// Containers as Docker users expect them (issue 12), end to end in namespaces and driven only
// through the CLI: every daemon runs in a mount namespace of its own and every CLI call in fresh
// mount and network namespaces (Lab privateMounts), so nothing reaches a container but the daemon's
// API. Needs root (CI runs as root).

import assert from "node:assert/strict";
import { type Host, isRoot, Lab, sh, waitFor } from "../../cli/lab/mod.ts";
import { labTest, tsharkFields } from "../harness.ts";

const ignore = !isRoot();
const opts = { ignore, sanitizeOps: false, sanitizeResources: false };

/** N hosts, host 1 the manager, the others joined; daemons in private mount namespaces. */
async function swarm(lab: Lab, n: number, init: string[] = []): Promise<Host[]> {
  await lab.setup(n);
  await Promise.all(lab.hosts.map((h) => lab.startDaemon(h)));
  const [h1, ...rest] = lab.hosts;
  const out = (await lab.weft(h1, ["swarm", "init", "--advertise-addr", h1.addr, ...init])).stdout;
  const join = out.split("\n").find((l) => l.includes("weft swarm join --token"))!.trim().split(/\s+/).slice(
    1,
  );
  await Promise.all(rest.map((h) => lab.weft(h, [...join, "--advertise-addr", h.addr])));
  return lab.hosts;
}

async function inspect(lab: Lab, h: Host, name: string) {
  return JSON.parse((await lab.weft(h, ["inspect", name])).stdout)[0];
}

async function execPing(lab: Lab, h: Host, c: string, to: string, extra: string[] = []) {
  return await lab.weft(h, ["exec", c, "--", "ping", ...extra, "-c", "1", "-W", "1", to], false);
}

labTest(
  "every container has a process; exec works from other mount and network namespaces; a daemon restart strands none",
  { ...opts, lab: { privateMounts: true } },
  async (lab) => {
    const [h1, h2] = await swarm(lab, 2);
    await lab.weft(h1, ["network", "create", "-d", "overlay", "uber-net"]);
    const c1 = lab.c("c1"), c2 = lab.c("c2"), c3 = lab.c("c3");
    await lab.weft(h1, ["run", "-d", "--name", c1, "--network", "uber-net"]); // no CMD: a placeholder
    await lab.weft(h2, ["run", "-d", "--name", c2, "--network", "uber-net", "--", "sleep", "300"]);

    const i1 = await inspect(lab, h1, c1), i2 = await inspect(lab, h2, c2);
    assert.equal(i1.Name, `/${c1}`);
    assert.equal(i1.State.Running, true);
    assert.ok(i1.State.Pid > 1 && i2.State.Pid > 1, `Pids: ${i1.State.Pid} ${i2.State.Pid}`);
    assert.equal(i1.Config.Cmd, null);
    assert.deepEqual(i2.Config.Cmd, ["sleep", "300"]);
    assert.equal(i2.NetworkSettings.Networks["uber-net"].IPAddress, "10.0.0.3");

    // The daemon's names under /run/netns are not visible here (the issue's "Invalid argument").
    assert.notEqual((await sh(["ip", "netns", "exec", c1, "true"], { check: false })).code, 0);
    const addr = await lab.weft(h1, ["exec", c1, "--", "ip", "-o", "-4", "addr", "show", "eth0"]);
    assert.match(addr.stdout, /inet 10\.0\.0\.2\/24/);
    const exit = await lab.weft(
      h2,
      ["exec", c2, "--", "sh", "-c", "echo out; echo err >&2; exit 7"],
      false,
    );
    assert.deepEqual([exit.code, exit.stdout, exit.stderr], [7, "out\n", "err\n"]);
    // The container's own process is what exec joins: the same network namespace as its CMD.
    const self = await lab.weft(h2, [
      "exec",
      c2,
      "--",
      "sh",
      "-c",
      `readlink /proc/self/ns/net /proc/${i2.State.Pid}/ns/net`,
    ]);
    const [a, b] = self.stdout.trim().split("\n");
    assert.equal(a, b);
    await waitFor("c1 → c2 across hosts", async () => (await execPing(lab, h1, c1, "10.0.0.3")).code === 0);

    // A CMD that exits leaves a container that is not running: exec says so.
    await lab.weft(h1, ["run", "-d", "--name", c3, "--network", "uber-net", "--", "true"]);
    await waitFor("c3 exited", async () => (await inspect(lab, h1, c3)).State.Running === false);
    const dead = await lab.weft(h1, ["exec", c3, "--", "true"], false);
    assert.equal(dead.code, 2);
    assert.equal(dead.stderr, `error: container ${c3} is not running\n`);
    assert.equal((await inspect(lab, h1, c3)).State.Pid, 0);

    // Both daemons stop (the manager killed, the worker told to): the containers' processes
    // keep running; eth0 (a TAP the daemon held) is gone until the daemon is back.
    await Promise.all([lab.stopDaemon(h1, "SIGKILL"), lab.stopDaemon(h2, "SIGTERM")]);
    // Each comes back in a new mount namespace: the old /run/netns names died with the old one.
    await Promise.all([lab.startDaemon(h1), lab.startDaemon(h2)]);
    const j1 = await inspect(lab, h1, c1), j2 = await inspect(lab, h2, c2);
    assert.equal(j1.State.Pid, i1.State.Pid, "same process after the restart");
    assert.equal(j2.State.Pid, i2.State.Pid, "same process after the restart");
    assert.equal(j2.NetworkSettings.Networks["uber-net"].Interface.Up, true);
    await waitFor(
      "c2 → c1 after both restarts",
      async () => (await execPing(lab, h2, c2, "10.0.0.2")).code === 0,
    );

    await lab.weft(h2, ["rm", "-f", c2]);
    await waitFor("c2's process gone", async () => {
      try {
        Deno.statSync(`/proc/${i2.State.Pid}/ns`);
        return false;
      } catch {
        return true;
      }
    });
    const gone = await lab.weft(h2, ["exec", c2, "--", "true"], false);
    assert.equal(gone.stderr, `error: no such container: ${c2}\n`);
  },
);

/**
 * Runs `send` again and again until the capture `dump` (a bounded tcpdump -c N, started first)
 * has its packets: however late tcpdump attaches under load, it sees some. Returns dump's result.
 */
async function whileCapturing<T>(
  dump: Promise<T>,
  send: () => Promise<unknown>,
  timeoutMs = 20000,
): Promise<T> {
  let done = false;
  dump.finally(() => done = true).catch(() => {});
  // Sends until the capture ends (at its first match, or its own timeout), at most timeoutMs.
  await waitFor("the capture", async () => (await send(), done), timeoutMs, 0).catch(() => {});
  return await dump;
}

/** `tcpdump -c 1` of one ICMP echo request: its source address. */
async function firstEchoSource(dump: Promise<{ stdout: string }>, send: () => Promise<unknown>) {
  const out = (await whileCapturing(dump, send)).stdout;
  return /IP (\d+\.\d+\.\d+\.\d+) > /.exec(out)?.[1];
}

labTest(
  "weft_gwbridge: eth1 and a default route, egress masqueraded to the host's address, none from --internal, the overlay never NATed",
  { ...opts, lab: { privateMounts: true } },
  async (lab) => {
    const [h1, h2] = await swarm(lab, 2);
    await lab.weft(h1, ["network", "create", "-d", "overlay", "pub"]);
    await lab.weft(h1, ["network", "create", "-d", "overlay", "--internal", "priv"]);
    await lab.weft(h1, ["network", "create", "-d", "overlay", "other"]);
    const c1 = lab.c("c1"), c2 = lab.c("c2"), p1 = lab.c("p1"), o1 = lab.c("o1");
    await lab.weft(h1, ["run", "-d", "--name", c1, "--network", "pub"]);
    await lab.weft(h2, ["run", "-d", "--name", c2, "--network", "pub"]);
    await lab.weft(h1, ["run", "-d", "--name", p1, "--network", "priv"]);
    await lab.weft(h1, ["run", "-d", "--name", o1, "--network", "other"]);
    const table = (
      h: Host,
    ) => ["ip", "netns", "exec", h.ns, "nft", "list", "table", "ip", `${lab.prefix}_${h.name}`];

    for (const h of [h1, h2]) {
      assert.match(
        (await lab.weft(h, ["network", "ls"])).stdout,
        /\n[0-9a-f]{12}\s+weft_gwbridge\s+bridge\s+local\n?/,
      );
    }
    const eth1 = await lab.weft(h1, [
      "exec",
      c1,
      "--",
      "sh",
      "-c",
      "ip -o -4 addr show eth1; ip route show default",
    ]);
    assert.match(eth1.stdout, /eth1\s+inet 172\.18\.0\.2\/16/);
    assert.match(eth1.stdout, /default via 172\.18\.0\.1 dev eth1/);
    assert.match(
      (await sh(table(h1))).stdout,
      /ip saddr 172\.18\.0\.0\/16 oifname != "weft_gwbridge" masquerade/,
    );
    // Forwarding on the bridge and the uplink only, not host-wide.
    const fwd = await sh([
      "ip",
      "netns",
      "exec",
      h1.ns,
      "sh",
      "-c",
      "cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/weft_gwbridge/forwarding /proc/sys/net/ipv4/conf/eth0/forwarding /proc/sys/net/ipv4/conf/lo/forwarding",
    ]);
    assert.deepEqual(fwd.stdout.split("\n").slice(0, 4), ["0", "1", "1", "0"]);

    // Out: c1 → host 2's underlay address (the outside), seen there from host 1's address.
    // The first echo request on eth0 within 15 s, as tcpdump prints it.
    const firstEcho = ["timeout", "15", "tcpdump", "-c", "1", "-n", "-i", "eth0", "icmp[icmptype] == 8"];
    const outside = lab.inContainer(h2.ns, firstEcho, false);
    await waitFor("c1 → outside", async () => (await execPing(lab, h1, c1, h2.addr)).code === 0);
    const src = await firstEchoSource(outside, () => execPing(lab, h1, c1, h2.addr));
    assert.equal(src, h1.addr, "masqueraded to the host's address");
    // The overlay keeps the containers' own addresses.
    const inside = lab.weft(h2, ["exec", c2, "--", ...firstEcho], false);
    await waitFor("c1 → c2", async () => (await execPing(lab, h1, c1, "10.0.0.3")).code === 0);
    const osrc = await firstEchoSource(inside, () => execPing(lab, h1, c1, "10.0.0.3"));
    assert.equal(osrc, "10.0.0.2");

    // No way between two networks through weft_gwbridge (Docker's enable_icc=false): o1 (on
    // another overlay, eth1 172.18.0.3) is out of c1's reach, the gateway is not.
    const icc = await lab.weft(h1, [
      "exec",
      c1,
      "--",
      "sh",
      "-c",
      "ping -c 1 -W 1 172.18.0.1 && ! ping -c 2 -W 1 172.18.0.3",
    ], false);
    assert.equal(icc.code, 0, icc.stdout + icc.stderr);

    // --internal: no eth1, no default route, no way out.
    const p = await lab.weft(h1, [
      "exec",
      p1,
      "--",
      "sh",
      "-c",
      "ip -o link show eth1; ip route show default; ping -c 1 -W 1 " + h2.addr,
    ], false);
    assert.notEqual(p.code, 0);
    assert.match(p.stderr, /does not exist/);
    assert.match(p.stderr, /Network is unreachable/);

    // A daemon stop takes its NAT table; its restart brings it back.
    await lab.stopDaemon(h2, "SIGTERM");
    assert.notEqual((await sh(table(h2), { check: false })).code, 0);
    await lab.startDaemon(h2);
    await sh(table(h2));
    await waitFor(
      "c2 → outside after restart",
      async () => (await execPing(lab, h2, c2, h1.addr)).code === 0,
    );

    // The last container with eth1 takes bridge, table and forwarding with it; p1 stays.
    await lab.weft(h1, ["rm", c1, o1]);
    assert.notEqual((await sh(table(h1), { check: false })).code, 0);
    assert.notEqual(
      (await sh(["ip", "-n", h1.ns, "link", "show", "weft_gwbridge"], { check: false })).code,
      0,
    );
    assert.equal(
      (await sh(["ip", "netns", "exec", h1.ns, "cat", "/proc/sys/net/ipv4/conf/eth0/forwarding"])).stdout,
      "0\n",
    );
    assert.doesNotMatch((await lab.weft(h1, ["network", "ls"])).stdout, /weft_gwbridge/);
  },
);

labTest(
  "Docker's options: IPv6 overlay (ping -6 across, NS answered locally), --ip-range, --gateway, --label, MTU from the option and from each node's underlay, --data-path-port/-addr on the wire, network connect/disconnect",
  { ...opts, lab: { privateMounts: true } },
  async (lab) => {
    await lab.setup(2);
    const [h1, h2] = lab.hosts;
    // A second underlay address per host for the data path, and a smaller MTU under node2.
    for (const [i, h] of [[1, h1], [2, h2]] as const) {
      await sh(["ip", "-n", h.ns, "addr", "add", `198.19.0.${i}/24`, "dev", "eth0"]);
    }
    await sh(["ip", "-n", h2.ns, "link", "set", "eth0", "mtu", "1480"]);
    await Promise.all(lab.hosts.map((h) => lab.startDaemon(h)));
    const init = (await lab.weft(h1, [
      "swarm",
      "init",
      "--advertise-addr",
      h1.addr,
      "--data-path-addr",
      "198.19.0.1",
      "--data-path-port",
      "7789",
      "--default-addr-pool",
      "10.20.0.0/16",
      "--default-addr-pool-mask-length",
      "26",
    ])).stdout;
    const join = init.split("\n").find((l) => l.includes("weft swarm join --token"))!.trim().split(/\s+/)
      .slice(1);
    await lab.weft(h2, [...join, "--advertise-addr", h2.addr, "--data-path-addr", "198.19.0.2"]);

    await lab.weft(h1, [
      "network",
      "create",
      "-d",
      "overlay",
      "--ipv6",
      "--subnet",
      "10.10.0.0/24",
      "--subnet",
      "fd00:10::/64",
      "--gateway",
      "fd00:10::ff",
      "--ip-range",
      "10.10.0.128/25",
      "--label",
      "team=blue",
      "--attachable",
      "-o",
      "com.docker.network.driver.mtu=1400",
      "v6",
    ]);
    await lab.weft(h1, ["network", "create", "-d", "overlay", "auto"]);
    const c1 = lab.c("c1"), c2 = lab.c("c2"), a2 = lab.c("a2");
    await lab.weft(h1, ["run", "-d", "--name", c1, "--network", "v6"]);
    await lab.weft(h2, ["run", "-d", "--name", c2, "--network", "v6"]);
    await lab.weft(h2, ["run", "-d", "--name", a2, "--network", "auto"]);

    const pcap = `${lab.dir}/dp.pcap`;
    const dump = sh([
      "ip",
      "netns",
      "exec",
      h1.ns,
      "timeout",
      "20",
      "tcpdump",
      "-U",
      "-c",
      "4",
      "-n",
      "-i",
      "eth0",
      "-w",
      pcap,
      "udp",
      "port",
      "7789",
    ], { check: false });
    await waitFor(
      "ping -6 c1 → c2",
      async () => (await execPing(lab, h1, c1, "fd00:10::2", ["-6"])).code === 0,
    );
    assert.equal((await execPing(lab, h1, c1, "10.10.0.129")).code, 0);
    await whileCapturing(dump, () => execPing(lab, h1, c1, "10.10.0.129"));
    const rows = (await tsharkFields(pcap, ["ip.src", "ip.dst", "udp.dstport", "vxlan.vni"], {
      filter: "vxlan.flag_i==1",
      occurrence: "f",
      args: ["-d", "udp.port==7789,vxlan"],
    })).map((r) => r.join("\t"));
    assert.ok(rows.length >= 2, rows.join("\n"));
    for (const r of rows) assert.match(r, /^198\.19\.0\.[12]\t198\.19\.0\.[12]\t7789\t4096$/);
    // NS for c2's address answered by node1's switch (nd_reply), not flooded to node2.
    const stats = JSON.parse((await lab.weft(h1, ["stats", "--json"])).stdout);
    assert.ok(stats.vnis.find((v: { vni: number }) => v.vni === 4096).counters.nd_reply > 0);

    const i1 = (await inspect(lab, h1, c1)).NetworkSettings.Networks.v6;
    assert.deepEqual(
      [
        i1.IPAddress,
        i1.IPPrefixLen,
        i1.Gateway,
        i1.GlobalIPv6Address,
        i1.GlobalIPv6PrefixLen,
        i1.IPv6Gateway,
        i1.Interface.MTU,
      ],
      ["10.10.0.128", 24, "10.10.0.1", "fd00:10::1", 64, "fd00:10::ff", 1400],
    );
    const n = JSON.parse((await lab.weft(h1, ["network", "inspect", "v6"])).stdout)[0];
    assert.equal(n.EnableIPv6, true);
    assert.equal(n.Internal, false);
    assert.equal(n.Attachable, true);
    assert.deepEqual(n.IPAM.Config, [
      { Subnet: "10.10.0.0/24", IPRange: "10.10.0.128/25", Gateway: "10.10.0.1" },
      { Subnet: "fd00:10::/64", Gateway: "fd00:10::ff" },
    ]);
    assert.deepEqual(n.Labels, { team: "blue" });
    assert.equal(n.Options["com.docker.network.driver.mtu"], "1400");
    assert.equal(n.MTU, 1400);
    assert.deepEqual(Object.values(n.Containers).map((c: any) => [c.IPv4Address, c.IPv6Address]), [[
      "10.10.0.128/24",
      "fd00:10::1/64",
    ]]);
    assert.deepEqual(n.Peers.map((p: { IP: string }) => p.IP).sort(), ["198.19.0.1", "198.19.0.2"]);

    // MTU from the underlay: 1480 − 50 on node2, 1500 − 50 on node1; the subnet from the pool.
    const auto2 = JSON.parse((await lab.weft(h2, ["network", "inspect", "auto"])).stdout)[0];
    assert.deepEqual([
      auto2.MTU,
      auto2.IPAM.Config[0].Subnet,
      auto2.Options["com.docker.network.driver.mtu"],
    ], [1430, "10.20.0.0/26", undefined]);
    assert.equal(JSON.parse((await lab.weft(h1, ["network", "inspect", "auto"])).stdout)[0].MTU, 1450);
    assert.match(
      (await lab.weft(h2, ["exec", a2, "--", "ip", "-o", "link", "show", "eth0"])).stdout,
      /mtu 1430 /,
    );

    // connect: c1 (node1) joins auto as eth2 and reaches a2 on node2; disconnect takes it away.
    await lab.weft(h1, ["network", "connect", "auto", c1]);
    const eth2 = await lab.weft(h1, ["exec", c1, "--", "ip", "-o", "-4", "addr", "show", "eth2"]);
    assert.match(eth2.stdout, /inet 10\.20\.0\.3\/26/);
    await waitFor("c1 eth2 → a2", async () => (await execPing(lab, h1, c1, "10.20.0.2")).code === 0);
    assert.match(
      (await lab.weft(h1, ["ps"])).stdout,
      new RegExp(`${c1}\\s+v6,auto\\s+10\\.10\\.0\\.128,fd00:10::1,10\\.20\\.0\\.3\\s`),
    );
    const twice = await lab.weft(h1, ["network", "connect", "auto", c1], false);
    assert.deepEqual([twice.code, twice.stderr], [
      2,
      `error: container ${c1} is already attached to network auto\n`,
    ]);
    await lab.weft(h1, ["network", "disconnect", "auto", c1]);
    const gone = await lab.weft(h1, ["exec", c1, "--", "ip", "link", "show", "eth2"], false);
    assert.notEqual(gone.code, 0);
    assert.deepEqual(Object.keys((await inspect(lab, h1, c1)).NetworkSettings.Networks).sort(), [
      "v6",
      "weft_gwbridge",
    ]);
    const first = await lab.weft(h1, ["network", "disconnect", "v6", c1], false);
    assert.equal(first.code, 2);
    assert.match(first.stderr, /^error: network v6 is .*'s first network \(eth0\)/);
  },
);

labTest(
  "bad input gets one line and exit 2 and changes nothing: ports, pools, subnets, gateways, ranges, options, unknown names",
  { ...opts, lab: { privateMounts: true } },
  async (lab) => {
    await lab.setup(1);
    const [h1] = lab.hosts;
    await lab.startDaemon(h1);
    const refused = async (args: string[], message: RegExp) => {
      const r = await lab.weft(h1, args, false);
      assert.equal(r.code, 2, `weft ${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.split("\n").length, 2, `one line: ${r.stderr}`);
      assert.equal(r.stdout, "");
    };
    const init = ["swarm", "init", "--advertise-addr", h1.addr];
    await Promise.all([
      refused(
        [...init, "--data-path-port", "80"],
        /^error: --data-path-port must be in 1024\.\.49151, got "80"/,
      ),
      refused(
        [...init, "--data-path-port", "49152"],
        /^error: --data-path-port must be in 1024\.\.49151, got "49152"/,
      ),
      refused(
        [...init, "--default-addr-pool", "10.0.0.0/28", "--default-addr-pool-mask-length", "24"],
        /^error: invalid --default-addr-pool: mask length 24 does not fit 10\.0\.0\.0\/28/,
      ),
      refused(
        [...init, "--data-path-addr", "eth9"],
        /^error: --data-path-addr must be an IPv4 address of this host, got "eth9"/,
      ),
      refused(
        [...init, "--data-path-addr", "198.19.9.9"],
        /^error: --data-path-addr 198\.19\.9\.9 is not an address of this host/,
      ),
    ]);
    await lab.weft(h1, init); // nothing above left a half-made swarm behind

    const create = ["network", "create", "-d", "overlay"];
    const c1 = lab.c("c1");
    await Promise.all([
      refused(
        [...create, "--subnet", "172.18.3.0/24", "n"],
        /^error: subnet 172\.18\.3\.0\/24 overlaps weft_gwbridge's 172\.18\.0\.0\/16/,
      ),
      refused(
        [...create, "--subnet", "10.1.0.0/24", "--gateway", "10.2.0.1", "n"],
        /^error: no matching subnet for gateway 10\.2\.0\.1$/m,
      ),
      refused(
        [...create, "--subnet", "10.1.0.0/24", "--ip-range", "10.1.1.0/25", "n"],
        /^error: no matching subnet for range 10\.1\.1\.0\/25$/m,
      ),
      refused(
        [...create, "--subnet", "10.1.0.0/31", "n"],
        /^error: subnet 10\.1\.0\.0\/31 is too small: at most \/30/,
      ),
      refused([...create, "--subnet", "fd00:1::/64", "n"], /^error: IPv6 subnet fd00:1::\/64 needs --ipv6/),
      refused([...create, "--ipv6", "n"], /^error: --ipv6 needs an IPv6 --subnet/),
      refused(
        [...create, "-o", "com.docker.network.driver.mtu=abc", "n"],
        /^error: com\.docker\.network\.driver\.mtu must be an integer in 68\.\.65535, got "abc"/,
      ),
      refused(
        [...create, "-o", "com.docker.network.driver.overlay.vxlanid_list=42", "n"],
        /^error: unsupported option "com.docker.network.driver.overlay.vxlanid_list"/,
      ),
      refused(["run", "-d", "--name", c1, "--network", "nope"], /^error: network nope not found/),
      refused(["inspect", "ghost"], /^error: no such container: ghost$/m),
      refused(["exec", "ghost", "--", "true"], /^error: no such container: ghost$/m),
      refused(["rm", "ghost"], /^error: no such container: ghost$/m),
      refused(["network", "connect", "auto", "ghost"], /^error: no such container: ghost$/m),
    ]);
    assert.equal((await lab.weft(h1, ["network", "ls", "-q"])).stdout, "", "no network was made");
    assert.equal(JSON.parse((await lab.weft(h1, ["ps", "--format", "json"])).stdout).length, 0);
    await lab.weft(h1, [...create, "good"]);
    await lab.weft(h1, ["run", "-d", "--name", c1, "--network", "good"]);
    await refused(["network", "connect", "nope", c1], /^error: network nope not found/);
    await refused(["run", "-d", "--name", c1, "--network", "good"], /already in use/);
    const ps = JSON.parse((await lab.weft(h1, ["ps", "--format", "json"])).stdout);
    assert.deepEqual(ps.map((c: { ip: string; connected?: unknown[] }) => [c.ip, c.connected ?? []]), [[
      "10.0.0.2",
      [],
    ]]);
  },
);
