// This node's VTEP, opened the one way `weft vtep` and the daemon both use: the underlay UDP
// socket on the VTEP address and port, the source-port senders, the ESP-in-UDP socket (when
// asked for and libcrypto loads), a pcap file, the TAPs with their links configured, and then
// the data-plane worker — the Wasm core with its frame loop — started on those fds. What it
// carries is programmed afterwards with ops (VNIs, ports, peers): `weft vtep` sends its whole
// configuration at once, the daemon what the swarm says as it changes.

import { formatIp } from "../core/addr.ts";
import type { DfMode } from "../core/config.ts";
import { SOURCE_PORTS } from "../defaults.ts";
import { configureLink } from "../phy/link.ts";
import { openPcap } from "../phy/pcapfile.ts";
import { closeTap, openTap, type Tap } from "../phy/tap.ts";
import { closeUdp, openSenders, openUdp, type UdpSocket } from "../phy/udp.ts";
import { libc } from "../sys/libc.ts";
import { loadAead } from "../sys/libgnutls.ts";
import { DataplaneWorker } from "./dataplane.ts";

/**
 * Kernel offloads of the frame path. tap: IFF_VNET_HDR TAPs hand over TSO super-frames, which
 * the core cuts; gso: the socket sends a cut super-frame as one UDP_SEGMENT message; gro: the
 * socket returns UDP GRO buffers and the core merges TCP segments back into super-frames for
 * the TAPs (needs tap). All three on is what `weft vtep` and the daemon use by default.
 */
export interface Offloads {
  /** TAPs with IFF_VNET_HDR + TUNSETOFFLOAD (TAP_OFFLOADS), and OFFLOAD_CONFIG's 128 KiB slots. */
  tap: boolean;
  /** UDP_SEGMENT on the sockets (enableUdpGso). */
  gso: boolean;
  /** UDP_GRO on the receiving sockets (enableUdpGro). */
  gro: boolean;
}

/** A TAP the VTEP opens: its name, and where and how its link is set up (cli/phy/link.ts). */
export interface VtepTap {
  /** Interface name, 1..15 bytes (validTapName). */
  name: string;
  /** Named network namespace to move it into (ip-netns(8)); default: stay here. */
  netns?: string;
  /** An address with a prefix for it, e.g. "10.0.0.1/24"; default: none. */
  address?: string;
}

/** What to open. Defaults are the kernel VXLAN's (`ip link add … type vxlan`). */
export interface NodeVtepConfig {
  /** The VTEP's underlay address, 16-byte form (IPv4 as ::ffff:a.b.c.d): the sockets bind to it,
   *  and the core drops datagrams from it (self_vtep) instead of learning from them. */
  address: Uint8Array;
  /** UDP port that receives VXLAN (VXLAN_PORT, 4789, unless configured otherwise). */
  port: number;
  /** Which kernel offloads to use. */
  offload: Offloads;
  /** Sockets on ephemeral ports the inner flow's hash spreads sends over (RFC 7348 §5);
   *  default SOURCE_PORTS; 0: send from `port`'s socket. */
  sourcePorts?: number;
  /** Outer IPv4 DF, as the kernel's `df` (default DF_DEFAULT, "unset"). */
  df?: DfMode;
  /** Outer UDP checksum over IPv4, as the kernel's `udpcsum` (default true). */
  udpCsum?: boolean;
  /** Open an ESP-in-UDP socket for encrypted networks on `port` (ESP_PORT, or the port the
   *  peers use); default: none. With `optional`, failing to (no libcrypto, the port taken) is no
   *  error: NodeVtep.espError says why, and only encrypted networks stay down. */
  esp?: { port: number; optional?: boolean };
  /** A pcap file to create; the worker appends every frame it handles (default: none). */
  pcap?: string;
  /** TAPs to open (IFF_VNET_HDR when offload.tap) and configure before the worker starts; their
   *  fds go to the worker with the ops that attach them (default: none; the daemon opens a TAP
   *  per container itself). */
  taps?: VtepTap[];
  /** MTU of the TAPs' links: bytes of L3 payload (DEFAULT_MTU for an IPv4 underlay). Needed
   *  with `taps`. */
  mtu?: number;
}

/** An opened VTEP: the fds it holds and the worker that switches between them. */
export class NodeVtep {
  /** Why this node cannot encrypt (libcrypto missing, ESP port taken) when `esp.optional`;
   *  undefined when it can or when no ESP socket was asked for. */
  espError?: string;

  private constructor(
    /** The main thread's handle on the data-plane worker: ops, FDB, counters, stop. */
    readonly worker: DataplaneWorker,
    /** The socket on the VXLAN port: receives, and sends when there are no senders. */
    readonly udp: UdpSocket,
    readonly senders: UdpSocket[],
    readonly taps: Tap[],
    readonly esp?: UdpSocket,
    private readonly pcapFd?: number,
  ) {}

  /**
   * Opens everything in `config`, in order — sockets, pcap file, TAPs and their links — then
   * starts the worker on them and resolves once it polls. A failure at any step closes what the
   * earlier steps opened.
   * @throws {SysError} from openUdp, openTap or openPcap (errno and what to do, e.g. EADDRINUSE:
   *   another VTEP uses the port). {UsageError} for an invalid TAP name. {LinkError} when `ip`
   *   cannot configure a TAP's link. {DataplaneError} when the worker fails to start.
   */
  static async open(config: NodeVtepConfig, log: (m: string) => void = console.error): Promise<NodeVtep> {
    const o = config;
    const wire = { df: o.df, udpCsum: o.udpCsum };
    let udp: UdpSocket | undefined, esp: UdpSocket | undefined, pcapFd: number | undefined;
    let senders: UdpSocket[] = [], espError: string | undefined;
    const taps: Tap[] = [];
    try {
      udp = openUdp(o.address, o.port, { gso: o.offload.gso, gro: o.offload.gro, recvTos: true, ...wire });
      senders = openSenders(o.address, o.sourcePorts ?? SOURCE_PORTS, { gso: o.offload.gso, ...wire });
      if (o.esp) {
        try {
          loadAead();
          esp = openUdp(o.address, o.esp.port, { gso: o.offload.gso, gro: o.offload.gro });
        } catch (e) {
          if (!o.esp.optional) throw e;
          espError = `this node cannot encrypt: ${e instanceof Error ? e.message : e}`;
          log(espError);
        }
      }
      if (o.pcap) pcapFd = openPcap(o.pcap);
      for (const t of o.taps ?? []) taps.push(openTap(t.name, { vnetHdr: o.offload.tap }));
      for (const t of o.taps ?? []) {
        await configureLink({ name: t.name, netns: t.netns, mtu: o.mtu!, address: t.address });
      }
      const worker = await DataplaneWorker.start({
        udpFd: udp.fd,
        family: udp.family,
        vxlanPort: o.port,
        pcapFd,
        vnetHdr: o.offload.tap,
        udpGso: udp.gso,
        udpGro: udp.gro,
        senderFds: senders.map((s) => s.fd),
        df: o.df,
        localAddresses: [formatIp(o.address)],
        espFd: esp?.fd,
        espPort: o.esp?.port,
        espGro: esp?.gro,
        espGso: esp?.gso,
      });
      const vtep = new NodeVtep(worker, udp, senders, taps, esp, pcapFd);
      vtep.espError = espError;
      return vtep;
    } catch (e) {
      NodeVtep.release(taps, pcapFd, udp, senders, esp);
      throw e;
    }
  }

  /** Stops the worker, then closes every fd it opened, in reverse order. Closing the last fd of
   *  a TAP we created removes it, in whichever namespace it now is. */
  async close(): Promise<void> {
    await this.worker.stop().catch(() => {});
    NodeVtep.release(this.taps, this.pcapFd, this.udp, this.senders, this.esp);
  }

  private static release(
    taps: Tap[],
    pcapFd: number | undefined,
    udp: UdpSocket | undefined,
    senders: UdpSocket[],
    esp: UdpSocket | undefined,
  ): void {
    for (const t of [...taps].reverse()) closeTap(t);
    if (pcapFd !== undefined) libc().close(pcapFd);
    if (udp) closeUdp(udp);
    senders.forEach(closeUdp);
    if (esp) closeUdp(esp);
  }
}
