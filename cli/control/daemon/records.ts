// What the daemon knows of this host's containers, as containers.json keeps it: the container
// record, its attachments (one per network, eth0's inline), and the pure lookups over them.

import type { EndpointRecord, NetworkRecord } from "../swarm/types.ts";
import { parseCidr } from "../swarm/ipam.ts";
import { findNetwork } from "../swarm/records.ts";
import type { GwEndpoint } from "./gwbridge.ts";
import type { Proc } from "./sandbox.ts";
import type { Tap } from "../../phy/tap.ts";

/**
 * A container of this host, as containers.json keeps it: eth0's attachment (the network given
 * to `weft run`) inline, the networks joined later in `connected`.
 */
export interface ContainerRecord extends Omit<Attachment, "ifname"> {
  name: string;
  cmd: string[];
  /** The container's process (CMD, or sandbox.ts PLACEHOLDER when cmd is empty). */
  pid?: number;
  /** Its start time (/proc/PID/stat starttime): pid and start name the process across restarts. */
  pidStart?: number;
  /** eth1 on weft_gwbridge (containers on non-internal networks). */
  gw?: GwEndpoint;
  /** Networks joined with `weft network connect`: eth2, eth3, … */
  connected?: Attachment[];
  /** ISO 8601 time of `weft run`. */
  created: string;
  /** --network-alias names (absent: none). */
  aliases?: string[];
}

/** A container's place on one network: its interface there and its endpoint record. */
export interface Attachment {
  /** The network's id, and its name when attached. */
  network: string;
  networkName: string;
  vni: number;
  /** The interface's MTU in bytes of L3 payload: the network's option, or this node's underlay
   * MTU minus the overhead (reconcile.ts networkMtu). */
  mtu: number;
  /** IPv4 prefix length of the network's subnet. */
  prefix: number;
  endpointId: string;
  ip: string;
  mac: string;
  /** The IPv6 address and prefix length on networks with --ipv6. */
  ip6?: string;
  prefix6?: number;
  /** The network is --internal: no eth1 on weft_gwbridge for it. */
  internal?: boolean;
  /** The network is `--opt encrypted`. */
  encrypted?: boolean;
  /** eth0 for the network given to `weft run`, eth2… for connected ones (eth1 is weft_gwbridge's). */
  ifname: string;
}

/** Every network of a container, eth0's first. */
export function attachmentsOf(c: ContainerRecord): Attachment[] {
  const first: Attachment = {
    network: c.network,
    networkName: c.networkName,
    vni: c.vni,
    mtu: c.mtu,
    prefix: c.prefix,
    endpointId: c.endpointId,
    ip: c.ip,
    mac: c.mac,
    ip6: c.ip6,
    prefix6: c.prefix6,
    internal: c.internal,
    encrypted: c.encrypted,
    ifname: "eth0",
  };
  return [first, ...(c.connected ?? [])];
}

/**
 * The attachment for an endpoint the manager just created on `network`, as interface `ifname`
 * with `mtu` bytes (reconcile.ts networkMtu). `internal` and `encrypted` are set only when true;
 * the IPv6 address only on a network with an IPv6 subnet.
 * @throws IpamError when the network's subnet is not an IPv4 CIDR
 */
export function attachmentFor(
  network: NetworkRecord,
  endpoint: EndpointRecord,
  mtu: number,
  ifname: string,
): Attachment {
  const a: Attachment = {
    network: network.id,
    networkName: network.name,
    vni: network.vni,
    mtu,
    prefix: parseCidr(network.subnet).bits,
    endpointId: endpoint.id,
    ip: endpoint.ip,
    mac: endpoint.mac,
    ifname,
  };
  if (endpoint.ip6 && network.subnet6) {
    [a.ip6, a.prefix6] = [endpoint.ip6, Number(network.subnet6.split("/")[1])];
  }
  if (network.internal) a.internal = true;
  if (network.encrypted) a.encrypted = true;
  return a;
}

/** findNetwork over a container's attachments (their `network` id and `networkName`). */
export function findAttachment(c: ContainerRecord, ref: string): Attachment | undefined {
  return findNetwork(attachmentsOf(c), ref, (a) => ({ id: a.network, name: a.networkName }));
}

/** An interface of a container while this daemon runs: its TAP and its port on the switch. */
export interface Live {
  tap?: Tap;
  port?: number;
}

/** Key of an interface in Daemon.live: the container's name for eth0 (as before), NAME/ethN else. */
export function liveKey(name: string, ifname: string): string {
  return ifname === "eth0" ? name : `${name}/${ifname}`;
}

/** The container's process as sandbox.ts names it (pid and start time), if it has one. */
export function procOf(c: ContainerRecord): Proc | undefined {
  return c.pid && c.pidStart !== undefined ? { pid: c.pid, start: c.pidStart } : undefined;
}
