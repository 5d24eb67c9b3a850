// The swarm's PKI (cli/control/swarm/pki.ts): the CA, the join token's shape, and the token
// check's two halves (the joining node's tokenPinsCa, the manager's tokenSecretRole).

import "reflect-metadata"; // before @peculiar/x509, as pki.ts does
import assert from "node:assert/strict";
import * as x509 from "@peculiar/x509";
import {
  caDigest,
  createCa,
  formatToken,
  issueCert,
  parseToken,
  randomSecret,
  sameSecret,
  sha256Hex,
  TokenError,
  tokenPinsCa,
  tokenSecretRole,
} from "../../cli/control/swarm/pki.ts";

Deno.test("token: WFTKN-1-<digest of the CA>-<secret>, and nothing else parses", async () => {
  const ca = await createCa("test");
  const digest = await caDigest(ca.cert);
  assert.match(digest, /^[0-9a-z]{50}$/);
  const t = formatToken({ digest, secret: randomSecret() });
  assert.deepEqual(parseToken(t).digest, digest);
  for (const bad of ["", "SWMTKN-1-abc-def", t + "x", t.replace("WFTKN-1", "WFTKN-2"), t.toUpperCase()]) {
    assert.throws(() => parseToken(bad), TokenError);
  }
  assert.notEqual(await caDigest((await createCa("other")).cert), digest);
});

Deno.test("token check, node's half: the token pins one CA; another swarm's CA is refused", async () => {
  const ca = await createCa("a"), other = await createCa("b");
  const token = parseToken(formatToken({ digest: await caDigest(ca.cert), secret: randomSecret() }));
  assert.equal(await tokenPinsCa(token, ca.cert), true);
  assert.equal(await tokenPinsCa(token, other.cert), false);
});

Deno.test("token check, manager's half: the secret gives the role; no manager secret, no manager", () => {
  const swarm = { workerSecret: randomSecret(), managerSecret: randomSecret() };
  assert.equal(tokenSecretRole(swarm.workerSecret, swarm), "worker");
  assert.equal(tokenSecretRole(swarm.managerSecret, swarm), "manager");
  assert.equal(tokenSecretRole(randomSecret(), swarm), undefined);
  assert.equal(tokenSecretRole("", swarm), undefined);
  assert.equal(tokenSecretRole(swarm.managerSecret, { workerSecret: swarm.workerSecret }), undefined);
  assert.equal(tokenSecretRole("", { workerSecret: swarm.workerSecret, managerSecret: "" }), undefined);
});

Deno.test("pki: secrets are base36 of the length asked; comparison needs equal length and text", async () => {
  assert.match(randomSecret(), /^[0-9a-z]{25}$/);
  assert.match(randomSecret(40), /^[0-9a-z]{40}$/);
  assert.notEqual(randomSecret(), randomSecret());
  assert.equal(sameSecret("abc", "abc"), true);
  assert.equal(sameSecret("abc", "abd"), false);
  assert.equal(sameSecret("abc", "abcd"), false);
  assert.equal(await sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
});

Deno.test("pki: a leaf certificate is signed by the CA and names its IP addresses once each", async () => {
  const ca = await createCa("swarm-id");
  const leaf = await issueCert(ca, "weft-manager-test", ["127.0.0.1", "198.18.0.1", "127.0.0.1"]);
  const cert = new x509.X509Certificate(leaf.cert);
  const caCert = new x509.X509Certificate(ca.cert);
  assert.equal(cert.issuer, caCert.subject);
  assert.equal(await cert.verify({ publicKey: caCert.publicKey }), true);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension)!;
  assert.deepEqual(san.names.items.map((n) => n.value), ["127.0.0.1", "198.18.0.1"]);
});
