// cli/esp/keys.ts: key rings, announcements and per-sender key derivation (HKDF, RFC 5869).
import assert from "node:assert/strict";
import {
  current,
  deriveKeymat,
  KEY_RING_SIZE,
  newAnnouncement,
  newNetworkKey,
  parseDuration,
  rotate,
  rotationDue,
} from "../../cli/esp/keys.ts";
import { ESP_KEYMAT_LEN, SPI_MIN } from "../../cli/esp/esp.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("keys: HKDF gives each sender, generation and daemon start its own key material", async () => {
  const k1 = newNetworkKey(1);
  const a = newAnnouncement("net", "nodeA", 1);
  const same = await deriveKeymat(k1, a);
  assert.equal(same.length, ESP_KEYMAT_LEN);
  assert.equal(hex(await deriveKeymat(k1, { ...a })), hex(same), "receivers derive what the sender does");
  const others = [
    await deriveKeymat(k1, { ...a, node: "nodeB" }),
    await deriveKeymat(k1, { ...a, network: "net2" }),
    await deriveKeymat(k1, { ...a, spi: a.spi ^ 1 }),
    await deriveKeymat(k1, newAnnouncement("net", "nodeA", 1)), // the same node after a restart
    await deriveKeymat({ ...newNetworkKey(2) }, { ...a, gen: 2 }),
  ];
  const all = new Set([hex(same), ...others.map(hex)]);
  assert.equal(all.size, 6);
  await assert.rejects(deriveKeymat(k1, { ...a, gen: 2 }), /generation/);
});

Deno.test("keys: HKDF-SHA256 agrees with the RFC 5869 definition computed by hand with HMAC", async () => {
  // HKDF-Expand for one block: T(1) = HMAC(PRK, info ‖ 0x01); PRK = HMAC(salt, IKM) (RFC 5869 §2).
  const k = newNetworkKey(7);
  const a = newAnnouncement("n", "x", 7);
  const hmac = async (key: Uint8Array<ArrayBuffer>, data: Uint8Array<ArrayBuffer>) =>
    new Uint8Array(
      await crypto.subtle.sign(
        "HMAC",
        await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]),
        data,
      ),
    );
  const ikm = Uint8Array.from(atob(k.key), (c) => c.charCodeAt(0));
  const prk = await hmac(new TextEncoder().encode("weft esp aes-128-gcm v1"), ikm);
  const info = new TextEncoder().encode(JSON.stringify([a.network, a.node, a.gen, a.spi, a.nonce]));
  const t1 = await hmac(prk, new Uint8Array([...info, 1]));
  assert.equal(hex(await deriveKeymat(k, a)), hex(t1.subarray(0, ESP_KEYMAT_LEN)));
});

Deno.test("keys: SPIs avoid the reserved range; nonces are fresh", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const a = newAnnouncement("n", "x", 1);
    assert.ok(a.spi >= SPI_MIN && a.spi < 2 ** 32 && Number.isInteger(a.spi));
    seen.add(a.nonce);
  }
  assert.equal(seen.size, 2000);
});

Deno.test("keys: a ring keeps the current and the previous generation; rotation is due by age", () => {
  const t0 = new Date("2026-01-01T00:00:00Z");
  let ring = [newNetworkKey(1, t0)];
  assert.equal(rotationDue(ring, 12 * 3600e3, t0.getTime() + 12 * 3600e3 - 1), false);
  assert.equal(rotationDue(ring, 12 * 3600e3, t0.getTime() + 12 * 3600e3), true);
  for (let i = 0; i < 4; i++) ring = rotate(ring, new Date(t0.getTime() + (i + 1) * 1000));
  assert.equal(ring.length, KEY_RING_SIZE);
  assert.deepEqual(ring.map((k) => k.gen), [4, 5]);
  assert.equal(current(ring)!.gen, 5);
  assert.equal(rotationDue([], 1000), true);
});

Deno.test("keys: --key-rotation-interval takes Go-style durations", () => {
  assert.equal(parseDuration("12h"), 12 * 3600e3);
  assert.equal(parseDuration("1h30m"), 5400e3);
  assert.equal(parseDuration("2s"), 2000);
  assert.equal(parseDuration("1500ms"), 1500);
  for (const bad of ["", "12", "h", "5x", "-2s", "500ms", "2s "]) {
    assert.throws(() => parseDuration(bad), RangeError, bad);
  }
});
