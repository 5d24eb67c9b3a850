// The manager's side of encrypted overlays (cli/esp/keys.ts says how nonces stay unique): a key
// ring per encrypted network (`netkey/<network>`) and the SAs nodes announce
// (`sa/<network>/<node>/<gen>`), both records of the swarm's state (SwarmState: the embedded log
// or etcd), so every manager has them and they reach nodes in the same revisioned deltas as the
// network: only nodes with endpoints on it. Reads are from the manager's mirror; writes are store
// operations the manager commits (rotation: by the leader only, conditional on the ring unchanged).

import {
  current,
  DEFAULT_KEY_ROTATION_MS,
  type NetworkKey,
  newNetworkKey,
  rotate,
  rotationDue,
  SA_NONCE_LEN,
  type SaAnnouncement,
} from "../../esp/keys.ts";
import { SPI_MIN } from "../../esp/esp.ts";
import type { Cond, Op, SwarmState } from "./state.ts";

/** A network's key ring as stored (`netkey/<network>`): current and previous generation. */
export interface KeyRing {
  network: string;
  ring: NetworkKey[];
}

/** An invalid announcement (the manager answers the node with this message). */
export class KeyError extends Error {
  override name = "KeyError";
}

/** The store id of an SA announcement: "<network>/<node>/<gen>" (`sa/<id>`). */
export const saId = (a: SaAnnouncement) => `${a.network}/${a.node}/${a.gen}`;

/** The key rings and SA announcements in a manager's mirror, and the writes that change them. */
export class NetworkKeys {
  constructor(private readonly state: SwarmState, public rotationMs = DEFAULT_KEY_ROTATION_MS) {}

  /** The write that gives a new encrypted network its first generation. */
  createOps(network: string): Op[] {
    return [{ put: ["netkey", network], value: { network, ring: [newNetworkKey(1)] } satisfies KeyRing }];
  }

  /** The network's ring, or undefined when it is not encrypted. */
  ring(network: string): NetworkKey[] | undefined {
    return this.state.get<KeyRing>("netkey", network)?.ring;
  }

  /** The network's ring and every SA announced for it go (network removed). */
  removeOps(network: string): Op[] {
    const ops: Op[] = [];
    if (this.ring(network)) ops.push({ del: ["netkey", network] });
    for (const a of this.announcements()) if (a.network === network) ops.push({ del: ["sa", saId(a)] });
    return ops;
  }

  /** A node left or was replaced: its SAs go, so no peer keeps accepting them. */
  removeNodeOps(node: string): Op[] {
    return this.announcements().filter((a) => a.node === node).map((a) => ({ del: ["sa", saId(a)] }));
  }

  /** Every SA announced, on every network. */
  announcements(): SaAnnouncement[] {
    return this.state.all<SaAnnouncement>("sa");
  }

  /** Key rings and SAs of `networks` only: what a node with endpoints on them is sent. */
  forNetworks(networks: Set<string>): { keys: Record<string, NetworkKey[]>; sas: SaAnnouncement[] } {
    const keys: Record<string, NetworkKey[]> = {};
    for (const n of networks) {
      const r = this.ring(n);
      if (r) keys[n] = r;
    }
    return { keys, sas: this.announcements().filter((a) => networks.has(a.network)) };
  }

  /**
   * Checks a node's SA for one generation of a network it has endpoints on (replacing the one it
   * announced before its restart) and gives the write that records it.
   * @throws KeyError on anything else.
   */
  announce(
    node: string,
    a: Record<string, any>,
    nodeNetworks: Set<string>,
  ): { rec: SaAnnouncement; conds: Cond[]; ops: Op[] } {
    const network = String(a.network ?? "");
    const ring = this.ring(network);
    if (!ring) throw new KeyError(`network ${network.slice(0, 40)} is not an encrypted network`);
    if (!nodeNetworks.has(network)) throw new KeyError("this node has no endpoint on the network");
    const gen = Number(a.gen);
    if (!ring.some((k) => k.gen === gen)) throw new KeyError(`no key generation ${a.gen} for the network`);
    const spi = Number(a.spi);
    if (!Number.isInteger(spi) || spi < SPI_MIN || spi >= 2 ** 32) throw new KeyError(`invalid SPI ${a.spi}`);
    const nonce = String(a.nonce ?? "");
    let ok = false;
    try {
      ok = atob(nonce).length === SA_NONCE_LEN;
    } catch { /* not base64 */ }
    if (!ok) throw new KeyError("invalid SA nonce");
    if (this.announcements().some((x) => x.spi === spi && x.node !== node)) {
      throw new KeyError(`SPI ${spi} is another node's; draw again`);
    }
    const rec: SaAnnouncement = { network, node, gen, spi, nonce };
    return {
      rec,
      // The generation must still be in the ring when the write lands (a rotation meanwhile).
      conds: [{ unchanged: ["netkey", network], rev: this.state.modRev("netkey", network) }],
      ops: [{ put: ["sa", saId(rec)], value: rec }],
    };
  }

  /** Networks whose newest key is rotationMs old. */
  due(now = Date.now()): string[] {
    return this.state.all<KeyRing>("netkey").filter((r) => rotationDue(r.ring, this.rotationMs, now))
      .map((r) => r.network);
  }

  /**
   * The write that rotates one ring (a new generation, at most KEY_RING_SIZE kept) and drops the
   * SAs of the generation that left; conditional on the ring unchanged since this mirror read it.
   */
  rotateWrite(network: string, now = Date.now()): { conds: Cond[]; ops: Op[] } | undefined {
    const r = this.state.get<KeyRing>("netkey", network);
    if (!r) return undefined;
    const ring = rotate(r.ring, new Date(now));
    const gens = new Set(ring.map((k) => k.gen));
    const ops: Op[] = [{ put: ["netkey", network], value: { network, ring } satisfies KeyRing }];
    for (const a of this.announcements()) {
      if (a.network === network && !gens.has(a.gen)) ops.push({ del: ["sa", saId(a)] });
    }
    return { conds: [{ unchanged: ["netkey", network], rev: this.state.modRev("netkey", network) }], ops };
  }

  /** The generation senders of `network` use now. */
  currentGen(network: string): number | undefined {
    const r = this.ring(network);
    return r ? current(r)?.gen : undefined;
  }
}
