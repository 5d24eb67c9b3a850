// `weft vtep`: one standalone VTEP. Validates everything first, then opens the underlay socket,
// the pcap file and the TAPs, configures the links, starts the data-plane worker and the control
// socket — undoing what it did if any step fails — and runs until SIGINT/SIGTERM.

import { parseArgs } from "node:util";
import { formatEndpoint, formatIp, parseEndpoint, parseIp } from "../core/addr.ts";
import { UsageError } from "../errors.ts";
import { closeTap, openTap, type Tap, validTapName } from "../phy/tap.ts";
import { closeUdp, openSenders, openUdp, type UdpSocket } from "../phy/udp.ts";
import { configureLink, namespaceExists } from "../phy/link.ts";
import { familyOf } from "../phy/sockaddr.ts";
import { openPcap } from "../phy/pcapfile.ts";
import { Dataplane } from "../dataplane/dataplane.ts";
import { type ControlServer, serveControl } from "../control/server.ts";
import { AF_INET, libc } from "../sys/libc.ts";
import { DF_DEFAULT, DF_MODES, type DfMode } from "../core/core.ts";

import {
  DEFAULT_AGEING,
  DEFAULT_MTU,
  DEFAULT_MTU_IPV6,
  MTU_MIN,
  SOURCE_PORTS,
  VNI_MAX,
  VNI_MIN,
  VXLAN_PORT,
} from "../defaults.ts";

/** What a 2 KiB frame slot carries: 2048 − 128 headroom − 64 tailroom − 14 − 4 − 8. */
const MTU_MAX = 1830;

/** One line, appended to usage errors: bad input gets one clear line. */
const USAGE = "(usage: weft vtep --vni N --listen ADDR[:PORT] --tap NAME [--netns NS] [--address CIDR] " +
  "[--peer ADDR[:PORT]]… [--mtu N] [--ageing S] [--fdb-max N] [--pcap FILE] [--control PATH] [--offload all|none|tap,gso,gro] [--no-offload] [--source-ports N] [--df unset|set|inherit] [--noudpcsum])";

/** A remote VTEP on the flood list: address as text (IPv4 dotted or IPv6). */
export interface PeerSpec {
  address: string;
  port: number;
}

export interface VtepOptions {
  vni: number;
  taps: { name: string; netns?: string; address?: string }[];
  mtu: number;
  listen: { address: Uint8Array; port: number };
  peers: PeerSpec[];
  ageing: number;
  learnMax: number;
  pcap?: string;
  control?: string;
  /** Which offloads to use (default all; --no-offload: none, one frame per syscall). */
  offload: Offloads;
  /** Sockets (source ports) the flow hash spreads tunnelled flows over; 0: send from --listen's. */
  sourcePorts: number;
  /** Outer IPv4 DF, as the kernel's `ip link add … type vxlan df unset|set|inherit` (default unset). */
  df: DfMode;
  /** Outer UDP checksum over IPv4, as the kernel's `udpcsum` (default) / `noudpcsum`. */
  udpCsum: boolean;
}

/**
 * tap: IFF_VNET_HDR TAPs hand over TSO super-frames, which the core cuts; gso: the socket sends a
 * cut super-frame as one UDP_SEGMENT message; gro: the socket returns UDP GRO buffers and the core
 * merges TCP segments back into super-frames for the TAPs (needs tap).
 */
export interface Offloads {
  tap: boolean;
  gso: boolean;
  gro: boolean;
}

function offloads(list: string | undefined, none: boolean): Offloads {
  if (none) return { tap: false, gso: false, gro: false };
  if (list === undefined || list === "all") return { tap: true, gso: true, gro: true };
  const want = new Set(list === "none" ? [] : list.split(","));
  for (const w of want) {
    if (!["tap", "gso", "gro"].includes(w)) {
      throw new UsageError(`invalid --offload "${list}": expected all, none, or a list of tap, gso, gro`);
    }
  }
  return { tap: want.has("tap"), gso: want.has("gso"), gro: want.has("gro") };
}

function integer(
  flag: string,
  text: string | undefined,
  min: number,
  max: number,
  fallback?: number,
): number {
  if (text === undefined) {
    if (fallback === undefined) throw new UsageError(`missing --${flag} ${USAGE}`);
    return fallback;
  }
  const v = Number(text);
  if (!/^\d+$/.test(text) || v < min || v > max) {
    throw new UsageError(`invalid --${flag} "${text}": expected an integer ${min}..${max}`);
  }
  return v;
}

function endpoint(flag: string, text: string): { address: Uint8Array; port: number } {
  try {
    return parseEndpoint(text, VXLAN_PORT);
  } catch (e) {
    throw new UsageError(`invalid --${flag} "${text}": ${(e as Error).message}`);
  }
}

function cidr(text: string): string {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  let ok = false;
  if (m) {
    try {
      const family = familyOf(parseIp(m[1]));
      ok = Number(m[2]) <= (family === AF_INET ? 32 : 128);
    } catch { /* reported below */ }
  }
  if (!ok) {
    throw new UsageError(`invalid --address "${text}": expected an address with a prefix, like 10.0.0.1/24`);
  }
  return text;
}

export function parseVtepArgs(args: string[]): VtepOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        vni: { type: "string" },
        tap: { type: "string", multiple: true },
        netns: { type: "string", multiple: true },
        address: { type: "string", multiple: true },
        mtu: { type: "string" },
        listen: { type: "string" },
        peer: { type: "string", multiple: true },
        ageing: { type: "string" },
        "fdb-max": { type: "string" },
        pcap: { type: "string" },
        control: { type: "string" },
        "no-offload": { type: "boolean" },
        offload: { type: "string" },
        "source-ports": { type: "string" },
        df: { type: "string" },
        udpcsum: { type: "boolean" },
        noudpcsum: { type: "boolean" },
      },
    }));
  } catch (e) {
    throw new UsageError(`${(e as Error).message} ${USAGE}`);
  }
  const vni = integer("vni", values.vni, VNI_MIN, VNI_MAX);
  const names = values.tap ?? [];
  if (names.length === 0) throw new UsageError(`missing --tap ${USAGE}`);
  const netns = values.netns ?? [];
  const addresses = values.address ?? [];
  if (netns.length > names.length) {
    throw new UsageError(`${netns.length} --netns for ${names.length} --tap: give one per TAP, in order`);
  }
  if (addresses.length > names.length) {
    throw new UsageError(
      `${addresses.length} --address for ${names.length} --tap: give one per TAP, in order`,
    );
  }
  const taps = names.map((name, i) => {
    if (!validTapName(name)) {
      throw new UsageError(`invalid --tap "${name}": 1 to 15 characters, no "/", ":" or spaces`);
    }
    if (names.indexOf(name) !== i) throw new UsageError(`--tap ${name} given twice`);
    const ns = netns[i] || undefined;
    if (ns !== undefined && !namespaceExists(ns)) {
      throw new UsageError(`unknown network namespace "${ns}": create it with "ip netns add ${ns}"`);
    }
    return { name, netns: ns, address: addresses[i] ? cidr(addresses[i]) : undefined };
  });
  if (!values.listen) throw new UsageError(`missing --listen ADDR[:PORT] ${USAGE}`);
  const listen = endpoint("listen", values.listen);
  const family = familyOf(listen.address);
  const peers = (values.peer ?? []).map((p) => {
    const e = endpoint("peer", p);
    if (familyOf(e.address) !== family) {
      throw new UsageError(`--peer ${p} is not of the same address family as --listen ${values.listen}`);
    }
    // A VTEP never lists itself: the copy it floods to itself would come back, move the local
    // MACs to "remote self", and split horizon would then drop every reply to them.
    if (formatIp(e.address) === formatIp(listen.address)) {
      throw new UsageError(
        `--peer ${p} is this VTEP's own --listen address; list the other VTEPs only`,
      );
    }
    return { address: formatIp(e.address), port: e.port };
  });
  const df = values.df ?? DF_DEFAULT;
  if (!(DF_MODES as readonly string[]).includes(df)) {
    throw new UsageError(`invalid --df "${df}": expected unset, set or inherit`);
  }
  if (values.udpcsum && values.noudpcsum) throw new UsageError("give --udpcsum or --noudpcsum, not both");
  return {
    vni,
    taps,
    mtu: integer("mtu", values.mtu, MTU_MIN, MTU_MAX, family === AF_INET ? DEFAULT_MTU : DEFAULT_MTU_IPV6),
    listen,
    peers,
    ageing: integer("ageing", values.ageing, 1, 0x7fffffff, DEFAULT_AGEING),
    learnMax: integer("fdb-max", values["fdb-max"], 0, 0xffffffff, 0xffffffff),
    pcap: values.pcap,
    control: values.control,
    offload: offloads(values.offload, values["no-offload"] ?? false),
    sourcePorts: integer("source-ports", values["source-ports"], 0, 256, SOURCE_PORTS),
    df: df as DfMode,
    udpCsum: !values.noudpcsum,
  };
}

/**
 * Static ESP keys for the VNI (tests/bench/esp_vtep.ts: the benchmark's encrypted VTEP). Not a
 * CLI option: a static key would repeat its nonces after a restart (cli/esp/keys.ts draws fresh
 * per-sender keys instead); the caller draws new key material for every start.
 */
export interface StaticEsp {
  /** UDP port of ESP in UDP on this VTEP and its peers (cli/esp/esp.ts ESP_PORT). */
  port: number;
  /** This VTEP's SA, and the peers' SAs it accepts: SPI and key material (ESP_KEYMAT_LEN bytes). */
  out: { spi: number; keymat: number[] };
  in: { spi: number; keymat: number[] }[];
}

/** What has been set up so far, torn down in reverse order. */
class Resources {
  udp?: UdpSocket;
  esp?: UdpSocket;
  senders: UdpSocket[] = [];
  pcapFd?: number;
  taps: Tap[] = [];
  dataplane?: Dataplane;
  control?: ControlServer;

  async release(): Promise<void> {
    await this.control?.close().catch(() => {});
    await this.dataplane?.stop().catch(() => {});
    // Closing the last fd of a TAP we created removes it, in whichever namespace it now is.
    for (const t of this.taps.reverse()) closeTap(t);
    if (this.pcapFd !== undefined) libc().close(this.pcapFd);
    if (this.udp) closeUdp(this.udp);
    if (this.esp) closeUdp(this.esp);
    this.senders.forEach(closeUdp);
    this.senders = [];
    this.taps = [];
    this.udp =
      this.esp =
      this.pcapFd =
      this.dataplane =
      this.control =
        undefined;
  }
}

/** `weft vtep ARGS`; with `esp` (the benchmark's encrypted VTEP only), the VNI is encrypted. */
export async function main(args: string[], esp?: StaticEsp): Promise<number> {
  const o = parseVtepArgs(args);
  const r = new Resources();
  const signals = ["SIGINT", "SIGTERM"] as const;
  let stop!: (signal: string) => void;
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  const handlers = signals.map((s) => [s, () => stop(s)] as const);
  for (const [s, h] of handlers) Deno.addSignalListener(s, h);
  try {
    const wire = { df: o.df, udpCsum: o.udpCsum };
    r.udp = openUdp(o.listen.address, o.listen.port, {
      gso: o.offload.gso,
      gro: o.offload.gro,
      recvTos: true,
      ...wire,
    });
    r.senders = openSenders(o.listen.address, o.sourcePorts, { gso: o.offload.gso, ...wire });
    if (esp) r.esp = openUdp(o.listen.address, esp.port, { gso: o.offload.gso, gro: o.offload.gro });
    if (o.pcap) r.pcapFd = openPcap(o.pcap);
    for (const t of o.taps) r.taps.push(openTap(t.name, { vnetHdr: o.offload.tap }));
    for (const t of o.taps) {
      await configureLink({ name: t.name, netns: t.netns, mtu: o.mtu, address: t.address });
    }
    r.dataplane = await Dataplane.start({
      udpFd: r.udp.fd,
      family: r.udp.family,
      vxlanPort: o.listen.port,
      pcapFd: r.pcapFd,
      vnetHdr: o.offload.tap,
      udpGso: r.udp.gso,
      udpGro: r.udp.gro,
      senderFds: r.senders.map((u) => u.fd),
      df: o.df,
      localAddresses: [formatIp(o.listen.address)],
      espFd: r.esp?.fd,
      espPort: esp?.port,
      espGro: r.esp?.gro,
      espGso: r.esp?.gso,
    });
    // One VNI, learning, no ARP suppression (a standalone VTEP has no endpoint records); port ids
    // are the --tap indexes.
    await r.dataplane.ops([
      {
        op: "vni.add",
        vni: o.vni,
        mtu: o.mtu,
        ageing: o.ageing,
        learnMax: o.learnMax,
        suppress: false,
        encrypted: esp !== undefined,
      },
      ...(esp
        ? [
          { op: "esp.out" as const, vni: o.vni, ...esp.out },
          ...esp.in.map((sa) => ({ op: "esp.in" as const, vni: o.vni, ...sa })),
        ]
        : []),
      ...r.taps.map((t, port) => ({ op: "port.add" as const, port, fd: t.fd, name: t.name, vni: o.vni })),
      ...o.peers.map((p) => ({ op: "flood.add" as const, vni: o.vni, addr: p.address, port: p.port })),
    ]);
    if (o.control) r.control = await serveControl(o.control, r.dataplane);
  } catch (e) {
    await r.release();
    for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
    throw e;
  }
  console.log(
    `weft vtep: VNI ${o.vni} on ${formatEndpoint(o.listen.address, o.listen.port)}, ` +
      `taps ${o.taps.map((t) => t.netns ? `${t.name}@${t.netns}` : t.name).join(", ")}, ` +
      `peers ${o.peers.map((p) => `${p.address}:${p.port}`).join(", ") || "none"}` +
      (o.control ? `, control ${o.control}` : ""),
  );
  let code = 0;
  const outcome = await Promise.race([stopped, r.dataplane.failed.catch((e: Error) => e)]);
  if (outcome instanceof Error) {
    console.error(`error: ${outcome.message}`);
    code = 1;
  }
  await r.release();
  for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
  return code;
}
