// wireguard-go (Debian's /usr/bin/wireguard-go, configured with `wg` from wireguard-tools) as a
// two-host layer-3 tunnel: a userspace encrypted tunnel (ChaCha20-Poly1305, Noise IK), the
// reference weft's encrypted networks should beat. One wg interface per host namespace, run by
// wireguard-go in the foreground (WG_PROCESS_FOREGROUND=1: the lab owns the process and stops
// it); the container reaches it through a routed veth, as in e2e_bench.ts's plain veth topology.

import { type Lab, type Process, waitForLink } from "../../cli/lab/mod.ts";

export interface WgNode {
  host: string;
  container: string;
  /** Underlay address the peer sends to. */
  underlay: string;
  /** The container's address (no prefix); the peer's host routes it into the tunnel. */
  overlay: string;
  /** wg interface name (≤ 15 characters, with the lab's per-run prefix). */
  iface: string;
}

/** WireGuard's customary port (wg(8) examples); each host has its own namespace. */
const WG_PORT = 51820;

async function wg(args: string[], stdin?: string): Promise<string> {
  const p = new Deno.Command("wg", { args, stdin: "piped", stdout: "piped", stderr: "piped" }).spawn();
  const w = p.stdin.getWriter();
  if (stdin !== undefined) await w.write(new TextEncoder().encode(stdin));
  await w.close();
  const r = await p.output();
  if (!r.success) throw new Error(`wg ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
  return new TextDecoder().decode(r.stdout).trim();
}

/**
 * A wireguard-go tunnel between two hosts, each container routed through it at MTU `mtu` (the
 * wg interface's too: wireguard-go's default is 1420 over a 1500-byte underlay). Keys go to files
 * under `dir` (the caller removes it). Returns the wireguard-go processes (for CPU time).
 */
export async function wireguardPair(
  lab: Lab,
  dir: string,
  a: WgNode,
  b: WgNode,
  mtu: number,
): Promise<Process[]> {
  const keys = [];
  for (const n of [a, b]) {
    const priv = await wg(["genkey"]);
    const file = `${dir}/${n.iface}.key`;
    await Deno.writeTextFile(file, priv + "\n", { mode: 0o600 });
    keys.push({ file, pub: await wg(["pubkey"], priv + "\n") });
  }
  const daemons: Process[] = [];
  for (const [i, [n, peer]] of [[a, b], [b, a]].entries()) {
    const x = (ns: string, cmd: string[]) => lab.exec(ns, cmd, { check: true });
    const p = lab.spawn(
      n.host,
      ["env", "WG_PROCESS_FOREGROUND=1", "wireguard-go", n.iface],
      `wireguard-go ${n.iface}`,
    );
    daemons.push(p);
    await waitForLink(n.host, n.iface, p);
    await x(n.host, [
      "wg",
      "set",
      n.iface,
      ...["private-key", keys[i].file, "listen-port", String(WG_PORT)],
      ...[
        "peer",
        keys[1 - i].pub,
        "allowed-ips",
        `${peer.overlay}/32`,
        "endpoint",
        `${peer.underlay}:${WG_PORT}`,
      ],
    ]);
    await x(n.host, ["ip", "link", "set", n.iface, "mtu", String(mtu), "up"]);
    // The container's side: a routed veth, the host answering ARP for the peer container by proxy.
    await x(n.host, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    await lab.veth(n.host, "vc", undefined, n.container, "eth0", `${n.overlay}/24`);
    await x(n.container, ["ip", "link", "set", "eth0", "mtu", String(mtu)]);
    await x(n.host, ["sysctl", "-qw", "net.ipv4.conf.vc.proxy_arp=1"]);
    await x(n.host, ["ip", "route", "add", `${n.overlay}/32`, "dev", "vc"]);
    await x(n.host, ["ip", "route", "add", `${peer.overlay}/32`, "dev", n.iface]);
  }
  return daemons;
}
