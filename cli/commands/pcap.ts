// `weft pcap decap|encap`: runs a capture through the same Wasm core as the data plane, offline.
// Frames go through the core in bursts, as on a host: only the slots and the descriptors cross
// the JS/Wasm boundary, and what comes out is what a VTEP would have sent or delivered.

import { parseArgs } from "node:util";
import { UsageError } from "../errors.ts";
import { UNDERLAY_MTU, VNI_MAX, VNI_MIN, VXLAN_PORT } from "../defaults.ts";
import { loadCore } from "../core/load.ts";
import {
  AddressError,
  type CoreConfig,
  DROP_REASONS,
  isMappedIpv4,
  parseEndpoint,
  parseIp,
  parseMac,
  PORT_UNDERLAY_ETH,
  TARGET_REMOTE,
  type WeftCore,
} from "../core/mod.ts";
import { LINKTYPE_ETHERNET, PcapError, type PcapPacket, PcapWriter, readPcap } from "../pcap/pcap.ts";

export const USAGE = `Usage:
  weft pcap decap [--port N] [--mtu N] IN.pcap OUT.pcap
  weft pcap encap --vni N --src IP[:PORT] --dst IP[:PORT] [--src-mac MAC] [--dst-mac MAC]
                  [--mtu N] IN.pcap OUT.pcap

decap  Every VXLAN packet of IN (outer Ethernet/IP/UDP/VXLAN) is decapsulated by the core and
       written to OUT as its inner Ethernet frame, with the original timestamp. Prints one line
       per VNI (decapsulated, dropped and why) and one for packets that were not VXLAN.
         --port N   UDP destination port that means VXLAN (default 4789; Linux's old one: 8472)
encap  Every Ethernet frame of IN is encapsulated by the core for VNI N and sent, as on the
       wire, from --src to the VTEP --dst (IPv4 or IPv6, both the same family).
         --vni N        1..16777215
         --src IP[:PORT] local underlay address; a PORT fixes the UDP source port, otherwise
                        each frame gets the core's flow-hash port (RFC 7348 §5)
         --dst IP[:PORT] remote VTEP (default port 4789)
         --src-mac, --dst-mac  outer MACs (default 02:42 followed by the last 4 bytes of the
                        --src and --dst address, Docker-style)
Both:
  --mtu N  network MTU: larger inner frames are dropped and counted (over_mtu). The default
           here is 1500, not the overlay's 1450, because captures are offline and usually
           come from 1500-byte links.`;

const DEFAULT_MTU = UNDERLAY_MTU;
const MAX_MTU = 65000;
/** A slot holds headroom + frame + tailroom; vniAdd also wants room for the VXLAN overhead. */
const SLOT_OVERHEAD = 128 + 64 + 26;
const MAX_SLOT_LOG2 = 17;

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

export interface DecapSummary {
  /** Per VNI, in order of first appearance. */
  vnis: Map<number, { decapsulated: number; dropped: Map<string, number> }>;
  /** Packets that carried no VNI: reason → count. */
  other: Map<string, number>;
  written: number;
}

async function decapCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    port: { type: "string" },
    mtu: { type: "string" },
  });
  const [input, output] = files(positionals);
  const port = values.port === undefined ? VXLAN_PORT : integer("--port", values.port, 1, 65535);
  const mtu = values.mtu === undefined ? DEFAULT_MTU : integer("--mtu", values.mtu, 68, MAX_MTU);
  const packets = await readCapture(input);
  const writer = new PcapWriter();
  const summary = await decapsulate(packets, { port, mtu }, (time, frame) => writer.write(time, frame));
  await writeCapture(output, writer);
  for (const [vni, s] of summary.vnis) {
    const drops = sum(s.dropped);
    console.log(`vni ${vni}: ${s.decapsulated} decapsulated, ${drops} dropped${reasons(s.dropped)}`);
  }
  const other = sum(summary.other);
  if (other > 0) console.log(`not VXLAN or malformed: ${other}${reasons(summary.other)}`);
  console.log(`wrote ${summary.written} frames to ${output}`);
  return 0;
}

/** Decapsulates every VXLAN packet of a capture; `emit` gets each inner frame in input order. */
export async function decapsulate(
  packets: PcapPacket[],
  o: { port: number; mtu: number },
  emit: (time: number, frame: Uint8Array) => void,
): Promise<DecapSummary> {
  const core = await loadCore(coreConfig(packets, o.mtu, { maxVnis: 1024, maxPorts: 1024, maxVteps: 1 }));
  core.setVxlanPort(o.port);
  const summary: DecapSummary = { vnis: new Map(), other: new Map(), written: 0 };
  const tooBig = core.slotCapacity;
  const burst = core.config.burst;
  const vniOf: number[] = new Array(burst);
  for (let start = 0; start < packets.length; start += burst) {
    const chunk = packets.slice(start, start + burst);
    let n = 0;
    const index: number[] = []; // descriptor → packet of this chunk
    for (let k = 0; k < chunk.length; k++) {
      const p = chunk[k];
      if (p.data.length > tooBig) {
        bump(summary.other, "too_large_for_slot");
        continue;
      }
      core.load(n, p.data, PORT_UNDERLAY_ETH);
      const vni = core.exports.underlayVni(core.slotData(n), p.data.length);
      if (vni >= 0 && !summary.vnis.has(vni)) {
        summary.vnis.set(vni, { decapsulated: 0, dropped: new Map() });
        addSinkVni(core, vni, summary.vnis.size - 1, o.mtu);
      }
      vniOf[n] = vni;
      index.push(start + k);
      n++;
    }
    const tx = core.process(n, 0);
    const out: (Uint8Array | undefined)[] = new Array(n);
    for (let t = 0; t < tx; t++) {
      const e = core.tx(t);
      if ((e.target & TARGET_REMOTE) !== 0 || out[e.rxIndex]) continue;
      out[e.rxIndex] = core.txBytes(t);
    }
    for (let i = 0; i < n; i++) {
      const verdict = core.verdict(i);
      const vni = vniOf[i];
      const s = vni >= 0 ? summary.vnis.get(vni)! : undefined;
      if (verdict !== 0 || !out[i]) {
        const reason = verdict === 0
          ? "no_recipient"
          : DROP_REASONS[verdict - 1]?.[0] ?? `reason_${verdict - 1}`;
        bump(s ? s.dropped : summary.other, reason);
        continue;
      }
      if (s) s.decapsulated++;
      emit(packets[index[i]].time, out[i]!);
      summary.written++;
    }
  }
  return summary;
}

/** A VNI whose only member is one local port: every decapsulated frame floods to it. */
function addSinkVni(core: WeftCore, vni: number, port: number, mtu: number): void {
  try {
    core.addVni(vni, { learning: false, suppress: false, mtu });
    core.attachPort(port, vni);
  } catch {
    // Table full: the core drops this VNI's packets as unknown_vni, and the summary says so.
  }
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
  });
  if (values.vni === undefined) throw new UsageError("pcap encap needs --vni N (1..16777215)");
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
  };
  const packets = await readCapture(input);
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
      const head = core.exports.underlayEmit(e.ptr, e.len, vtep, o.srcPort ?? e.srcPort);
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

// ── helpers ──────────────────────────────────────────────────────────────────────────────────

/** Slots big enough for the largest packet of the capture (GSO super-frames too) and the MTU. */
export function coreConfig(
  packets: PcapPacket[],
  mtu: number,
  limits: Partial<CoreConfig>,
): Partial<CoreConfig> {
  let largest = mtu + SLOT_OVERHEAD;
  for (const p of packets) largest = Math.max(largest, p.data.length + SLOT_OVERHEAD);
  let log2 = 11;
  while (log2 < MAX_SLOT_LOG2 && 1 << log2 < largest) log2++;
  return { burst: 64, slots: 64, txEntries: 4096, slotSizeLog2: log2, ...limits };
}

function parse<T extends Record<string, { type: "string" }>>(args: string[], options: T) {
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

async function readCapture(path: string): Promise<PcapPacket[]> {
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
    const pcap = readPcap(bytes);
    if (pcap.linkType !== LINKTYPE_ETHERNET) {
      throw new UsageError(
        `${path}: link type ${pcap.linkType} is not Ethernet (1); weft reads Ethernet captures only`,
      );
    }
    return pcap.packets;
  } catch (e) {
    if (e instanceof PcapError) throw new UsageError(`${path}: ${e.message}`);
    throw e;
  }
}

async function writeCapture(path: string, writer: PcapWriter): Promise<void> {
  try {
    await Deno.writeFile(path, writer.bytes());
  } catch (e) {
    throw new UsageError(`cannot write ${path}: ${(e as Error).message}`);
  }
}

function bump(m: Map<string, number>, key: string): void {
  m.set(key, (m.get(key) ?? 0) + 1);
}

function sum(m: Map<string, number>): number {
  let n = 0;
  for (const v of m.values()) n += v;
  return n;
}

function reasons(m: Map<string, number>): string {
  if (m.size === 0) return "";
  return ` (${[...m].map(([k, v]) => `${k} ${v}`).join(", ")})`;
}
