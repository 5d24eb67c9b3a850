// The manager's side of encrypted overlays (cli/esp/keys.ts says how nonces stay unique): a key
// ring per encrypted network and the SAs nodes announce, both in the store; what of them a node
// may see (only the networks it has endpoints on); rotation by age.

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
import type { Store } from "./store.ts";

interface KeyRing {
  network: string;
  ring: NetworkKey[];
}

/** An invalid announcement (the manager answers the node with this message). */
export class KeyError extends Error {
  override name = "KeyError";
}

export class NetworkKeys {
  constructor(private readonly store: Store, public rotationMs = DEFAULT_KEY_ROTATION_MS) {}

  /** A first generation for a new encrypted network. */
  create(network: string): void {
    this.store.put<KeyRing>("netkey", network, { network, ring: [newNetworkKey(1)] });
  }

  ring(network: string): NetworkKey[] | undefined {
    return this.store.get<KeyRing>("netkey", network)?.ring;
  }

  /** The network's ring and every SA announced for it go (network removed). */
  remove(network: string): void {
    this.store.del("netkey", network);
    for (const a of this.announcements()) if (a.network === network) this.store.del("sa", saId(a));
  }

  /** A node left or was replaced: its SAs go, so no peer keeps accepting them. */
  removeNode(node: string): void {
    for (const a of this.announcements()) if (a.node === node) this.store.del("sa", saId(a));
  }

  announcements(): SaAnnouncement[] {
    return this.store.all<SaAnnouncement>("sa");
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
   * Records a node's SA for one generation of a network it has endpoints on (replacing the one it
   * announced before its restart). @throws KeyError on anything else.
   */
  announce(node: string, a: Record<string, any>, nodeNetworks: Set<string>): SaAnnouncement {
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
    this.store.put("sa", saId(rec), rec);
    return rec;
  }

  /** Rotates every ring whose newest key is rotationMs old; true when any did. */
  rotateDue(now = Date.now()): boolean {
    let any = false;
    for (const r of this.store.all<KeyRing>("netkey")) {
      if (!rotationDue(r.ring, this.rotationMs, now)) continue;
      const ring = rotate(r.ring, new Date(now));
      this.store.put<KeyRing>("netkey", r.network, { network: r.network, ring });
      const gens = new Set(ring.map((k) => k.gen));
      for (const a of this.announcements()) {
        if (a.network === r.network && !gens.has(a.gen)) this.store.del("sa", saId(a));
      }
      any = true;
    }
    return any;
  }

  /** The generation senders of `network` use now. */
  currentGen(network: string): number | undefined {
    const r = this.ring(network);
    return r ? current(r)?.gen : undefined;
  }
}

const saId = (a: SaAnnouncement) => `${a.network}/${a.node}/${a.gen}`;
