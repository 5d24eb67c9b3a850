// A node's side of encrypted overlays: from each snapshot, the SAs its data plane must hold.
// - For every generation of a network's key ring it has not announced since this daemon started,
//   it draws a fresh SPI and nonce (cli/esp/keys.ts) and announces them through the manager:
//   nothing is persisted, so a restarted node never reuses a key.
// - It sends with its SA of the newest generation once that SA has been in the snapshots (so at
//   every peer) for SWITCH_DELAY_MS, and with the previous one until then: receivers install a
//   peer's new SA before the first datagram under it arrives, and a rotation loses nothing.
// - It accepts every peer's SA of every generation in the ring (current and previous: the overlap).
// - The status per network says why it is not up yet ("no key", "waiting for …"), for
//   `network inspect` and the log.

import { deriveKeymat, type NetworkKey, newAnnouncement, type SaAnnouncement } from "../../esp/keys.ts";
import type { NetworkRecord, Snapshot } from "../swarm/types.ts";
import type { SaDescription } from "../../esp/sad.ts";

/** How long a new generation's SA is announced before this node sends with it. */
export const SWITCH_DELAY_MS = 500;

/** One SA as the data plane takes it: its SPI and its key material (AES-128-GCM key + salt,
 * RFC 4106 §8.1, as bytes). */
export interface SaKeys {
  spi: number;
  keymat: number[];
}

/** What one encrypted network's VNI holds: the SA to send with (none yet: nothing is sent) and
 * every SA accepted (RFC 4303 inbound SAD entries). */
export interface EspDesired {
  out?: SaKeys;
  in: SaKeys[];
}

/**
 * This node's SAs for every encrypted network (the rules in the header above). `announce` sends
 * one of its SAs to the manager; `log` gets status changes.
 */
export class NodeEncryption {
  /** This daemon's announcements, by network/generation. */
  private readonly mine = new Map<string, SaAnnouncement>();
  /** When each of them was first seen in a snapshot. */
  private readonly seenAt = new Map<string, number>();
  private readonly keymats = new Map<string, number[]>();
  /** Why a network is not (fully) up, by network id; "up" when it is. */
  readonly status = new Map<string, string>();
  /** Re-applies the snapshot when a delayed switch is due. */
  onDue: () => void = () => {};
  private dueTimer?: ReturnType<typeof setTimeout>;

  constructor(
    private readonly announce: (a: SaAnnouncement) => Promise<unknown>,
    private readonly log: (m: string) => void,
  ) {}

  /** What the data plane must hold for encrypted network `net` (with local containers). */
  async plan(net: NetworkRecord, s: Snapshot, me: string): Promise<EspDesired> {
    const ring: NetworkKey[] = s.keys?.[net.id] ?? [];
    if (!ring.length) {
      this.status.set(net.id, "no key from the manager yet: nothing is sent or accepted");
      return { in: [] };
    }
    const gens = new Set(ring.map((k) => k.gen));
    const sas = (s.sas ?? []).filter((a) => a.network === net.id && gens.has(a.gen));
    for (const k of ring) {
      const id = `${net.id}/${k.gen}`;
      if (this.mine.has(id)) continue;
      const a = newAnnouncement(net.id, me, k.gen);
      this.mine.set(id, a);
      this.announce(a).catch((e) => {
        this.mine.delete(id);
        this.log(
          `network ${net.name}: cannot announce SA of generation ${k.gen}: ${
            e instanceof Error ? e.message : e
          }`,
        );
      });
    }
    const keyOf = (gen: number) => ring.find((k) => k.gen === gen)!;
    const now = Date.now();
    // Mine, as the manager has it (its copy is what every peer derives from), newest first.
    const own = sas.filter((a) => a.node === me && this.isMine(a)).sort((a, b) => b.gen - a.gen);
    for (const a of own) if (!this.seenAt.has(key(a))) this.seenAt.set(key(a), now);
    let out: SaAnnouncement | undefined;
    for (const a of own) {
      const age = now - this.seenAt.get(key(a))!;
      if (age >= SWITCH_DELAY_MS || a === own[own.length - 1]) {
        out = a;
        if (age < SWITCH_DELAY_MS) this.due(SWITCH_DELAY_MS - age);
        break;
      }
      this.due(SWITCH_DELAY_MS - age);
    }
    const peers = sas.filter((a) => a.node !== me);
    const desired: EspDesired = {
      out: out && { spi: out.spi, keymat: await this.keymat(keyOf(out.gen), out) },
      in: await Promise.all(
        peers.map(async (a) => ({ spi: a.spi, keymat: await this.keymat(keyOf(a.gen), a) })),
      ),
    };
    this.status.set(
      net.id,
      desired.out ? "up" : "waiting for the manager to confirm this node's SA: nothing is sent yet",
    );
    return desired;
  }

  /**
   * Every SA of this node's encrypted networks with key material: its own (this node → any
   * peer) and its peers' (peer → this node), for `weft esp sa`.
   */
  async table(
    s: Snapshot,
    me: string,
    local: Set<string>,
    addrOf: Map<string, string>,
  ): Promise<SaDescription[]> {
    const out: SaDescription[] = [];
    for (const a of s.sas ?? []) {
      if (!local.has(a.network)) continue;
      if (a.node === me && !this.isMine(a)) continue;
      const k = (s.keys?.[a.network] ?? []).find((k) => k.gen === a.gen);
      if (!k) continue;
      const src = addrOf.get(a.node) ?? "*";
      const dst = a.node === me ? "*" : addrOf.get(me) ?? "*";
      out.push({ family: "IPv4", src, dst, spi: a.spi, keymat: Uint8Array.from(await this.keymat(k, a)) });
    }
    return out;
  }

  private isMine(a: SaAnnouncement): boolean {
    const m = this.mine.get(`${a.network}/${a.gen}`);
    return m !== undefined && m.spi === a.spi && m.nonce === a.nonce;
  }

  private due(ms: number): void {
    if (this.dueTimer !== undefined) return;
    this.dueTimer = setTimeout(() => {
      this.dueTimer = undefined;
      this.onDue();
    }, Math.max(ms, 10));
  }

  private async keymat(k: NetworkKey, a: SaAnnouncement): Promise<number[]> {
    const id = `${key(a)}/${a.spi}/${a.nonce}/${k.key}`;
    let m = this.keymats.get(id);
    if (!m) {
      m = Array.from(await deriveKeymat(k, a));
      this.keymats.set(id, m);
    }
    return m;
  }

  /** Forgets key material no longer in `s` (rotated out, removed networks). */
  /** Forgets derived key material of SAs the snapshot no longer has. */
  prune(s: Snapshot): void {
    const live = new Set((s.sas ?? []).map((a) => key(a)));
    for (const id of this.keymats.keys()) {
      if (!live.has(id.split("/").slice(0, 3).join("/"))) this.keymats.delete(id);
    }
  }

  /** Cancels the pending re-apply timer (daemon shutdown). */
  stop(): void {
    clearTimeout(this.dueTimer);
    this.dueTimer = undefined;
  }
}

const key = (a: SaAnnouncement) => `${a.network}/${a.node}/${a.gen}`;
