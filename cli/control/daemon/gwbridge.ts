// weft_gwbridge: the way out of the overlay, as docker_gwbridge is Docker's. One Linux bridge per
// host (in the daemon's network namespace), 172.18.0.0/16 by default with the host at .1; every
// container on a non-internal overlay gets a veth pair whose inside end is eth1 with an address
// there and the container's default route. Traffic leaving through the host is masqueraded to the
// host's address by an nftables table of this weft instance only (its name comes from the daemon:
// --nft-table), so removing it removes exactly weft's rules. IPv4 forwarding is switched on only
// on the bridge and the host's uplinks (the underlay and default-route devices), never host-wide
// (net.ipv4.ip_forward stays as it was), and the previous values come back with the bridge's end.
// The overlay is never NATed: eth0 is a TAP switched by the daemon, its frames never cross the
// host's IP stack.

import {
  allocateAddress,
  type Cidr,
  formatCidr,
  intToIp,
  IpamError,
  macFor,
  parseCidr,
} from "../swarm/ipam.ts";
import { ip, run } from "./sandbox.ts";

/** Docker's docker_gwbridge defaults, with weft's name. */
export const GWBRIDGE_NAME = "weft_gwbridge";
/** Default subnet of weft_gwbridge (docker_gwbridge's); `weft daemon --gwbridge-subnet` changes it. */
export const GWBRIDGE_SUBNET = "172.18.0.0/16";

/** A container's eth1 on weft_gwbridge, as containers.json keeps it. */
export interface GwEndpoint {
  /** eth1's address (no prefix) on the bridge's subnet. */
  ip: string;
  mac: string;
  /** The host-side end of the veth pair, on the bridge. */
  hostIf: string;
}

interface SavedState {
  /** The bridge network's id (64 hex digits, as Docker's local network ids). */
  id?: string;
  /** sysctl paths → the value before weft changed them. */
  forwarding: Record<string, string>;
}

/** How the daemon sets up its weft_gwbridge. */
export interface GatewayBridgeOptions {
  /** The bridge device's name (default GWBRIDGE_NAME). */
  name?: string;
  /** CIDR; the host takes its first address (GWBRIDGE_SUBNET's 172.18.0.1). */
  subnet?: string;
  /** The nftables table (family ip) of this weft instance. */
  table: string;
  /** File that keeps the forwarding values weft replaced, across daemon restarts. */
  stateFile: string;
  log?: (m: string) => void;
}

/**
 * weft_gwbridge of this host: the bridge, its NAT table, the forwarding sysctls it switched on,
 * and the eth1 veth pairs of containers.
 * @throws IpamError from the constructor for a subnet that is not an IPv4 CIDR
 */
export class GatewayBridge {
  readonly name: string;
  readonly subnet: Cidr;
  readonly gateway: string;
  readonly table: string;
  private readonly log: (m: string) => void;

  /** @throws IpamError for a subnet that is not a.b.c.d/N with room for a gateway and one host */
  constructor(readonly o: GatewayBridgeOptions) {
    this.name = o.name ?? GWBRIDGE_NAME;
    this.subnet = parseCidr(o.subnet ?? GWBRIDGE_SUBNET);
    if (this.subnet.bits > 30) {
      throw new IpamError(`gateway bridge subnet ${o.subnet} is too small: at most /30`);
    }
    this.gateway = intToIp(this.subnet.base + 1);
    this.table = o.table;
    this.log = o.log ?? (() => {});
  }

  /** /proc/sys/net follows the reader's network namespace (/sys/class/net that of its mount). */
  exists(): boolean {
    try {
      Deno.statSync(`/proc/sys/net/ipv4/conf/${this.name}`);
      return true;
    } catch {
      return false;
    }
  }

  /** Bridge up with the gateway address, forwarding on where needed, the NAT table in place. */
  async ensure(uplinkAddr?: string): Promise<void> {
    if (!this.exists()) {
      await ip(["link", "add", this.name, "type", "bridge"]);
      await ip(["addr", "add", `${this.gateway}/${this.subnet.bits}`, "dev", this.name]);
      await ip(["link", "set", this.name, "up"]);
      this.log(`created ${this.name} ${formatCidr(this.subnet)}`);
    }
    await this.enableForwarding(uplinkAddr);
    await this.ensureTable();
  }

  /**
   * The table, replaced whole (`nft -f` applies it atomically). Only NAT: a forward chain with
   * accept rules would change nothing (another table's drop still drops), and weft does not
   * filter the host's forwarding for others.
   */
  async ensureTable(): Promise<void> {
    const sub = formatCidr(this.subnet);
    await run(
      "nft",
      ["-f", "-"],
      `table ip ${this.table}
delete table ip ${this.table}
table ip ${this.table} {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr ${sub} oifname != "${this.name}" masquerade
  }
}
`,
    );
  }

  /** Deletes this instance's nftables table (its masquerade rule), if there is one. */
  async removeTable(): Promise<void> {
    await run("nft", ["delete", "table", "ip", this.table]).catch(() => {});
  }

  /** Devices that need IPv4 forwarding: the bridge, and the uplinks replies come back on. */
  private async uplinks(uplinkAddr?: string): Promise<string[]> {
    const devs = new Set<string>();
    try {
      for (const r of JSON.parse(await run("ip", ["-j", "-4", "route", "show", "default"]))) devs.add(r.dev);
      if (uplinkAddr) {
        for (const l of JSON.parse(await run("ip", ["-j", "-4", "addr", "show"]))) {
          if (l.addr_info?.some((a: { local: string }) => a.local === uplinkAddr)) devs.add(l.ifname);
        }
      }
    } catch { /* no uplink found: egress then only to what the bridge's own routes reach */ }
    devs.delete(this.name);
    return [...devs];
  }

  private readSaved(): SavedState {
    try {
      return JSON.parse(Deno.readTextFileSync(this.o.stateFile));
    } catch {
      return { forwarding: {} };
    }
  }

  /** The bridge network's id, made with the bridge and kept until its teardown. */
  get id(): string {
    return this.readSaved().id ?? "";
  }

  private async enableForwarding(uplinkAddr?: string): Promise<void> {
    const saved = this.readSaved();
    saved.id ??= Array.from(
      crypto.getRandomValues(new Uint8Array(32)),
      (b) => b.toString(16).padStart(2, "0"),
    )
      .join("");
    for (const dev of [this.name, ...await this.uplinks(uplinkAddr)]) {
      const path = `/proc/sys/net/ipv4/conf/${dev}/forwarding`;
      let old: string;
      try {
        old = Deno.readTextFileSync(path).trim();
      } catch {
        continue;
      }
      if (old === "1") continue;
      if (!(path in saved.forwarding)) saved.forwarding[path] = old;
      Deno.writeTextFileSync(path, "1");
    }
    Deno.writeTextFileSync(this.o.stateFile, JSON.stringify(saved));
  }

  /** The lowest free host address of the subnet (the gateway excluded). */
  allocate(used: Iterable<string>): string {
    return allocateAddress(this.subnet, this.gateway, new Set(used));
  }

  /**
   * A veth pair from the bridge into namespace `ns` as eth1, with `addr`, MTU 1500 and the default
   * route through the gateway (Docker's docker_gwbridge endpoint), its bridge port isolated.
   * @throws SandboxError from ip
   */
  async attach(ns: string, addr: string): Promise<GwEndpoint> {
    const hostIf = `veth${crypto.getRandomValues(new Uint32Array(1))[0].toString(16).padStart(8, "0")}`.slice(
      0,
      11,
    );
    const mac = macFor(addr);
    await ip(["link", "add", hostIf, "type", "veth", "peer", "name", "eth1", "netns", ns]);
    try {
      await ip(["link", "set", hostIf, "master", this.name, "up"]);
      // Docker's docker_gwbridge has enable_icc=false: containers do not reach each other through
      // it (only through the overlays they share). An isolated bridge port talks to the bridge
      // itself (the gateway) and to no other isolated port.
      await ip(["link", "set", "dev", hostIf, "type", "bridge_slave", "isolated", "on"]);
      await ip(["-n", ns, "link", "set", "eth1", "address", mac, "up"]);
      await ip(["-n", ns, "addr", "add", `${addr}/${this.subnet.bits}`, "dev", "eth1"]);
      await ip(["-n", ns, "route", "replace", "default", "via", this.gateway, "dev", "eth1"]);
    } catch (e) {
      await ip(["link", "del", hostIf]).catch(() => {});
      throw e;
    }
    return { ip: addr, mac, hostIf };
  }

  /** Deletes eth1's veth pair (both ends go); a pair already gone is fine. */
  async detach(e: GwEndpoint): Promise<void> {
    await ip(["link", "del", e.hostIf]).catch(() => {});
  }

  /** The last endpoint went: bridge, table, and forwarding values back as they were. */
  async teardown(): Promise<void> {
    await this.removeTable();
    if (this.exists()) await ip(["link", "del", this.name]).catch((e) => this.log(e.message));
    const saved = this.readSaved();
    for (const [path, old] of Object.entries(saved.forwarding)) {
      try {
        Deno.writeTextFileSync(path, old);
      } catch { /* device gone */ }
    }
    try {
      Deno.removeSync(this.o.stateFile);
    } catch { /* none */ }
    this.log(`removed ${this.name}`);
  }
}
