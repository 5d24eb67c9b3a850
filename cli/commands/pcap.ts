// `weft pcap decap|encap`: runs a capture through the same Wasm core as the data plane, offline.
// Frames go through the core in bursts, as on a host: only the slots and the descriptors cross
// the JS/Wasm boundary, and what comes out is what a VTEP would have sent or delivered.

import { parseArgs } from "node:util";
import { UsageError } from "../errors.ts";
import { UNDERLAY_MTU, VNI_MAX, VNI_MIN, VXLAN_PORT } from "../defaults.ts";
import { loadCore } from "../core/load.ts";
import {
  AddressError,
  DF_MODES,
  type DfMode,
  DROP_REASONS,
  EMIT_DF,
  EMIT_UDP_CSUM,
  isMappedIpv4,
  parseEndpoint,
  parseIp,
  parseMac,
  TARGET_REMOTE,
} from "../core/mod.ts";
import {
  type Capture,
  type CapturePacket,
  LINKTYPE_ETHERNET,
  linkTypeName,
  PcapError,
  type PcapPacket,
  PcapWriter,
  readCapture,
} from "../pcap/mod.ts";
import {
  bump,
  coreConfig,
  type DecapOptions,
  decapsulate as decapsulateWith,
  type DecapSummary,
  linkTypeProblem,
  reasons,
  sum,
  summaryLines,
} from "../pcap/decap.ts";

export type { DecapOptions, DecapSummary };

export const USAGE = `Usage:
  weft pcap decap [--port N]... [--mtu N] IN OUT.pcap
  weft pcap encap --vni N --src IP[:PORT] --dst IP[:PORT] [--src-mac MAC] [--dst-mac MAC]
                  [--mtu N] [--df unset|set|inherit] [--noudpcsum] IN.pcap OUT.pcap

decap  Every VXLAN packet of IN is decapsulated by the core and written to OUT as its inner
       Ethernet frame, with the original timestamp (nanoseconds kept). Prints one line per VNI
       (decapsulated, dropped and why) and one for packets that were not VXLAN. IN: pcap or
       pcapng; Ethernet (any number of VLAN tags), Linux cooked (tcpdump -i any: SLL, SLL2) or
       raw IP; IPv6 extension headers skipped and outer IP fragments reassembled as the
       receiving kernel does; a record cut by the snap length is written with its length.
         --port N   UDP destination port that means VXLAN (default 4789; Linux's old one: 8472;
                    repeat it for several). 4790 is VXLAN-GPE: only an Ethernet payload is
                    decapsulated, others are dropped (gpe_not_ethernet, gpe_bad_flags)
encap  Every Ethernet frame of IN is encapsulated by the core for VNI N and sent, as on the
       wire, from --src to the VTEP --dst (IPv4 or IPv6, both the same family).
         --vni N        0..16777215
         --src IP[:PORT] local underlay address; a PORT fixes the UDP source port, otherwise
                        each frame gets the core's flow-hash port (RFC 7348 §5)
         --dst IP[:PORT] remote VTEP (default port 4789)
         --src-mac, --dst-mac  outer MACs (default 02:42 followed by the last 4 bytes of the
                        --src and --dst address, Docker-style)
         --df MODE      outer IPv4 DF as the kernel's \`ip link … type vxlan df MODE\`: unset
                        (default: DF 0), set (DF 1), inherit (DF when the inner packet is IPv4
                        with DF, or IPv6)
         --udpcsum, --noudpcsum  fill the outer UDP checksum over IPv4 (default, as the kernel's
                        udpcsum) or leave it zero; over IPv6 it is always filled
       The outer ECN field follows the inner one (RFC 6040: CE goes out as ECT(0)); DSCP is 0,
       TTL 64, as the kernel's defaults (tos 0, ttl 64).
Both:
  --mtu N  network MTU: larger inner frames are dropped and counted (over_mtu). The default
           here is 1500, not the overlay's 1450, because captures are offline and usually
           come from 1500-byte links.`;

const DEFAULT_MTU = UNDERLAY_MTU;
const MAX_MTU = 65000;

export async function main(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "help" || sub === "--help" || sub === "-h") {
    console.log(USAGE);
    return 0;
  }
  if (sub === "decap") return await decapCommand(rest);
  if (sub === "encap") return await encapCommand(rest);
  if (sub === undefined) {
    console.log(USAGE);
    return 2;
  }
  throw new UsageError(`unknown pcap subcommand "${sub}": expected decap or encap`);
}

// ── decap ────────────────────────────────────────────────────────────────────────────────────

/** cli/pcap/decap.ts's decapsulate() with the core from build/weft.wasm. */
export function decapsulate<P extends CapturePacket>(
  packets: P[],
  o: DecapOptions,
  emit: (packet: P, frame: Uint8Array, origLen: number) => void,
): Promise<DecapSummary> {
  return decapsulateWith(packets, o, emit, loadCore);
}

async function decapCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    port: { type: "string", multiple: true },
    mtu: { type: "string" },
  });
  const [input, output] = files(positionals);
  const ports = values.port === undefined || values.port.length === 0
    ? [VXLAN_PORT]
    : [...new Set(values.port.map((p) => integer("--port", p, 1, 65535)))];
  const mtu = values.mtu === undefined ? DEFAULT_MTU : integer("--mtu", values.mtu, 68, MAX_MTU);
  const capture = await readInput(input);
  const problem = linkTypeProblem(capture.linkTypes);
  if (problem) throw new UsageError(`${input}: ${problem}`);
  // Nanosecond timestamps in, nanosecond timestamps out (tcpdump --nano reads them).
  const writer = new PcapWriter(LINKTYPE_ETHERNET, 262144, { nanos: capture.nanos });
  const summary = await decapsulate(
    capture.packets,
    { ports, mtu },
    (p, frame, origLen) => writer.writeAt(p.seconds, p.nanos, frame, origLen),
  );
  await writeCapture(output, writer);
  for (const line of summaryLines(summary)) console.log(line);
  console.log(`wrote ${summary.written} frames to ${output}`);
  return 0;
}

// ── encap ────────────────────────────────────────────────────────────────────────────────────

export interface EncapOptions {
  vni: number;
  /** Local underlay address, 16 bytes (IPv4 mapped). */
  src: Uint8Array;
  /** A fixed UDP source port, or undefined for the flow-hash port. */
  srcPort?: number;
  dst: Uint8Array;
  dstPort: number;
  srcMac: Uint8Array;
  dstMac: Uint8Array;
  mtu: number;
  /** Outer IPv4 DF: "unset" (the kernel's default), "set", or "inherit" from the inner packet. */
  df?: DfMode;
  /** Fill the outer UDP checksum over IPv4 (default true, the kernel's `udpcsum`). */
  udpCsum?: boolean;
}

export interface EncapSummary {
  encapsulated: number;
  dropped: Map<string, number>;
}

async function encapCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    vni: { type: "string" },
    src: { type: "string" },
    dst: { type: "string" },
    "src-mac": { type: "string" },
    "dst-mac": { type: "string" },
    mtu: { type: "string" },
    df: { type: "string" },
    udpcsum: { type: "boolean" },
    noudpcsum: { type: "boolean" },
  });
  if (values.vni === undefined) throw new UsageError("pcap encap needs --vni N (0..16777215)");
  if (values.udpcsum && values.noudpcsum) throw new UsageError("give --udpcsum or --noudpcsum, not both");
  const df = values.df ?? "unset";
  if (!(DF_MODES as readonly string[]).includes(df)) {
    throw new UsageError(`invalid --df "${df}": expected unset, set or inherit`);
  }
  if (values.src === undefined) {
    throw new UsageError("pcap encap needs --src IP[:PORT], the local underlay address");
  }
  if (values.dst === undefined) throw new UsageError("pcap encap needs --dst IP[:PORT], the remote VTEP");
  const [input, output] = files(positionals);
  const vni = integer("--vni", values.vni, VNI_MIN, VNI_MAX);
  const src = endpoint("--src", values.src);
  const dst = endpoint("--dst", values.dst);
  if (isMappedIpv4(src.address) !== isMappedIpv4(dst.address)) {
    throw new UsageError(`--src ${values.src} and --dst ${values.dst} must both be IPv4 or both IPv6`);
  }
  const o: EncapOptions = {
    vni,
    src: src.address,
    srcPort: src.port,
    dst: dst.address,
    dstPort: dst.port ?? VXLAN_PORT,
    srcMac: mac("--src-mac", values["src-mac"], src.address),
    dstMac: mac("--dst-mac", values["dst-mac"], dst.address),
    mtu: values.mtu === undefined ? DEFAULT_MTU : integer("--mtu", values.mtu, 68, MAX_MTU),
    df: df as DfMode,
    udpCsum: !values.noudpcsum,
  };
  const packets = await readEthernet(input);
  const writer = new PcapWriter();
  const s = await encapsulate(packets, o, (time, packet) => writer.write(time, packet));
  await writeCapture(output, writer);
  console.log(`vni ${vni}: ${s.encapsulated} encapsulated, ${sum(s.dropped)} dropped${reasons(s.dropped)}`);
  console.log(`wrote ${s.encapsulated} packets to ${output}`);
  return 0;
}

/** Encapsulates every frame of a capture for one remote VTEP; `emit` gets whole outer packets. */
export async function encapsulate(
  packets: PcapPacket[],
  o: EncapOptions,
  emit: (time: number, packet: Uint8Array) => void,
): Promise<EncapSummary> {
  const core = await loadCore(coreConfig(packets, o.mtu, { maxVnis: 1, maxPorts: 1, maxVteps: 1 }));
  // No learning: a frame whose destination was learned on port 0 would be dropped as same_port;
  // without it every frame floods, and the flood list is the one VTEP.
  core.addVni(o.vni, { learning: false, suppress: false, mtu: o.mtu });
  core.attachPort(0, o.vni);
  const vtep = core.addVtep(o.dst, o.dstPort);
  core.addFlood(o.vni, vtep);
  const args = core.exports.args();
  core.bytes.set(o.src, args);
  core.bytes.set(o.dstMac, args + 16);
  core.bytes.set(o.srcMac, args + 22);

  const summary: EncapSummary = { encapsulated: 0, dropped: new Map() };
  const burst = core.config.burst;
  for (let start = 0; start < packets.length; start += burst) {
    const chunk = packets.slice(start, start + burst);
    const index: number[] = [];
    let n = 0;
    for (let k = 0; k < chunk.length; k++) {
      if (chunk[k].data.length > core.slotCapacity) {
        bump(summary.dropped, "too_large_for_slot");
        continue;
      }
      core.load(n++, chunk[k].data, 0);
      index.push(start + k);
    }
    const tx = core.process(n, 0);
    const sent = new Array<boolean>(n).fill(false);
    for (let t = 0; t < tx; t++) {
      const e = core.tx(t);
      if ((e.target & TARGET_REMOTE) === 0 || sent[e.rxIndex]) continue;
      const head = core.exports.underlayEmit(
        e.ptr,
        e.len,
        vtep,
        o.srcPort ?? e.srcPort,
        e.tos,
        emitFlags(o, e.innerDf),
      );
      if (head === 0) throw new Error(`underlayEmit refused TX entry ${t} (ptr ${e.ptr}, ${e.len} bytes)`);
      const len = e.len + (e.ptr - head);
      emit(packets[index[e.rxIndex]].time, core.bytes.slice(head, head + len));
      sent[e.rxIndex] = true;
      summary.encapsulated++;
    }
    for (let i = 0; i < n; i++) {
      const verdict = core.verdict(i);
      if (verdict !== 0) bump(summary.dropped, DROP_REASONS[verdict - 1]?.[0] ?? `reason_${verdict - 1}`);
      else if (!sent[i]) bump(summary.dropped, "no_recipient");
    }
  }
  return summary;
}

/** underlayEmit flags for a TX entry: DF as `o.df` says, the UDP checksum unless turned off. */
export function emitFlags(o: Pick<EncapOptions, "df" | "udpCsum">, innerDf: boolean): number {
  const df = o.df === "set" || (o.df === "inherit" && innerDf);
  return (df ? EMIT_DF : 0) | (o.udpCsum === false ? 0 : EMIT_UDP_CSUM);
}

// ── helpers ──────────────────────────────────────────────────────────────────────────────────

function parse<T extends Record<string, { type: "string" | "boolean"; multiple?: boolean }>>(
  args: string[],
  options: T,
) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    const message = (e as Error).message;
    const unknown = /^Unknown option '([^']+)'/.exec(message)?.[1];
    const what = unknown ? `unknown option ${unknown}` : message.split("\n")[0];
    throw new UsageError(`${what}; run "weft pcap help"`);
  }
}

function files(positionals: string[]): [string, string] {
  if (positionals.length !== 2) {
    throw new UsageError(
      `expected IN.pcap and OUT.pcap, got ${positionals.length} file name(s); run "weft pcap help"`,
    );
  }
  return [positionals[0], positionals[1]];
}

function integer(name: string, text: string, min: number, max: number): number {
  const v = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw new UsageError(`invalid ${name} "${text}": expected an integer in ${min}..${max}`);
  }
  return v;
}

/** IP or IP:PORT ([v6]:PORT); port undefined when none was given. */
function endpoint(name: string, text: string): { address: Uint8Array; port?: number } {
  try {
    const bare = /^\[([^\]]+)\]$/.exec(text)?.[1] ?? text;
    try {
      return { address: parseIp(bare) };
    } catch {
      return parseEndpoint(text, VXLAN_PORT);
    }
  } catch (e) {
    if (e instanceof AddressError) throw new UsageError(`invalid ${name}: ${e.message}`);
    throw e;
  }
}

/** The given MAC, or Docker's 02:42 + the last 4 bytes of the address. */
function mac(name: string, text: string | undefined, address: Uint8Array): Uint8Array {
  if (text === undefined) return Uint8Array.of(0x02, 0x42, ...address.subarray(12, 16));
  try {
    return parseMac(text);
  } catch (e) {
    throw new UsageError(`invalid ${name}: ${(e as Error).message}`);
  }
}

/** Reads a classic pcap or pcapng file; a file that is neither is a UsageError naming it. */
async function readInput(path: string): Promise<Capture> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new UsageError(`cannot read ${path}: no such file`);
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new UsageError(`cannot read ${path}: permission denied`);
    }
    if (e instanceof Deno.errors.IsADirectory) throw new UsageError(`cannot read ${path}: is a directory`);
    throw new UsageError(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return readCapture(bytes);
  } catch (e) {
    if (e instanceof PcapError) throw new UsageError(`${path}: ${e.message}`);
    throw e;
  }
}

/** The packets of an Ethernet capture (what `encap` takes). */
async function readEthernet(path: string): Promise<PcapPacket[]> {
  const capture = await readInput(path);
  const other = capture.linkTypes.find((t) => t !== LINKTYPE_ETHERNET);
  if (other !== undefined) {
    throw new UsageError(
      `${path}: link type ${linkTypeName(other)} is not Ethernet (1); weft encapsulates Ethernet frames only`,
    );
  }
  return capture.packets;
}

async function writeCapture(path: string, writer: PcapWriter): Promise<void> {
  try {
    await Deno.writeFile(path, writer.bytes());
  } catch (e) {
    throw new UsageError(`cannot write ${path}: ${(e as Error).message}`);
  }
}
