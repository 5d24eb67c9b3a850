// tinc 1.0 (Debian's /usr/sbin/tincd) as a two-node layer-2 switch: the userspace TAP/UDP learning
// switch users know, as a reference for weft. Mode = switch, Cipher = none, Digest = none, so what
// is left is tinc's own per-packet path (read TAP → UDP sendto, recvfrom → write TAP); or, with
// `cipher`, tinc 1.0's defaults (Cipher = blowfish in CBC mode, Digest = sha1 truncated to 4 bytes,
// tinc.conf(5)), the reference for weft's encrypted networks.
//
// Each host's tincd runs in the host namespace; its TAP is moved into the container namespace, as
// `weft vtep --netns` does, and addressed there. No tinc-up script: the bench configures the link.

import { type Lab, type Process, run, waitForLink } from "../../cli/lab/mod.ts";

export interface TincNode {
  /** tinc node name, also the file name under hosts/. */
  name: string;
  host: string;
  container: string;
  /** Underlay address the peer connects to. */
  underlay: string;
  /** Container address with prefix, e.g. 10.0.0.1/24. */
  overlay: string;
  /** TAP name (≤ 15 characters). */
  tap: string;
}

const TINC_PORT = 655;
/** RSA keys authenticate the meta connection (and, with a cipher, exchange the packet keys). */
const KEY_BITS = 2048;

/** Writes tinc.conf and hosts/NAME for `node` under `dir`, then generates its RSA key pair. */
async function configure(dir: string, node: TincNode, peer: TincNode, cipher: boolean): Promise<void> {
  await Deno.mkdir(`${dir}/hosts`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/tinc.conf`,
    [
      `Name = ${node.name}`,
      "Mode = switch",
      `ConnectTo = ${peer.name}`,
      "DeviceType = tap",
      `Interface = ${node.tap}`,
      "AddressFamily = ipv4",
      "",
    ].join("\n"),
  );
  // Cipher and Digest are per-host settings in tinc 1.0; both ends read both host files. Left
  // out, they are tinc's defaults.
  const plain = cipher ? [] : ["Cipher = none", "Digest = none"];
  await Deno.writeTextFile(
    `${dir}/hosts/${node.name}`,
    [`Address = ${node.underlay}`, `Port = ${TINC_PORT}`, ...plain, ""].join("\n"),
  );
  // -K is non-interactive when stdin is not a terminal: it writes rsa_key.priv and appends the
  // public key to hosts/NAME.
  await run(["tincd", "-c", dir, `-K${KEY_BITS}`], { timeoutMs: 30000, check: true });
}

/**
 * Two tinc daemons, one per host, configured under `root` (a directory the caller removes), with
 * their TAPs moved into the containers at MTU `mtu`; `cipher`: tinc's default cipher and digest,
 * else none. Returns the tincd processes (for CPU time); the lab stops them.
 */
export async function tincPair(
  lab: Lab,
  root: string,
  a: TincNode,
  b: TincNode,
  mtu: number,
  cipher = false,
): Promise<Process[]> {
  const dirs = [`${root}/${a.name}`, `${root}/${b.name}`];
  await configure(dirs[0], a, b, cipher);
  await configure(dirs[1], b, a, cipher);
  await Deno.copyFile(`${dirs[0]}/hosts/${a.name}`, `${dirs[1]}/hosts/${a.name}`);
  await Deno.copyFile(`${dirs[1]}/hosts/${b.name}`, `${dirs[0]}/hosts/${b.name}`);
  const daemons: Process[] = [];
  for (const [i, node] of [a, b].entries()) {
    const tincd = lab.spawn(node.host, [
      "tincd",
      "-c",
      dirs[i],
      "-D", // stay in the foreground: the lab owns the process and logs go to stderr
      "-d0",
      `--pidfile=${dirs[i]}/tinc.pid`,
    ], `tincd ${node.name}`);
    daemons.push(tincd);
    await waitForLink(node.host, node.tap, tincd);
    const x = (ns: string, cmd: string[]) => lab.exec(ns, cmd, { check: true });
    await x(node.host, ["ip", "link", "set", node.tap, "netns", node.container]);
    await x(node.container, ["ip", "link", "set", node.tap, "mtu", String(mtu)]);
    await x(node.container, ["ip", "addr", "add", node.overlay, "dev", node.tap]);
    await x(node.container, ["ip", "link", "set", node.tap, "up"]);
  }
  return daemons;
}
