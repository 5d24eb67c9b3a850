// Lab topologies (cli/lab/lab.ts) shared by the end-to-end tests and benchmarks: two hosts on a
// veth, n hosts on a bridge, a lone host, `weft vtep` per host, the kernel's own VXLAN as a peer.

import type { Lab, Vtep } from "./lab.ts";
import { DEFAULT_MTU, VXLAN_PORT } from "../defaults.ts";

/**
 * `weft vtep` on host `h` for VNI 42: TAP prefix + `tap` moved into container `c` with overlay
 * address `addr`, listening on `listen`, flooding to `peer`; `extra` options last.
 */
export function vtepFor(
  lab: Lab,
  h: string,
  c: string,
  tap: string,
  addr: string,
  listen: string,
  peer: string,
  extra: string[] = [],
): Promise<Vtep> {
  return lab.vtep(h, [
    ...["--vni", "42", "--tap", `${lab.prefix}${tap}`, "--netns", c, "--address", addr],
    ...["--listen", listen, "--peer", peer, ...extra],
  ]);
}

/** Two hosts h1, h2 joined by an underlay veth (198.18.0.1/24, 198.18.0.2/24), and containers c1, c2. */
export async function twoHosts(lab: Lab) {
  const h1 = await lab.netns("h1"), h2 = await lab.netns("h2");
  const c1 = await lab.netns("c1"), c2 = await lab.netns("c2");
  await lab.veth(h1, `${lab.prefix}u1`, "198.18.0.1/24", h2, `${lab.prefix}u2`, "198.18.0.2/24");
  return { h1, h2, c1, c2 };
}

/** twoHosts() with `weft vtep` on each (TAPs t1, t2 in c1, c2 at 10.0.0.1/24, 10.0.0.2/24). */
export async function twoWeftHosts(lab: Lab, extra: string[] = []) {
  const { h1, h2, c1, c2 } = await twoHosts(lab);
  const v1 = await vtepFor(lab, h1, c1, "t1", "10.0.0.1/24", "198.18.0.1", "198.18.0.2", extra);
  const v2 = await vtepFor(lab, h2, c2, "t2", "10.0.0.2/24", "198.18.0.2", "198.18.0.1", extra);
  return { c1, c2, v1, v2 };
}

/** n hosts h1..hn on one underlay bridge (198.18.0.i/24), containers c1..cn with IPv6 off. */
export async function hostsOnBridge(lab: Lab, n: number) {
  const sw = await lab.netns("sw");
  await lab.exec(sw, ["ip", "link", "add", "name", "sbr", "type", "bridge"], { check: true });
  await lab.exec(sw, ["ip", "link", "set", "dev", "sbr", "up"], { check: true });
  const hosts: string[] = [], containers: string[] = [];
  for (let i = 1; i <= n; i++) {
    const h = await lab.netns(`h${i}`);
    const c = await lab.netns(`c${i}`);
    // No IPv6: its multicast chatter would blur the per-VTEP counts the tests compare.
    for (const key of ["all", "default"]) {
      await lab.exec(c, ["sysctl", "-qw", `net.ipv6.conf.${key}.disable_ipv6=1`], { check: true });
    }
    await lab.veth(h, `${lab.prefix}u${i}`, `198.18.0.${i}/24`, sw, `p${i}`, undefined);
    await lab.exec(sw, ["ip", "link", "set", `p${i}`, "master", "sbr"], { check: true });
    hosts.push(h);
    containers.push(c);
  }
  return { hosts, containers };
}

/**
 * The Linux kernel's VXLAN (drivers/net/vxlan) as a VTEP on `host`: vx0 (VNI 42, port 4789, learning,
 * flooding to `peer`) in bridge br0 with a veth into `container`, whose eth0 gets `overlay` (an
 * address with prefix) at MTU `mtu` (default DEFAULT_MTU). The underlay device is the one that holds `local`.
 *
 * `txChecksum: false` turns TX checksum offload off on vx0. Over veths the kernel leaves inner TCP
 * checksums to an offload that never happens: a kernel peer trusts the checksum state that crosses
 * the veth, a userspace peer (weft) reads the bytes and finds them wrong. Kernel ↔ kernel (the
 * benchmark) keeps the kernel's defaults.
 */
export async function kernelVtep(
  lab: Lab,
  host: string,
  container: string,
  local: string,
  peer: string,
  overlay: string,
  { txChecksum = true, vni = 42, mtu = DEFAULT_MTU } = {},
): Promise<void> {
  const x = (cmd: string[]) => lab.exec(host, cmd, { check: true });
  const dev = (await x(["ip", "-o", "addr", "show", "to", local])).stdout.split(/\s+/)[1];
  if (!dev) throw new Error(`no device holds ${local} in ${host}`);
  const vxlan = ["id", String(vni), "dstport", String(VXLAN_PORT), "local", local, "dev", dev];
  await x(["ip", "link", "add", "vx0", "type", "vxlan", ...vxlan]);
  await x(["bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vx0", "dst", peer]);
  if (!txChecksum) await x(["ethtool", "-K", "vx0", "tx", "off"]);
  await x(["ip", "link", "add", "br0", "type", "bridge"]);
  await x(["ip", "link", "set", "vx0", "master", "br0"]);
  await lab.veth(host, "vc", undefined, container, "eth0", overlay);
  await x(["ip", "link", "set", "vc", "master", "br0"]);
  await lab.exec(container, ["ip", "link", "set", "eth0", "mtu", String(mtu)], { check: true });
  await x(["ip", "link", "set", "vx0", "up"]);
  await x(["ip", "link", "set", "br0", "up"]);
}

/** A host namespace with `address` on its loopback (no dummy module here): a bindable underlay. */
export async function loneHost(lab: Lab, short: string, address: string): Promise<string> {
  const h = await lab.netns(short);
  await lab.exec(h, ["ip", "addr", "add", `${address}/32`, "dev", "lo"], { check: true });
  return h;
}
