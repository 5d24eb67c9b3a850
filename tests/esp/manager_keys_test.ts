// The manager's side of encrypted overlays without namespaces: keys go only to nodes with
// endpoints on the network, announcements are checked, rotation keeps two generations and drops
// the SAs of the one that left, a removed node's SAs go.
import assert from "node:assert/strict";
import { Manager } from "../../cli/control/swarm/manager.ts";
import { newAnnouncement } from "../../cli/esp/keys.ts";

async function manager(dir: string): Promise<Manager> {
  const m = await Manager.init(dir, {
    advertiseAddr: "127.0.0.1",
    listenAddr: "127.0.0.1",
    listenPort: 0,
    dataPathPort: 4789,
    pool: "10.0.0.0/8",
    poolMaskLength: 24,
    hostname: "m1",
  });
  m.log = () => {};
  return m;
}

Deno.test("manager keys: only nodes with endpoints on an encrypted network get its keys and SAs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-keys-" });
  const m = await manager(dir);
  try {
    const net = await m.createNetwork({ name: "secret", encrypted: true });
    const plain = await m.createNetwork({ name: "plain" });
    assert.equal(net.mtu, 1408);
    assert.equal(plain.mtu, 1450);
    assert.equal(net.encrypted, true);
    const me = m.localNodeId, other = "x".repeat(25);
    await m.request(me, "endpoint.create", { network: "secret", container: "c1" });
    await m.request(me, "endpoint.create", { network: "plain", container: "c2" });
    const mine = m.snapshotFor(me);
    assert.deepEqual(Object.keys(mine.keys!), [net.id], "keys of the encrypted network only");
    assert.equal(mine.keys![net.id][0].gen, 1);
    assert.deepEqual(m.snapshotFor(other).keys, {}, "a node without endpoints gets no key");

    const a = newAnnouncement(net.id, me, 1);
    await m.request(me, "sa.announce", { ...a });
    assert.deepEqual(m.snapshotFor(me).sas, [a]);
    assert.deepEqual(m.snapshotFor(other).sas, []);
    // Refused: a node without endpoints, an unknown generation, a reserved SPI, a bad nonce.
    await assert.rejects(
      m.request(other, "sa.announce", { ...newAnnouncement(net.id, other, 1) }),
      /no endpoint/,
    );
    await assert.rejects(m.request(me, "sa.announce", { ...a, gen: 9 }), /no key generation 9/);
    await assert.rejects(m.request(me, "sa.announce", { ...a, spi: 255 }), /invalid SPI/);
    await assert.rejects(m.request(me, "sa.announce", { ...a, nonce: "short" }), /invalid SA nonce/);
    await assert.rejects(
      m.request(me, "sa.announce", { ...a, network: plain.id }),
      /not an encrypted network/,
    );
  } finally {
    await m.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("manager keys: rotation keeps the current and previous generation and drops older SAs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-keys-" });
  const m = await manager(dir);
  try {
    const net = await m.createNetwork({ name: "secret", encrypted: true });
    const me = m.localNodeId;
    await m.request(me, "endpoint.create", { network: "secret", container: "c1" });
    await m.request(me, "sa.announce", { ...newAnnouncement(net.id, me, 1) });
    await m.setKeyRotation(1000);
    assert.equal(m.cluster.keyRotationMs, 1000);
    const t0 = Date.parse(m.keys.ring(net.id)![0].createdAt);
    assert.equal(await m.rotateKeys(t0 + 999), false);
    assert.equal(await m.rotateKeys(t0 + 1000), true);
    await m.request(me, "sa.announce", { ...newAnnouncement(net.id, me, 2) });
    assert.deepEqual(m.snapshotFor(me).sas!.map((s) => s.gen).sort(), [1, 2]);
    assert.equal(await m.rotateKeys(t0 + 2000), true);
    assert.deepEqual(m.keys.ring(net.id)!.map((k) => k.gen), [2, 3]);
    assert.deepEqual(m.snapshotFor(me).sas!.map((s) => s.gen), [2], "generation 1's SA went with its key");
  } finally {
    await m.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
