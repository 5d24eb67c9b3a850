// From the manager's snapshot to what this node's data plane should hold: pure functions, no
// I/O. The daemon (daemon.ts apply) gathers the inputs, runs these, and carries the actions out
// on VtepReconciler (whose own diff turns a DesiredVni into data-plane ops).

import type { NetworkRecord, Snapshot } from "../swarm/types.ts";
import type { DesiredVni } from "./vtep_reconciler.ts";
import type { EspDesired } from "./encryption.ts";
import type { Attachment } from "./records.ts";
import { ESP_MTU_REDUCTION } from "../../esp/esp.ts";
import { VXLAN_OVERHEAD_IPV4, VXLAN_OVERHEAD_IPV6 } from "../../defaults.ts";

/** What this node is and has, besides the snapshot. */
export interface NodeState {
  /** This node's id (absent before it is in a swarm). */
  me?: string;
  /** Every attachment of this host's containers. */
  local: readonly Attachment[];
  /** Why this node cannot encrypt (VtepReconciler.espError), if it cannot. */
  espError?: string;
  /** The SAs planned per encrypted network id (NodeEncryption.plan). */
  espPlans: ReadonlyMap<string, EspDesired>;
  /** The underlay device's MTU in bytes, once known. */
  underlayMtu?: number;
  /** The VTEP's underlay address (IPv6 when it holds a ":"). */
  vtepAddr?: string;
  /** VNIs the data plane holds now. */
  programmed: ReadonlySet<number>;
}

/** One step for the daemon, in order. */
export type Action =
  /** An encrypted network stays down on this node: it cannot encrypt (fail closed). */
  | { op: "hold"; network: NetworkRecord; reason: string }
  /** Bring the VNI to `want` (VtepReconciler.reconcile). */
  | { op: "program"; network: NetworkRecord; want: DesiredVni }
  /** A local VNI the snapshot does not cover (the manager may be resyncing): keep it up from
   * what the container knows (Daemon.ensureVni). It is never torn down here. */
  | { op: "ensure"; attachment: Attachment };

/**
 * A network's MTU on this node, in bytes of L3 payload: -o com.docker.network.driver.mtu when
 * given, else the underlay device's MTU minus VXLAN_OVERHEAD_IPV4 (50: outer IPv4 + UDP + VXLAN +
 * inner Ethernet; VXLAN_OVERHEAD_IPV6, 70, over IPv6), not an assumed 1500 (libnetwork#1021,
 * #2661); an encrypted network also gives up ESP_MTU_REDUCTION. Without an underlay device
 * found: NetworkRecord.mtu.
 */
export function networkMtu(net: NetworkRecord, underlayMtu?: number, vtepAddr?: string): number {
  if (net.mtuOption) return net.mtuOption;
  if (!underlayMtu) return net.mtu;
  const overhead = (vtepAddr ?? "").includes(":") ? VXLAN_OVERHEAD_IPV6 : VXLAN_OVERHEAD_IPV4;
  return underlayMtu - overhead - (net.encrypted ? ESP_MTU_REDUCTION : 0);
}

/** The snapshot's networks that have a local container (by VNI): those this node instantiates. */
export function localNetworks(s: Snapshot, local: readonly Attachment[]): NetworkRecord[] {
  const vnis = new Set(local.map((a) => a.vni));
  return s.networks.filter((n) => vnis.has(n.vni));
}

/**
 * What VNI `vni` (network `networkId`, `mtu` bytes) should hold: every other node's endpoint on
 * the network as a remote at that node's data address (dataAddr, else addr), one flood entry per
 * such node, and on an encrypted network the planned SAs — `{ in: [] }` before any are planned,
 * so nothing crosses until keys come. Without a snapshot: no remotes; encrypted when a local
 * attachment says so.
 */
export function desiredVni(
  vni: number,
  mtu: number,
  networkId: string,
  s: Snapshot | undefined,
  node: Pick<NodeState, "me" | "local" | "espPlans">,
): DesiredVni {
  const addrOf = new Map((s?.nodes ?? []).map((n) => [n.id, n.dataAddr ?? n.addr]));
  const remotes = (s?.endpoints ?? [])
    .filter((e) => e.network === networkId && e.node !== node.me && addrOf.has(e.node))
    .map((e) => ({ mac: e.mac, ip: e.ip, ip6: e.ip6, addr: addrOf.get(e.node)! }));
  const encrypted = s?.networks.find((n) => n.id === networkId)?.encrypted ??
    node.local.some((a) => a.network === networkId && a.encrypted);
  const esp = encrypted ? node.espPlans.get(networkId) ?? { in: [] } : undefined;
  return { vni, mtu, remotes, floods: [...new Set(remotes.map((r) => r.addr))], esp };
}

/**
 * The steps from snapshot `s` to this node's data plane: every network with a local container
 * is programmed from the snapshot, except an encrypted one on a node that cannot encrypt (held
 * down: fail closed); then every local VNI neither programmed now nor before is ensured. VNIs
 * without local containers are not touched here: the container code drops them as they empty.
 */
export function reconcile(s: Snapshot, node: NodeState): Action[] {
  const actions: Action[] = [];
  const up = new Set(node.programmed);
  for (const net of localNetworks(s, node.local)) {
    if (net.encrypted && node.espError) {
      actions.push({ op: "hold", network: net, reason: node.espError });
      continue;
    }
    const mtu = networkMtu(net, node.underlayMtu, node.vtepAddr);
    actions.push({ op: "program", network: net, want: desiredVni(net.vni, mtu, net.id, s, node) });
    up.add(net.vni);
  }
  // One attachment per VNI: the last one, as a Map keyed by VNI keeps it.
  const byVni = new Map(node.local.map((a) => [a.vni, a]));
  for (const [vni, a] of byVni) if (!up.has(vni)) actions.push({ op: "ensure", attachment: a });
  return actions;
}
