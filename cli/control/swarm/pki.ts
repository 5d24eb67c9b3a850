// The cluster's PKI, on WebCrypto through @peculiar/x509 (no hand-written ASN.1): a CA the manager
// creates at `swarm init` (ECDSA P-256), a server certificate for the manager's addresses, and the
// join token that pins the CA: WFTKN-1-<sha256 of the CA's DER, base36, 50 chars>-<secret, 25 chars>,
// the shape of Docker's SWMTKN-1-<digest>-<secret>.

import "reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(crypto);

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 86_400_000;

/** A certificate and its private key (PKCS#8), both PEM text. */
export interface KeyPairPem {
  cert: string;
  key: string;
}

async function keyPem(k: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", k), "PRIVATE KEY");
}

async function importKey(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0];
  return await crypto.subtle.importKey("pkcs8", der, ALG, true, ["sign"]);
}

function serial(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[0] &= 0x7f;
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * The swarm's CA: a self-signed ECDSA P-256 certificate (CN=weft-ca, O=<swarm id>), valid 3650
 * days from a minute ago, that signs certificates only (keyCertSign, cRLSign; path length 0).
 */
export async function createCa(clusterId: string): Promise<KeyPairPem> {
  const keys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=weft-ca,O=${clusterId}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3650 * DAY),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return { cert: cert.toString("pem"), key: await keyPem(keys.privateKey) };
}

/** A leaf certificate signed by the CA, valid 365 days, for the given IP addresses (IP SANs, each
 * once: rustls checks them), for TLS server and client use. */
export async function issueCert(ca: KeyPairPem, cn: string, ips: string[]): Promise<KeyPairPem> {
  const caCert = new x509.X509Certificate(ca.cert);
  const keys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${cn}`,
    issuer: caCert.subject,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 365 * DAY),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: await importKey(ca.key),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.SubjectAlternativeNameExtension(
        [...new Set(ips)].map((ip) => ({ type: "ip" as const, value: ip })),
      ),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
    ],
  });
  return { cert: cert.toString("pem"), key: await keyPem(keys.privateKey) };
}

/** SHA-256 of the certificate's DER, base36, fixed 50 characters: what a join token pins. */
export async function caDigest(certPem: string): Promise<string> {
  const der = new x509.X509Certificate(certPem).rawData;
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  let n = 0n;
  for (const b of h) n = (n << 8n) | BigInt(b);
  return n.toString(36).padStart(50, "0");
}

/** `len` random base36 characters (default 25, ~129 bits), without modulo bias. */
export function randomSecret(len = 25): string {
  const out: string[] = [];
  const b = crypto.getRandomValues(new Uint8Array(len * 2));
  for (let i = 0; out.length < len; i++) {
    if (i >= b.length) return randomSecret(len); // rejection sampling ran out: very unlikely
    if (b[i] < 252) out.push((b[i] % 36).toString(36));
  }
  return out.join("");
}

/** A join token's two parts: the CA digest it pins and the secret that gives the role. */
export interface Token {
  digest: string;
  secret: string;
}

/** `WFTKN-1-<digest>-<secret>`, the shape of Docker's SWMTKN-1 tokens. */
export function formatToken(t: Token): string {
  return `WFTKN-1-${t.digest}-${t.secret}`;
}

/** A join token that does not have the WFTKN-1 shape; the message says how to get one. */
export class TokenError extends Error {
  override name = "TokenError";
}

/**
 * A join token's parts (surrounding blanks ignored).
 * @throws TokenError for anything but WFTKN-1-<50 base36 chars>-<25 base36 chars>.
 */
export function parseToken(text: string): Token {
  const m = /^WFTKN-1-([0-9a-z]{50})-([0-9a-z]{25})$/.exec(text.trim());
  if (!m) {
    throw new TokenError(
      `invalid join token: expected WFTKN-1-<50 base36 chars>-<25 base36 chars>; get one with "weft swarm join-token worker" on a manager`,
    );
  }
  return { digest: m[1], secret: m[2] };
}

// The join token is checked in two halves, one on each side of the join (Docker's SWMTKN works
// the same way): the joining node checks that the manager's CA is the one the token pins
// (tokenPinsCa, agent.ts join()), so it never sends the secret to a stranger; the manager checks
// the secret and learns the role it grants (tokenSecretRole, sessions.ts).

/**
 * The joining node's half of the join-token check: true when the CA certificate (PEM) a manager
 * presented has the digest the token pins (caDigest). The other half: tokenSecretRole, on the
 * manager.
 */
export async function tokenPinsCa(token: Token, caCertPem: string): Promise<boolean> {
  return (await caDigest(caCertPem)) === token.digest;
}

/**
 * The manager's half of the join-token check: the role the token's secret grants — "worker" for
 * the swarm's worker secret, "manager" for its manager secret (when it has one) — compared in
 * constant time (sameSecret); undefined for any other secret. The other half: tokenPinsCa, on
 * the joining node.
 */
export function tokenSecretRole(
  secret: string,
  swarm: { workerSecret: string; managerSecret?: string },
): "worker" | "manager" | undefined {
  if (sameSecret(secret, swarm.workerSecret)) return "worker";
  if (swarm.managerSecret && sameSecret(secret, swarm.managerSecret)) return "manager";
  return undefined;
}

/** Constant-time string comparison for secrets. */
export function sameSecret(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return d === 0;
}

/** SHA-256 of the UTF-8 text, lower-case hex (how node secrets are stored: only their hash). */
export async function sha256Hex(text: string): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(h, (x) => x.toString(16).padStart(2, "0")).join("");
}
