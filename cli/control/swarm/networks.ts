// Overlay networks and their endpoints, as `docker network create -d overlay` and a container's
// attachment make them: the input checked once, then the subnet (from the pool), the VNI
// (VniAllocator) and the addresses (IPAM) allocated in a conditional store write that claims
// them (`name/`, `subnet/`, `vni/`, `ip/`, `ip6/` keys), retried when another manager wins.

import { ESP_MTU_REDUCTION } from "../../esp/esp.ts";
import { validAlias } from "../../dns/names.ts";
import { SwarmError } from "./errors.ts";
import {
  allocateAddress,
  allocateSubnet,
  type Cidr,
  contains,
  formatCidr,
  IpamError,
  ipToInt,
  macFor,
  objectId,
  overlaps,
  parseCidr,
} from "./ipam.ts";
import {
  allocateAddress6,
  bigToIp6,
  contains6,
  formatCidr6,
  ip6ToBig,
  overlaps6,
  parseCidr6,
} from "./ipam6.ts";
import type { NetworkKeys } from "./netkeys.ts";
import type { Records } from "./records.ts";
import { endpointDels } from "./records.ts";
import type { Cond, Op, SwarmState } from "./state.ts";
import { cas, write } from "./txn.ts";
import { DEFAULT_MTU, type EndpointRecord, type NetworkOptions, type NetworkRecord } from "./types.ts";
import { type VniAllocator, VniExhaustedError } from "./vni.ts";
import { parseNetworkOptions } from "./network_options.ts";

/** A manager's network and endpoint writes. */
export class Networks {
  /** "network/address" pairs this manager's pending endpoint writes claim. */
  private readonly inflight = new Set<string>();

  constructor(
    private readonly state: SwarmState,
    private readonly records: Records,
    private readonly keys: NetworkKeys,
    private readonly vnis: VniAllocator,
  ) {}

  /**
   * A network as `docker network create -d overlay` makes one (parseNetworkOptions for the
   * input): no IPv4 --subnet: the next free /poolMaskLength of the cluster's pool; gateway
   * defaults to the subnet's first address (IPv6: base + 1); the VNI is the VniAllocator's next
   * free. `mtu` (bytes of L3 payload): the driver option; without it each node derives its own
   * from its underlay (NetworkRecord.mtu is then DEFAULT_MTU, what older nodes use), less
   * ESP_MTU_REDUCTION when `encrypted`. A subnet that overlaps another network's is refused, as
   * Docker does ("Pool overlaps with other one on this address space"). Only a pool subnet is
   * claimed in the store (`subnet/<cidr>`), as are the name and the VNI; `encrypted` writes the
   * network's first key ring (netkeys.ts) in the same transaction.
   * @throws SwarmError (400) for bad input or an exhausted pool or VNI range, (409) for a name in
   * use or an overlapping subnet, (503) when every CAS attempt lost; nothing is stored then.
   */
  async create(o: NetworkOptions): Promise<NetworkRecord> {
    const { v4, v6 } = parseNetworkOptions(o);
    return await cas(this.state, () => {
      if (this.records.findNetwork(o.name)?.name === o.name || this.state.get("name", `network/${o.name}`)) {
        throw new SwarmError(`network with name ${o.name} already exists`, 409);
      }
      const c = this.records.cluster;
      // Docker refuses a subnet that overlaps another network's ("Pool overlaps with other one on
      // this address space"): an address must name one container, whichever overlay it is on.
      for (const n of this.records.networks()) {
        let mine = "", theirs = "";
        if (v4.subnet && overlaps(v4.subnet, parseCidr(n.subnet))) {
          [mine, theirs] = [formatCidr(v4.subnet), n.subnet];
        } else if (v6.subnet && n.subnet6 && overlaps6(v6.subnet, parseCidr6(n.subnet6))) {
          [mine, theirs] = [formatCidr6(v6.subnet), n.subnet6];
        }
        if (mine) {
          throw new SwarmError(
            `Pool overlaps with other one on this address space: subnet ${mine} and network ${n.name}'s ${theirs}`,
            409,
          );
        }
      }
      let subnet: Cidr;
      let vni: number;
      try {
        if (v4.subnet) subnet = v4.subnet;
        else {
          // Pool subnets in use: every network's and every claim (one another manager is writing).
          const used = this.records.networks().map((n) => parseCidr(n.subnet));
          for (const [k] of this.state.entries("subnet")) used.push(parseCidr(k));
          subnet = allocateSubnet(parseCidr(c.pool), c.poolMaskLength, used);
        }
        const taken = new Set(this.records.networks().map((n) => n.vni));
        vni = this.vnis.next((v) => taken.has(v) || this.state.get("vni", String(v)) !== undefined);
      } catch (e) {
        if (e instanceof IpamError || e instanceof VniExhaustedError) throw new SwarmError(e.message);
        throw e;
      }
      const gateway = v4.gateway ?? allocateAddress(subnet, "", new Set());
      const net: NetworkRecord = {
        id: objectId(),
        name: o.name,
        driver: "overlay",
        scope: "swarm",
        subnet: formatCidr(subnet),
        gateway,
        vni,
        mtu: (o.mtu ?? DEFAULT_MTU) - (o.encrypted && o.mtu === undefined ? ESP_MTU_REDUCTION : 0),
        attachable: o.attachable ?? false,
        internal: o.internal ?? false,
        createdAt: new Date().toISOString(),
      };
      if (v4.range) net.ipRange = formatCidr(v4.range);
      if (v6.subnet) {
        net.enableIPv6 = true;
        net.subnet6 = formatCidr6(v6.subnet);
        net.gateway6 = v6.gateway ?? bigToIp6(v6.subnet.base + 1n);
        if (v6.range) net.ipRange6 = formatCidr6(v6.range);
      }
      if (o.mtu !== undefined) net.mtuOption = o.mtu;
      if (o.labels && Object.keys(o.labels).length) net.labels = { ...o.labels };
      const conds: Cond[] = [{ absent: ["name", `network/${o.name}`] }, { absent: ["vni", String(vni)] }];
      const ops: Op[] = [
        { put: ["network", net.id], value: net },
        { put: ["name", `network/${o.name}`], value: net.id },
        { put: ["vni", String(vni)], value: net.id },
      ];
      if (!v4.subnet) {
        conds.push({ absent: ["subnet", net.subnet] });
        ops.push({ put: ["subnet", net.subnet], value: net.id });
      }
      if (o.encrypted) {
        // ESP between nodes: its first key generation in the same transaction as the network.
        net.encrypted = true;
        ops.push(...this.keys.createOps(net.id));
      }
      return { conds, ops, result: net };
    });
  }

  /**
   * `docker network rm`: a network with no endpoints, with its name, VNI and pool-subnet claims
   * and key ring. Two steps, so an endpoint another manager adds meanwhile is seen: the network
   * is marked `removing` (an endpoint create requires it unchanged), then checked again.
   * @throws SwarmError (404) not found, (409) in use or changed meanwhile.
   */
  async remove(ref: string): Promise<NetworkRecord> {
    if (!this.records.findNetwork(ref)) await this.state.sync();
    const net = this.records.findNetwork(ref);
    if (!net) throw new SwarmError(`network ${ref} not found`, 404);
    const inUse = () => {
      const users = this.records.networkEndpoints(net.id);
      if (users.length) {
        throw new SwarmError(
          `network ${net.name} is in use by ${users.length} container(s): ${
            users.map((u) => u.container).join(", ")
          }; remove them first`,
          409,
        );
      }
    };
    inUse();
    const rev = this.state.modRev("network", net.id);
    if (
      !await write(this.state, [{ unchanged: ["network", net.id], rev }], [{
        put: ["network", net.id],
        value: { ...net, removing: true },
      }])
    ) {
      throw new SwarmError(`network ${net.name} changed meanwhile; try again`, 409);
    }
    try {
      inUse();
    } catch (e) {
      await write(this.state, [], [{ put: ["network", net.id], value: net }]).catch(() => {});
      throw e;
    }
    await write(this.state, [], [
      { del: ["network", net.id] },
      { del: ["name", `network/${net.name}`] },
      { del: ["vni", String(net.vni)] },
      // An explicit subnet is not claimed, and may overlap a pool subnet another network holds.
      ...(this.state.get("subnet", net.subnet) === net.id ? [{ del: ["subnet", net.subnet] } as Op] : []),
      ...this.keys.removeOps(net.id),
    ]);
    return net;
  }

  /**
   * A container's endpoint on a network, for the node `nodeId`: the address asked for (`ip`,
   * `ip6`) or the lowest free one (allocateAddress / allocateAddress6, within the network's
   * --ip-range), the MAC Docker derives from the IPv4 address (macFor), and its DNS aliases.
   * @throws SwarmError (400) bad alias or address, (404) no such network, (409) address in use,
   * the gateway's, or none left.
   */
  async createEndpoint(
    nodeId: string,
    ref: string,
    container: string,
    ip?: string,
    ip6?: string,
    aliases?: string[],
  ): Promise<{ endpoint: EndpointRecord; network: NetworkRecord }> {
    const badAlias = aliases?.find((a) => !validAlias(a));
    if (badAlias !== undefined) {
      throw new SwarmError(`invalid --network-alias "${badAlias}": not a hostname`);
    }
    // A network just created through another manager may not have reached this one's mirror.
    if (!this.records.findNetwork(ref)) await this.state.sync();
    const claimed: string[] = [];
    try {
      return await cas(this.state, () => {
        const net = this.records.findNetwork(ref);
        if (!net || (net as { removing?: boolean }).removing) {
          throw new SwarmError(`network ${ref} not found`, 404);
        }
        const mine = this.records.networkEndpoints(net.id);
        const used = new Set(mine.map((e) => e.ip));
        // Addresses this manager's other requests are writing now: not the same lowest free one.
        // Keys: "<net>/<ipv4>" and "<net>/6/<ipv6>".
        const used6 = new Set(mine.flatMap((e) => e.ip6 ? [e.ip6] : []));
        for (const k of this.inflight) {
          if (!k.startsWith(`${net.id}/`)) continue;
          const rest = k.slice(net.id.length + 1);
          if (rest.startsWith("6/")) used6.add(rest.slice(2));
          else used.add(rest);
        }
        const addr = this.address4(net, ip, used);
        const addr6 = this.address6(net, ip6, used6);
        const endpoint: EndpointRecord = {
          id: objectId(),
          network: net.id,
          node: nodeId,
          container,
          ip: addr,
          mac: macFor(addr),
          ...(aliases?.length ? { aliases: [...new Set(aliases)] } : {}),
        };
        if (addr6) endpoint.ip6 = addr6;
        this.inflight.add(`${net.id}/${addr}`);
        claimed.push(`${net.id}/${addr}`);
        const conds: Cond[] = [
          { unchanged: ["network", net.id], rev: this.state.modRev("network", net.id) },
          { absent: ["ip", `${net.id}/${addr}`] },
        ];
        const ops: Op[] = [{ put: ["endpoint", endpoint.id], value: endpoint }, {
          put: ["ip", `${net.id}/${addr}`],
          value: endpoint.id,
        }];
        if (addr6) {
          // The IPv6 address is claimed like the IPv4 one: two managers cannot hand out the same.
          this.inflight.add(`${net.id}/6/${addr6}`);
          claimed.push(`${net.id}/6/${addr6}`);
          conds.push({ absent: ["ip6", `${net.id}/${addr6}`] });
          ops.push({ put: ["ip6", `${net.id}/${addr6}`], value: endpoint.id });
        }
        return { conds, ops, result: { endpoint, network: net } };
      });
    } finally {
      for (const k of claimed) this.inflight.delete(k);
    }
  }

  /** The IPv4 address asked for, checked, or the lowest free one. */
  private address4(net: NetworkRecord, wanted: string | undefined, used: Set<string>): string {
    const subnet = parseCidr(net.subnet);
    if (!wanted) {
      try {
        return allocateAddress(subnet, net.gateway, used, net.ipRange ? parseCidr(net.ipRange) : undefined);
      } catch (e) {
        throw new SwarmError(e instanceof Error ? e.message : String(e), 409);
      }
    }
    try {
      if (!contains(subnet, ipToInt(wanted))) {
        throw new IpamError(`address ${wanted} is not in ${net.name}'s subnet ${net.subnet}`);
      }
    } catch (e) {
      throw new SwarmError(e instanceof Error ? e.message : String(e));
    }
    if (wanted === net.gateway) throw new SwarmError(`address ${wanted} is the gateway of ${net.name}`, 409);
    if (used.has(wanted) || this.state.get("ip", `${net.id}/${wanted}`)) {
      throw new SwarmError(`address ${wanted} is already in use on ${net.name}`, 409);
    }
    return wanted;
  }

  /** The IPv6 address asked for (canonical form), checked, or the lowest free one; undefined
   * on a network without an IPv6 subnet. */
  private address6(net: NetworkRecord, wanted: string | undefined, used6: Set<string>): string | undefined {
    if (wanted && !net.subnet6) {
      throw new SwarmError(`network ${net.name} has no IPv6 subnet: --ip6 needs one`);
    }
    if (!net.subnet6) return undefined;
    const s6 = parseCidr6(net.subnet6);
    try {
      if (wanted) {
        const n = ip6ToBig(wanted);
        const addr6 = bigToIp6(n);
        if (!contains6(s6, n)) {
          throw new IpamError(`address ${addr6} is not in ${net.name}'s subnet ${net.subnet6}`);
        }
        if (addr6 === net.gateway6) throw new IpamError(`address ${addr6} is the gateway of ${net.name}`);
        if (used6.has(addr6) || this.state.get("ip6", `${net.id}/${addr6}`)) {
          throw new IpamError(`address ${addr6} is already in use on ${net.name}`);
        }
        return addr6;
      }
      for (const [k] of this.state.entries("ip6")) {
        if (k.startsWith(`${net.id}/`)) used6.add(k.slice(net.id.length + 1));
      }
      return allocateAddress6(
        s6,
        net.gateway6 ?? "",
        used6,
        net.ipRange6 ? parseCidr6(net.ipRange6) : undefined,
      );
    } catch (e) {
      throw new SwarmError(e instanceof Error ? e.message : String(e));
    }
  }

  /**
   * A node's endpoint and its address claims. `{ deleted: false }` when there is none.
   * @throws SwarmError (403) when the endpoint is another node's.
   */
  async deleteEndpoint(nodeId: string, id: string): Promise<{ deleted: boolean }> {
    const e = this.state.get<EndpointRecord>("endpoint", id);
    if (!e) return { deleted: false };
    if (e.node !== nodeId) throw new SwarmError(`endpoint ${id} belongs to another node`, 403);
    await write(this.state, [], endpointDels(e));
    return { deleted: true };
  }
}
