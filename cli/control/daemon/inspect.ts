// `weft inspect` and `weft network inspect` output in the shapes `docker inspect` and `docker
// network inspect` print (Docker Engine API: ContainerInspectResponse, NetworkResource), from the
// daemon's records. Pure functions: the daemon hands in what it knows.

import type { NetworkRecord } from "../swarm/types.ts";
import { type Attachment, attachmentsOf, type ContainerRecord } from "./records.ts";
import type { GatewayBridge } from "./gwbridge.ts";

/** Docker's option names for what weft shows in Options. */
const VXLANID_LIST = "com.docker.network.driver.overlay.vxlanid_list";
const MTU_OPTION = "com.docker.network.driver.mtu";

/**
 * One container as `docker inspect NAME` shows it (the fields weft has). State.Pid is 0 when not
 * running, as Docker's. NetworkSettings.Networks has one entry per network (eth0 first, then the
 * connected ones) and weft_gwbridge's when the container has eth1; `Interface` is weft's.
 */
export function containerInspect(
  c: ContainerRecord,
  up: boolean,
  ifUp: Set<string>,
  nets: NetworkRecord[],
  gw: GatewayBridge,
) {
  const cmd = c.cmd;
  const networks: Record<string, unknown> = {};
  for (const a of attachmentsOf(c)) {
    const net = nets.find((n) => n.id === a.network);
    networks[a.networkName] = {
      IPAMConfig: null,
      Links: null,
      Aliases: [c.name],
      NetworkID: a.network,
      EndpointID: a.endpointId,
      Gateway: net?.gateway ?? "",
      IPAddress: a.ip,
      IPPrefixLen: a.prefix,
      IPv6Gateway: a.ip6 ? net?.gateway6 ?? "" : "",
      GlobalIPv6Address: a.ip6 ?? "",
      GlobalIPv6PrefixLen: a.ip6 ? a.prefix6 ?? 0 : 0,
      MacAddress: a.mac,
      DNSNames: [c.name],
      /** weft: the interface in the container and whether the daemon has it plugged. */
      Interface: { Name: a.ifname, Up: ifUp.has(a.ifname), MTU: a.mtu },
    };
  }
  if (c.gw) {
    networks[gw.name] = {
      IPAMConfig: null,
      Links: null,
      Aliases: null,
      NetworkID: gw.id,
      EndpointID: `gw-${c.endpointId}`,
      Gateway: gw.gateway,
      IPAddress: c.gw.ip,
      IPPrefixLen: gw.subnet.bits,
      IPv6Gateway: "",
      GlobalIPv6Address: "",
      GlobalIPv6PrefixLen: 0,
      MacAddress: c.gw.mac,
      Interface: { Name: "eth1", Up: true, MTU: 1500 },
    };
  }
  return {
    Id: c.endpointId,
    Created: c.created,
    Path: cmd[0] ?? "",
    Args: cmd.slice(1),
    State: {
      Status: up ? "running" : "exited",
      Running: up,
      Paused: false,
      Restarting: false,
      Dead: false,
      Pid: up ? c.pid ?? 0 : 0,
    },
    Name: `/${c.name}`,
    Config: { Hostname: c.name, Cmd: cmd.length ? cmd : null },
    NetworkSettings: {
      SandboxKey: `/run/netns/${c.name}`,
      Networks: networks,
    },
  };
}

/** A container on a network, for NetworkResource.Containers. */
interface Member {
  name: string;
  endpointId: string;
  mac: string;
  /** Its IPv4 address with the prefix length ("10.0.1.2/24"). */
  ip: string;
  /** Its IPv6 address with the prefix length, on an IPv6 network. */
  ip6?: string;
}

/**
 * An overlay as `docker network inspect NAME` shows it: IPAM.Config one entry per subnet (IPv4
 * first, IPRange only when set, as Docker omits it), Options with the VNI and the MTU option only
 * when given; weft adds VNI and MTU (the one this node uses: the option, or derived from its
 * underlay).
 */
export function networkInspect(
  net: NetworkRecord,
  mtu: number,
  members: (Attachment & { name: string })[],
  peers: { Name: string; IP: string }[],
) {
  const config: Record<string, string>[] = [
    { Subnet: net.subnet, ...(net.ipRange ? { IPRange: net.ipRange } : {}), Gateway: net.gateway },
  ];
  if (net.subnet6) {
    config.push({
      Subnet: net.subnet6,
      ...(net.ipRange6 ? { IPRange: net.ipRange6 } : {}),
      Gateway: net.gateway6 ?? "",
    });
  }
  const containers = containersByEndpoint(
    members.map((m) => ({
      name: m.name,
      endpointId: m.endpointId,
      mac: m.mac,
      ip: `${m.ip}/${m.prefix}`,
      ip6: m.ip6 ? `${m.ip6}/${m.prefix6}` : undefined,
    })),
  );
  const options: Record<string, string> = { [VXLANID_LIST]: String(net.vni) };
  if (net.mtuOption) options[MTU_OPTION] = String(net.mtuOption);
  return {
    Name: net.name,
    Id: net.id,
    Created: net.createdAt,
    Scope: net.scope,
    Driver: net.driver,
    EnableIPv4: true,
    EnableIPv6: net.enableIPv6 ?? false,
    IPAM: { Driver: "default", Options: null, Config: config },
    Internal: net.internal ?? false,
    Attachable: net.attachable,
    Ingress: false,
    ConfigFrom: { Network: "" },
    ConfigOnly: false,
    Containers: containers,
    Options: options,
    Labels: net.labels ?? {},
    VNI: net.vni,
    MTU: mtu,
    Peers: peers,
  };
}

/** weft_gwbridge as `docker network inspect docker_gwbridge` shows Docker's. */
export function bridgeInspect(
  net: { id: string; name: string; subnet: string; gateway: string },
  members: Member[],
) {
  const containers = containersByEndpoint(members);
  return {
    Name: net.name,
    Id: net.id,
    Scope: "local",
    Driver: "bridge",
    EnableIPv4: true,
    EnableIPv6: false,
    IPAM: { Driver: "default", Options: null, Config: [{ Subnet: net.subnet, Gateway: net.gateway }] },
    Internal: false,
    Attachable: false,
    Ingress: false,
    Containers: containers,
    Options: {
      "com.docker.network.bridge.name": net.name,
      "com.docker.network.bridge.enable_ip_masquerade": "true",
    },
    Labels: {},
  };
}

/** NetworkResource.Containers: each member by its endpoint id (addresses with their prefix). */
function containersByEndpoint(members: Member[]): Record<string, unknown> {
  const containers: Record<string, unknown> = {};
  for (const m of members) {
    containers[m.endpointId] = {
      Name: m.name,
      EndpointID: m.endpointId,
      MacAddress: m.mac,
      IPv4Address: m.ip,
      IPv6Address: m.ip6 ?? "",
    };
  }
  return containers;
}
