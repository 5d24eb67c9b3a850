// The switch's configuration through the binding: VNIs (one learning switch each, the seed's
// br0 per overlay network), local ports, remote VTEPs and flood lists, the FDB and the ARP/ND
// neighbour table. Every call here crosses into the core once; a negative return becomes a
// CoreError with the core's code (assembly/abi.ts E_*).

import {
  ARGS,
  DUMP,
  DUMP_STATIC,
  E_NOT_FOUND,
  TARGET_REMOTE,
  VNI_FLAG_LEARN,
  VNI_FLAG_PMTU,
  VNI_FLAG_SUPPRESS,
  VTEP_RECORD,
} from "./abi.ts";
import { formatIp, formatMac, parseIp, parseMac } from "./addr.ts";
import type { VniOptions } from "./config.ts";
import { CoreFrames } from "./burst.ts";
import { CoreError } from "./instance.ts";
import { DEFAULT_AGEING, DEFAULT_LEARN_MAX, DEFAULT_MTU, VXLAN_PORT } from "../defaults.ts";

/** One forwarding entry as WeftCore.fdb() reports it (from the core's 24-byte dump record). */
export interface FdbEntry {
  /** The VNI whose switch holds the entry. */
  vni: number;
  /** "02:42:0a:00:00:01" */
  mac: string;
  /** Configured (never learned over, never aged), as the kernel's NUD_PERMANENT entries. */
  static: boolean;
  /** Local port id, or undefined for a remote entry. */
  port?: number;
  /** Remote VTEP id, or undefined for a local entry. */
  vtep?: number;
  /** Seconds since last seen (0 for static entries). */
  age: number;
}

/** The third layer of WeftCore: configuration of the switch. Not used on its own. */
export class CoreSwitch extends CoreFrames {
  /**
   * Adds a VNI's switch (an overlay network), or sets the options of one that exists. Returns
   * its slot, the index of its counter block.
   * @throws {CoreError} E_RANGE (-2): vni outside VNI_MIN..VNI_MAX or mtu < 68 or too large for a
   *   slot; E_FULL (-4): config.maxVnis reached; E_STATE (-1): not initialised.
   */
  addVni(vni: number, o: VniOptions = {}): number {
    const flags = (o.learning ?? true ? VNI_FLAG_LEARN : 0) | (o.suppress ?? true ? VNI_FLAG_SUPPRESS : 0) |
      (o.pmtu ?? true ? VNI_FLAG_PMTU : 0);
    return this.check(
      `add VNI ${vni}`,
      this.exports.vniAdd(
        vni >>> 0,
        o.mtu ?? DEFAULT_MTU,
        o.learnMax ?? DEFAULT_LEARN_MAX,
        o.ageing ?? DEFAULT_AGEING,
        flags,
      ),
    );
  }

  /** Removes a VNI with no ports left, with its FDB, neighbour entries and counters.
   *  @throws {CoreError} E_NOT_FOUND (-5): no such VNI; E_BUSY (-6): ports still attached. */
  removeVni(vni: number): void {
    this.check(`remove VNI ${vni}`, this.exports.vniRemove(vni));
  }

  /** Whether the VNI is configured. */
  hasVni(vni: number): boolean {
    return this.exports.vniSlot(vni) >= 0;
  }

  /** Attaches local port `port` (0..config.maxPorts-1; a TAP, the seed's veth into br0) to a VNI.
   *  @throws {CoreError} E_NOT_FOUND (-5): no such VNI; E_RANGE (-2): port out of range;
   *  E_BUSY (-6): the port is attached already; E_FULL (-4): the VNI's port list is full. */
  attachPort(port: number, vni: number): void {
    this.check(`attach port ${port} to VNI ${vni}`, this.exports.portAttach(port, vni));
  }

  /** Detaches a port and forgets every MAC behind it (learned or static).
   *  @throws {CoreError} E_RANGE (-2): port out of range; E_NOT_FOUND (-5): not attached. */
  detachPort(port: number): void {
    this.check(`detach port ${port}`, this.exports.portDetach(port));
  }

  /**
   * Adds (or finds) a remote VTEP: an IPv4/IPv6 address (text or the 16-byte form) and UDP port
   * (default VXLAN_PORT). Returns its id, for addFlood/addStatic and TX targets.
   * @throws {AddressError} for an unparsable address. {CoreError} E_FULL (-4): config.maxVteps
   *   reached; E_STATE (-1): not initialised.
   */
  addVtep(address: string | Uint8Array, port = VXLAN_PORT): number {
    this.bytes.set(typeof address === "string" ? parseIp(address) : address, this.argsPtr + ARGS.ADDRESS);
    return this.check(`add VTEP ${address}`, this.exports.vtepAdd(port));
  }

  /** The id of a known VTEP, or -1 when there is none. */
  findVtep(address: string | Uint8Array): number {
    this.bytes.set(typeof address === "string" ? parseIp(address) : address, this.argsPtr + ARGS.ADDRESS);
    return this.exports.vtepFind();
  }

  /** A VTEP's address (text and 16-byte form) and UDP port.
   *  @throws {CoreError} E_NOT_FOUND (-5): no VTEP with that id. */
  vtep(id: number): { address: string; raw: Uint8Array; port: number } {
    const r = this.exports.vtepRecord(id);
    if (r === 0) throw new CoreError(`VTEP ${id}`, E_NOT_FOUND);
    const raw = this.bytes.slice(r + VTEP_RECORD.ADDRESS, r + VTEP_RECORD.ADDRESS + 16);
    return { address: formatIp(raw), raw, port: this.view.getUint16(r + VTEP_RECORD.PORT, true) };
  }

  /** VTEPs known (configured and learned); ids are 0..vtepCount-1. */
  get vtepCount(): number {
    return this.exports.vtepCount();
  }

  /**
   * One of this host's own VTEP addresses: datagrams from it are dropped (`self_vtep`) instead of
   * being learned from — a flood list that names this host would otherwise move local MACs to
   * "remote self". At most LOCAL_MAX (8).
   * @throws {AddressError} for an unparsable address. {CoreError} E_FULL (-4): LOCAL_MAX
   *   addresses already; E_STATE (-1): not initialised.
   */
  addLocalAddress(address: string | Uint8Array): void {
    this.bytes.set(typeof address === "string" ? parseIp(address) : address, this.argsPtr + ARGS.ADDRESS);
    this.check(`add local address ${address}`, this.exports.localAdd());
  }

  /** Adds a VTEP to a VNI's flood list (head-end replication of BUM traffic, RFC 7348 §4.2
   *  without multicast). @throws {CoreError} E_NOT_FOUND (-5): no such VNI; E_RANGE (-2): no
   *  such VTEP; E_FULL (-4): the flood list is full. */
  addFlood(vni: number, vtep: number): void {
    this.check(`add VTEP ${vtep} to the flood list of VNI ${vni}`, this.exports.floodAdd(vni, vtep));
  }

  /** Removes a VTEP from a VNI's flood list.
   *  @throws {CoreError} E_NOT_FOUND (-5): no such VNI, or the VTEP is not on its list. */
  removeFlood(vni: number, vtep: number): void {
    this.check(`remove VTEP ${vtep} from VNI ${vni}`, this.exports.floodRemove(vni, vtep));
  }

  /** Removes a VTEP from a VNI's flood list and forgets the MACs behind it; returns how many.
   *  @throws {CoreError} E_NOT_FOUND (-5): no such VNI. */
  forgetVtep(vni: number, vtep: number): number {
    return this.check(`forget VTEP ${vtep} in VNI ${vni}`, this.exports.vtepForget(vni, vtep));
  }

  /**
   * A static FDB entry (`bridge fdb add … permanent`): `{ port }` for a local port, `{ vtep }`
   * for a remote VTEP id. Learning never moves it; it replaces a learned entry for the MAC.
   * @throws {AddressError} for an unparsable MAC. {CoreError} E_NOT_FOUND (-5): no such VNI;
   *   E_RANGE (-2): group or all-zero MAC, or no such port/VTEP; E_FULL (-4): FDB full.
   */
  addStatic(vni: number, mac: string | Uint8Array, to: { port: number } | { vtep: number }): void {
    this.bytes.set(typeof mac === "string" ? parseMac(mac) : mac, this.argsPtr + ARGS.ADDRESS);
    const target = "port" in to ? to.port : (TARGET_REMOTE | to.vtep) >>> 0;
    this.check(`add static FDB entry ${mac}`, this.exports.fdbAdd(vni, target));
  }

  /** Removes one FDB entry (static or learned); false when the VNI or entry does not exist. */
  removeFdb(vni: number, mac: string | Uint8Array): boolean {
    this.bytes.set(typeof mac === "string" ? parseMac(mac) : mac, this.argsPtr + ARGS.ADDRESS);
    return this.exports.fdbRemove(vni) === 0;
  }

  /** Removes a VNI's learned entries (all entries with learnedOnly false); returns how many.
   *  @throws {CoreError} E_NOT_FOUND (-5): no such VNI. */
  flushFdb(vni: number, learnedOnly = true): number {
    return this.check(`flush FDB of VNI ${vni}`, this.exports.fdbFlush(vni, learnedOnly ? 1 : 0));
  }

  /** Ages learned entries older than their VNI's ageing (seconds, `now` as for process()),
   *  scanning at most `budget` buckets from where the last call stopped; returns how many were
   *  removed (counted as fdb_aged). Never throws. */
  age(now: number, budget = 1 << 30): number {
    return this.exports.fdbAge(now, budget);
  }

  /** Every live FDB entry of every VNI (expired learned entries are not shown), `now` in seconds. */
  fdb(now: number): FdbEntry[] {
    const out: FdbEntry[] = [];
    const region = this.exports.fdbDumpRegion();
    let cursor = 0;
    do {
      const n = this.exports.fdbDump(cursor, now);
      for (let i = 0; i < n; i++) {
        const r = region + i * DUMP.RECORD_LEN;
        const target = this.view.getUint32(r + DUMP.TARGET, true);
        const remote = (target & TARGET_REMOTE) !== 0;
        out.push({
          vni: this.view.getUint32(r + DUMP.VNI, true),
          mac: formatMac(this.bytes.subarray(r + DUMP.MAC, r + DUMP.MAC + 6)),
          static: (this.view.getUint16(r + DUMP.FLAGS, true) & DUMP_STATIC) !== 0,
          port: remote ? undefined : target,
          vtep: remote ? (target & ~TARGET_REMOTE) >>> 0 : undefined,
          age: this.view.getUint32(r + DUMP.AGE, true),
        });
      }
      cursor = this.exports.fdbDumpNext();
    } while (cursor !== 0);
    return out;
  }

  /** FDB entries in use, all VNIs. */
  get fdbSize(): number {
    return this.exports.fdbUsed();
  }

  /** Entries the FDB holds: 7/8 of 2^config.fdbBits. */
  get fdbCapacity(): number {
    return this.exports.fdbCapacity();
  }

  /** An IP → MAC entry that ARP/ND suppression answers from (the kernel's neigh proxy on a
   *  vxlan device with `proxy`). @throws {AddressError} for a bad address or MAC;
   *  {CoreError} E_NOT_FOUND (-5): no such VNI; E_FULL (-4): the neighbour table is full. */
  addNeighbour(vni: number, ip: string, mac: string): void {
    this.bytes.set(parseIp(ip), this.argsPtr + ARGS.ADDRESS);
    this.bytes.set(parseMac(mac), this.argsPtr + ARGS.MAC);
    this.check(`add neighbour ${ip} in VNI ${vni}`, this.exports.neighAdd(vni));
  }

  /** Removes a neighbour entry; false when the VNI or entry does not exist. */
  removeNeighbour(vni: number, ip: string): boolean {
    this.bytes.set(parseIp(ip), this.argsPtr + ARGS.ADDRESS);
    return this.exports.neighRemove(vni) === 0;
  }

  /** The UDP destination port that means VXLAN in PORT_UNDERLAY_ETH packets (default
   *  VXLAN_PORT, 4789; Linux's old default was 8472). */
  setVxlanPort(port: number): void {
    this.exports.setVxlanPort(port);
  }

  /** The UDP source port range [min, max) the flow hash maps into (default 32768..61000, Linux's
   *  ip_local_port_range; RFC 7348 §5 recommends 49152..65535).
   *  @throws {CoreError} E_RANGE (-2): min 0, min ≥ max or max > 65536. */
  setSourcePortRange(min: number, max: number): void {
    this.check("set source port range", this.exports.setSourcePortRange(min, max));
  }
}
