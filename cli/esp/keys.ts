// Keys of an encrypted overlay, and how no (key, nonce) pair ever repeats.
//
// - The manager draws a 256-bit network key per generation (NetworkKey) and keeps the current
//   and the previous one; it sends them over the TLS control plane only in the snapshots of nodes
//   that have the network (lazy extension), so a node removed from the swarm gets no further keys.
// - Every node, for every generation and every time its daemon starts, draws a fresh SPI and a
//   fresh 128-bit nonce (SaAnnouncement) and announces them through the manager. Nothing is
//   persisted: a restarted node starts a new SA at sequence number 1 under a new key.
// - The key material of the sender's SA is HKDF-SHA256 (RFC 5869) of the network key, with the
//   network id, the sender's node id, the generation, the SPI and the nonce as `info`: a different
//   key per sender, per generation and per daemon start. Receivers derive the same from the
//   announcement. Within an SA, the GCM nonce is salt ‖ 64-bit sequence number, which never
//   repeats nor wraps (cli/esp/esp.ts). So each (key, nonce) pair is used at most once.
// HKDF runs on the control path through WebCrypto (built into Deno), never on the frame path.

import { ESP_KEYMAT_LEN, SPI_MIN } from "./esp.ts";

/** Docker rotates the keys of encrypted overlays every 12 hours; so does weft by default. */
export const DEFAULT_KEY_ROTATION_MS = 12 * 3600 * 1000;
/** The shortest interval `--key-rotation-interval` takes (the tests rotate every 2 s). */
export const MIN_KEY_ROTATION_MS = 1000;
/** Generations a ring keeps: the current one, and the previous one for the overlap. */
export const KEY_RING_SIZE = 2;
export const NETWORK_KEY_LEN = 32;
export const SA_NONCE_LEN = 16;
/** HKDF salt: a label for this use of the network key (RFC 5869 §3.1: optional, not secret). */
const HKDF_SALT = new TextEncoder().encode("weft esp aes-128-gcm v1");

/** One generation of a network's key, as the manager stores and sends it. */
export interface NetworkKey {
  gen: number;
  /** NETWORK_KEY_LEN random bytes, base64. */
  key: string;
  /** When the manager drew it (ISO time): rotation counts from here. */
  createdAt: string;
}

/** A sender's SA for one network and generation, published to the nodes of the network. */
export interface SaAnnouncement {
  network: string;
  node: string;
  gen: number;
  spi: number;
  /** SA_NONCE_LEN random bytes, base64: makes the SA's key new after every daemon start. */
  nonce: string;
}

const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));
const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/** A fresh generation (the first is 1). */
export function newNetworkKey(gen: number, now = new Date()): NetworkKey {
  return {
    gen,
    key: b64(crypto.getRandomValues(new Uint8Array(NETWORK_KEY_LEN))),
    createdAt: now.toISOString(),
  };
}

/** The ring after one rotation: a new generation on top, at most KEY_RING_SIZE kept. */
export function rotate(ring: NetworkKey[], now = new Date()): NetworkKey[] {
  const top = ring.reduce((g, k) => Math.max(g, k.gen), 0);
  return [...ring, newNetworkKey(top + 1, now)].sort((a, b) => a.gen - b.gen).slice(-KEY_RING_SIZE);
}

/** True when the ring's newest generation is `intervalMs` old or older. */
export function rotationDue(ring: NetworkKey[], intervalMs: number, now = Date.now()): boolean {
  const top = current(ring);
  return !top || now - Date.parse(top.createdAt) >= intervalMs;
}

/** The newest generation, the one senders use. */
export function current(ring: NetworkKey[]): NetworkKey | undefined {
  return ring.reduce<NetworkKey | undefined>((a, k) => (!a || k.gen > a.gen ? k : a), undefined);
}

/** A fresh announcement for this node: random SPI outside the reserved range, random nonce. */
export function newAnnouncement(network: string, node: string, gen: number): SaAnnouncement {
  const r = crypto.getRandomValues(new Uint32Array(1))[0];
  const spi = SPI_MIN + (r % (0x1_0000_0000 - SPI_MIN));
  return { network, node, gen, spi, nonce: b64(crypto.getRandomValues(new Uint8Array(SA_NONCE_LEN))) };
}

/**
 * The SA's key material (RFC 4106 §8.1: 16-byte key ‖ 4-byte salt) by HKDF-SHA256 (RFC 5869).
 * @throws Error when `key` is not the announcement's generation or not NETWORK_KEY_LEN bytes.
 */
export async function deriveKeymat(key: NetworkKey, sa: SaAnnouncement): Promise<Uint8Array> {
  if (key.gen !== sa.gen) throw new Error(`key generation ${key.gen} for an SA of generation ${sa.gen}`);
  const ikm = unb64(key.key);
  if (ikm.length !== NETWORK_KEY_LEN) throw new Error(`network key of ${ikm.length} bytes`);
  const enc = new TextEncoder();
  const info = enc.encode(JSON.stringify([sa.network, sa.node, sa.gen, sa.spi, sa.nonce]));
  const base = await crypto.subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: HKDF_SALT, info },
    base,
    ESP_KEYMAT_LEN * 8,
  );
  ikm.fill(0);
  return new Uint8Array(bits);
}

/**
 * A duration as Docker's `--key-rotation-interval`-style flags take it (Go's time.ParseDuration
 * units: "12h", "90m", "2s", "1h30m", "500ms"), in milliseconds.
 * @throws RangeError on anything else, or below MIN_KEY_ROTATION_MS.
 */
export function parseDuration(s: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/gy;
  let ms = 0, m: RegExpExecArray | null, end = 0;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60000, h: 3600000 };
  while ((m = re.exec(s))) {
    ms += Number(m[1]) * unit[m[2]];
    end = re.lastIndex;
  }
  if (!s || end !== s.length) throw new RangeError(`invalid duration "${s}": expected e.g. 12h, 90m, 2s`);
  if (ms < MIN_KEY_ROTATION_MS) throw new RangeError(`duration ${s} is below the minimum of 1s`);
  return Math.round(ms);
}
