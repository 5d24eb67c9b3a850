// `weft vtep`: one standalone VTEP. Validates everything first, then opens this node's VTEP
// (NodeVtep.open, as the daemon does: underlay sockets, pcap file, TAPs and their links, the
// data-plane worker), programs its one VNI and starts the control socket — undoing what it did if
// any step fails — and runs until SIGINT/SIGTERM.

import { parseArgs } from "node:util";
import { formatEndpoint, formatIp, parseEndpoint, parseIp } from "../core/addr.ts";
import { UsageError } from "../errors.ts";
import { validTapName } from "../phy/tap.ts";
import { namespaceExists } from "../phy/link.ts";
import { familyOf } from "../phy/sockaddr.ts";
import { NodeVtep, type Offloads, type VtepTap } from "../dataplane/node_vtep.ts";
import { type ControlServer, serveControl } from "../control/server.ts";
import { AF_INET } from "../sys/libc.ts";
import { DF_DEFAULT, DF_MODES, type DfMode } from "../core/config.ts";

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
  taps: VtepTap[];
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
  /** UDP port of ESP in UDP on this VTEP and its peers (ESP_PORT in cli/esp/port.ts). */
  port: number;
  /** This VTEP's SA, and the peers' SAs it accepts: SPI and key material (ESP_KEYMAT_LEN bytes). */
  out: { spi: number; keymat: number[] };
  in: { spi: number; keymat: number[] }[];
}

/** `weft vtep ARGS`; with `esp` (the benchmark's encrypted VTEP only), the VNI is encrypted. */
export async function main(args: string[], esp?: StaticEsp): Promise<number> {
  const o = parseVtepArgs(args);
  const signals = ["SIGINT", "SIGTERM"] as const;
  let stop!: (signal: string) => void;
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  const handlers = signals.map((s) => [s, () => stop(s)] as const);
  for (const [s, h] of handlers) Deno.addSignalListener(s, h);
  let vtep: NodeVtep | undefined, control: ControlServer | undefined;
  const release = async () => {
    await control?.close().catch(() => {});
    await vtep?.close();
    vtep = control = undefined;
  };
  try {
    vtep = await NodeVtep.open({
      address: o.listen.address,
      port: o.listen.port,
      offload: o.offload,
      sourcePorts: o.sourcePorts,
      df: o.df,
      udpCsum: o.udpCsum,
      pcap: o.pcap,
      taps: o.taps,
      mtu: o.mtu,
      ...(esp ? { esp: { port: esp.port } } : {}),
    });
    // One VNI, learning, no ARP suppression (a standalone VTEP has no endpoint records); port ids
    // are the --tap indexes.
    await vtep.worker.ops([
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
      ...vtep.taps.map((t, port) => ({ op: "port.add" as const, port, fd: t.fd, name: t.name, vni: o.vni })),
      ...o.peers.map((p) => ({ op: "flood.add" as const, vni: o.vni, addr: p.address, port: p.port })),
    ]);
    if (o.control) control = await serveControl(o.control, vtep.worker);
  } catch (e) {
    await release();
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
  const outcome = await Promise.race([stopped, vtep.worker.failed.catch((e: Error) => e)]);
  if (outcome instanceof Error) {
    console.error(`error: ${outcome.message}`);
    code = 1;
  }
  await release();
  for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
  return code;
}
