// `weft demo` (npm run demo): the seed's walkthrough on one machine. Two hosts are network
// namespaces on an underlay bridge (198.18.0.0/24); each runs a weft daemon; the transcript shows
// every command and its output, then the VXLAN packets of a ping captured on the underlay and
// decapsulated by `weft pcap decap` (tshark's decode too, when it is installed), then cleans up.
// No step needs tcpdump or tshark; a failure prints one line and still cleans up.

import { type Host, Lab, sh } from "../lab/mod.ts";
import { PacketCapture } from "../phy/packet.ts";
import { PcapWriter } from "../pcap/pcap.ts";
import { main as pcapMain } from "./pcap.ts";
import { CONTROL_PORT, VXLAN_PORT } from "../defaults.ts";

/** One transcript step: the prompt and command, its output, a blank line (demo and demo-ha). */
export function show(prompt: string, cmd: string, out: string): void {
  console.log(`${prompt}$ ${cmd}`);
  const text = out.trimEnd();
  if (text) console.log(text);
  console.log();
}

/** Exit status of a demo run without root: weft's bad-input status, as `weft vtep` and prereq.mjs. */
export const EXIT_NOT_ROOT = 2;

/** Prints `error: weft NAME needs root …` when this process is not root: false then, true when it is. */
export function checkRoot(name: string): boolean {
  if (Deno.uid() === 0) return true;
  console.error(`error: weft ${name} needs root (network namespaces, TAP devices): run it with sudo`);
  return false;
}

/**
 * On SIGINT, or `seconds` after the start (a demo must not hang a terminal or CI), runs `cleanup` and
 * exits 130 (128 + SIGINT, the shell's status for an interrupted command). Returns the timer, which
 * the demo clears when it ends by itself.
 */
export function stopOnInterrupt(
  name: string,
  seconds: number,
  cleanup: () => Promise<void>,
): ReturnType<typeof setTimeout> {
  const stop = () => cleanup().finally(() => Deno.exit(130));
  Deno.addSignalListener("SIGINT", stop);
  return setTimeout(() => {
    console.error(`error: weft ${name} timed out after ${seconds} s; cleaning up`);
    stop();
  }, seconds * 1000);
}

export async function main(_args: string[]): Promise<number> {
  if (!checkRoot("demo")) return EXIT_NOT_ROOT;
  const lab = new Lab();
  const timer = stopOnInterrupt("demo", 120, () => lab.close());
  try {
    console.log(
      "# Two hosts, node1 (198.18.0.1) and node2 (198.18.0.2), on one underlay; a weft daemon on each.\n" +
        `# (network namespaces ${lab.prefix}h1, ${lab.prefix}h2 and ${lab.prefix}ul, deleted at the end)\n`,
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
      `${h1.addr}:${CONTROL_PORT}`,
    ]);
    const join = init.split("\n").find((l) => l.includes("weft swarm join"))!.trim().split(/\s+/).slice(1);
    await run(h2, [...join, "--advertise-addr", h2.addr, "--listen-addr", `${h2.addr}:${CONTROL_PORT}`]);
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

    // Capture the underlay on node1 while c1 pings c2, with weft's own packet socket (what
    // tcpdump opens): the demo needs no capture tool. Frames queue in the socket until read.
    const capture = openCapture(h1);
    const ping = await lab.weft(h1, ["exec", c1, "--", "ping", "-c", "3", "-i", "0.3", "10.0.0.3"], false);
    show(`${c1}`, "ping -c 3 10.0.0.3", ping.stdout + ping.stderr);
    console.log(
      "# A way out: eth1 on weft_gwbridge (172.18.0.0/16), masqueraded to node1's address. node2's\n" +
        "# underlay address stands in for the outside.\n",
    );
    const out = await lab.weft(h1, ["exec", c1, "--", "ping", "-c", "1", "-W", "2", h2.addr], false);
    show(`${c1}`, `ping -c 1 ${h2.addr}`, out.stdout + out.stderr);
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
    if (capture) await showCapture(capture, lab.dir);
    await run(h1, ["rm", "-f", c1]);
    await run(h2, ["rm", "-f", c2]);
    await run(h1, ["network", "rm", "uber-net"]);
    await run(h2, ["swarm", "leave"]);
    await run(h1, ["swarm", "leave", "--force"]);
    const failures = [
      [ping.code, `${c1} could not ping ${c2}`],
      [out.code, `${c1} could not reach ${h2.addr} through weft_gwbridge`],
      [byName.code, `${c1} could not resolve ${c2}`],
      [byAlias.code, `${c1} could not ping the alias web`],
    ].filter(([code]) => code !== 0).map(([code, what]) => `${what} (exit ${code})`);
    if (failures.length === 0) return 0;
    console.error(`error: weft demo failed: ${failures.join("; ")}`);
    return 1;
  } catch (e) {
    // One line: what failed, and where the daemons' logs are kept (the lab's dir goes).
    const what = (e instanceof Error ? e.message : String(e)).trim().replace(/\s*\n\s*/g, "; ");
    console.error(`error: weft demo failed: ${what}${await keepLogs(lab)}`);
    return 1;
  } finally {
    clearTimeout(timer);
    await lab.close();
    console.log("# cleaned up: daemons stopped, namespaces deleted.");
  }
}

/** A capture of node1's underlay (eth0, VXLAN only), or a one-line note and none. */
function openCapture(h: Host): PacketCapture | undefined {
  try {
    return PacketCapture.open({ ifname: "eth0", netns: h.ns, udpDstPort: VXLAN_PORT });
  } catch (e) {
    console.log(`# underlay capture skipped: ${e instanceof Error ? e.message : e}\n`);
    return undefined;
  }
}

/** Writes what the capture holds to DIR/underlay.pcap and decodes it with weft, then tshark. */
async function showCapture(capture: PacketCapture, dir: string): Promise<void> {
  let packets;
  try {
    packets = capture.drain();
  } finally {
    capture.close();
  }
  const w = new PcapWriter();
  for (const p of packets) w.write(p.time, p.data, p.origLen);
  await Deno.writeFile(`${dir}/underlay.pcap`, w.bytes());
  console.log(
    `# node1's underlay during the ping, as weft captured it on eth0 (a packet socket, udp dst port ` +
      `${VXLAN_PORT}): ${packets.length} VXLAN datagrams. The same Wasm core decapsulates them offline:\n`,
  );
  // Relative names in the transcript: run in the lab's directory.
  const cwd = Deno.cwd();
  Deno.chdir(dir);
  try {
    console.log("node1$ weft pcap decap underlay.pcap inner.pcap");
    const code = await pcapMain(["decap", "underlay.pcap", "inner.pcap"]);
    if (code !== 0) throw new Error(`weft pcap decap failed (exit ${code})`);
    console.log();
    await showTshark();
  } finally {
    Deno.chdir(cwd);
  }
}

/** tshark's own decode of the capture, or a note that it is not installed. */
async function showTshark(): Promise<void> {
  const vxlan = ["-d", `udp.port==${VXLAN_PORT},vxlan`];
  let summary;
  try {
    summary = await sh(["tshark", "-r", "underlay.pcap", ...vxlan, "-c", "2"], { check: false });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    console.log(
      "# tshark is not installed: skipping its decode of underlay.pcap " +
        "(apt-get install -y --no-install-recommends tshark adds it).\n",
    );
    return;
  }
  show("node1", `tshark -r underlay.pcap ${vxlan.join(" ")} -c 2`, summary.stdout);
  const detail = await sh(["tshark", "-r", "underlay.pcap", ...vxlan, "-c", "1", "-O", "vxlan,udp", "-V"], {
    check: false,
  });
  const lines = detail.stdout.split("\n").filter((l) =>
    /^(Frame|Internet Protocol|User Datagram|Virtual eXtensible|Ethernet II| {4}(Source|Destination|Flags|VXLAN Network|Reserved)|Internet Control)/
      .test(l)
  );
  show("node1", `tshark -r underlay.pcap ${vxlan.join(" ")} -c 1 -O vxlan,udp -V`, lines.join("\n"));
}

/** Copies the daemons' logs out of the lab's directory (deleted by close()); "" when there are none. */
async function keepLogs(lab: Lab): Promise<string> {
  const hosts = lab.hosts.filter((h) => {
    try {
      return Deno.statSync(h.log).size > 0;
    } catch {
      return false;
    }
  });
  if (hosts.length === 0) return "";
  try {
    const dir = await Deno.makeTempDir({ prefix: "weft-demo-logs-" });
    for (const h of hosts) await Deno.copyFile(h.log, `${dir}/${h.name}.log`);
    return ` (daemon logs in ${dir})`;
  } catch {
    return "";
  }
}
