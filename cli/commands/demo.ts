// `weft demo` (npm run demo): the seed's walkthrough on one machine. Two hosts are network
// namespaces on an underlay bridge (198.18.0.0/24); each runs a weft daemon; the transcript shows
// every command and its output, then a VXLAN packet captured on the underlay, then cleans up.

import { type Host, Lab, sh } from "../control/daemon/lab.ts";

function show(prompt: string, cmd: string, out: string): void {
  console.log(`${prompt}$ ${cmd}`);
  const text = out.trimEnd();
  if (text) console.log(text);
  console.log();
}

export async function main(_args: string[]): Promise<number> {
  if (Deno.uid() !== 0) {
    console.error("weft demo needs root (network namespaces, TAP devices): run it with sudo");
    return 1;
  }
  const lab = new Lab();
  const stop = () => lab.close().finally(() => Deno.exit(130));
  Deno.addSignalListener("SIGINT", stop);
  const timer = setTimeout(() => {
    console.error("weft demo: timed out after 120 s; cleaning up");
    stop();
  }, 120_000);
  try {
    console.log(
      "# Two hosts, node1 (198.18.0.1) and node2 (198.18.0.2), on one underlay; a weft daemon on each.\n",
    );
    await lab.setup(2);
    const [h1, h2] = lab.hosts;
    await Promise.all([lab.startDaemon(h1), lab.startDaemon(h2)]);
    const run = async (h: Host, args: string[]) => {
      const r = await lab.weft(h, args, false);
      show(h.name, `weft ${args.join(" ")}`, r.stdout + r.stderr);
      if (r.code !== 0) throw new Error(`weft ${args.join(" ")} failed`);
      return r.stdout;
    };
    const init = await run(h1, [
      "swarm",
      "init",
      "--advertise-addr",
      h1.addr,
      "--listen-addr",
      `${h1.addr}:2377`,
    ]);
    const join = init.split("\n").find((l) => l.includes("weft swarm join"))!.trim().split(/\s+/).slice(1);
    await run(h2, [...join, "--advertise-addr", h2.addr, "--listen-addr", `${h2.addr}:2377`]);
    await run(h1, ["node", "ls"]);
    await run(h1, ["network", "create", "-d", "overlay", "uber-net"]);
    await run(h1, ["network", "ls"]);
    console.log(
      "# node2 cannot see uber-net yet: overlays reach a worker only with its first container on them.\n",
    );
    await run(h2, ["network", "ls"]);
    const c1 = lab.c("c1"), c2 = lab.c("c2");
    await run(h1, ["run", "-d", "--name", c1, "--network", "uber-net", "--", "sleep", "3600"]);
    await run(h2, [
      "run",
      "-d",
      "--name",
      c2,
      "--network",
      "uber-net",
      "--network-alias",
      "web",
      "--",
      "sleep",
      "3600",
    ]);
    await run(h2, ["network", "ls"]);
    await run(h1, ["ps"]);
    await run(h2, ["ps"]);

    // Capture the underlay on node1 while c1 pings c2.
    const pcap = `${lab.dir}/underlay.pcap`;
    const dump = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        h1.ns,
        "tcpdump",
        "-i",
        "eth0",
        "-n",
        "-U",
        "-c",
        "4",
        "-w",
        pcap,
        "udp",
        "port",
        "4789",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await new Promise((r) => setTimeout(r, 700));
    const ping = await lab.weft(h1, ["exec", c1, "--", "ping", "-c", "3", "-i", "0.3", "10.0.0.3"], false);
    show(`${c1}`, "ping -c 3 10.0.0.3", ping.stdout + ping.stderr);
    await Promise.race([dump.status, new Promise((r) => setTimeout(r, 3000))]);
    try {
      dump.kill("SIGTERM");
    } catch { /* exited */ }
    await dump.status;
    console.log(
      "# Names: 127.0.0.11 in every container answers container names and --network-alias names\n" +
        "# of its networks, on any host (the rest goes to the host's resolvers).\n",
    );
    const resolv = await lab.weft(h1, ["exec", c1, "--", "grep", "-v", "^#", "/etc/resolv.conf"], false);
    show(`${c1}`, "grep -v ^# /etc/resolv.conf", resolv.stdout + resolv.stderr);
    const byName = await lab.weft(h1, ["exec", c1, "--", "getent", "hosts", c2], false);
    show(`${c1}`, `getent hosts ${c2}`, byName.stdout + byName.stderr);
    const byAlias = await lab.weft(h1, ["exec", c1, "--", "ping", "-c", "2", "-i", "0.3", "web"], false);
    show(`${c1}`, "ping -c 2 web", byAlias.stdout + byAlias.stderr);
    await run(h1, ["network", "inspect", "uber-net"]);
    await run(h1, ["fdb", "--network", "uber-net"]);
    const summary = await sh(["tshark", "-r", pcap, "-d", "udp.port==4789,vxlan", "-c", "2"], {
      check: false,
    });
    show("node1", "tshark -r underlay.pcap -d udp.port==4789,vxlan -c 2", summary.stdout);
    const detail = await sh([
      "tshark",
      "-r",
      pcap,
      "-d",
      "udp.port==4789,vxlan",
      "-c",
      "1",
      "-O",
      "vxlan,udp",
      "-V",
    ], { check: false });
    const lines = detail.stdout.split("\n").filter((l) =>
      /^(Frame|Internet Protocol|User Datagram|Virtual eXtensible|Ethernet II| {4}(Source|Destination|Flags|VXLAN Network|Reserved)|Internet Control)/
        .test(l)
    );
    show("node1", "tshark -r underlay.pcap -d udp.port==4789,vxlan -c 1 -O vxlan,udp -V", lines.join("\n"));
    await run(h1, ["rm", "-f", c1]);
    await run(h2, ["rm", "-f", c2]);
    await run(h1, ["network", "rm", "uber-net"]);
    await run(h2, ["swarm", "leave"]);
    await run(h1, ["swarm", "leave", "--force"]);
    return ping.code === 0 && byName.code === 0 && byAlias.code === 0 ? 0 : 1;
  } catch (e) {
    console.error(`weft demo failed: ${e instanceof Error ? e.message : e}`);
    for (const h of lab.hosts) {
      console.error(`--- ${h.name} daemon log ---\n${await Deno.readTextFile(h.log).catch(() => "")}`);
    }
    return 1;
  } finally {
    clearTimeout(timer);
    await lab.close();
    console.log("# cleaned up: daemons stopped, namespaces deleted.");
  }
}
