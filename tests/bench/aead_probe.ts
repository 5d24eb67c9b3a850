// Why the ESP path calls GnuTLS (cli/sys/libgnutls.ts): one AES-GCM seal and open per library the
// frame path could use, at 0 and 1430 bytes, in place, through Deno's FFI as the frame path calls
// them (all-integer "usize"/"u64" parameters, bigint addresses): OpenSSL 3's EVP (five calls),
// GnuTLS's gnutls_aead_cipher_encrypt/decrypt (one call, ten parameters), libsodium's
// crypto_aead_aes256gcm_encrypt_afternm/decrypt_afternm (one call, nine parameters, AES-256
// only). Best of ROUNDS short runs (a shared machine's quiet moments), ns per call.
//
// With --crash N, it first makes N calls of libsodium's ten-parameter
// crypto_aead_aes256gcm_encrypt_detached_afternm with "pointer" parameters and then with "usize"
// ones from an optimized loop: the shape that once crashed Deno 2.9.6's fast call.
//
// DENO_NO_UPDATE_CHECK=1 deno run -A tests/bench/aead_probe.ts [--crash 2000000]

import { parseArgs } from "node:util";
import { addressOf } from "../../cli/sys/libc.ts";
import { AesGcm } from "../../cli/sys/libcrypto.ts";
import { GnutlsAesGcm } from "../../cli/sys/libgnutls.ts";

const ROUNDS = 200, CALLS = 2000, LENS = [0, 1430];

const U = "usize" as const;
function sodium(p: "usize" | "pointer") {
  return Deno.dlopen(
    "libsodium.so.23",
    {
      sodium_init: { parameters: [], result: "i32" },
      crypto_aead_aes256gcm_is_available: { parameters: [], result: "i32" },
      crypto_aead_aes256gcm_beforenm: { parameters: [U, U], result: "i32" },
      /** (c, clen_p, m, mlen, ad, adlen, nsec, npub, ctx) */
      crypto_aead_aes256gcm_encrypt_afternm: {
        parameters: [U, U, U, "u64", U, "u64", U, U, U],
        result: "i32",
      },
      /** (m, mlen_p, nsec, c, clen, ad, adlen, npub, ctx) */
      crypto_aead_aes256gcm_decrypt_afternm: {
        parameters: [U, U, U, U, "u64", U, "u64", U, U],
        result: "i32",
      },
      /** (c, mac, maclen_p, m, mlen, ad, adlen, nsec, npub, ctx) */
      crypto_aead_aes256gcm_encrypt_detached_afternm: {
        parameters: [p, p, p, p, "u64", p, "u64", p, p, p],
        result: "i32",
      },
    } as const,
  ).symbols;
}

const mem = new Uint8Array(1 << 16);
const base = BigInt(addressOf(mem));
const NONCE = base + 64n, AAD = base + 128n, DATA = base + 4096n, CTX = base + 16384n, KEY = base + 1024n;

/** Best ns per call over ROUNDS runs of `loop` (which makes CALLS calls: the loop lives in each
 *  library's own function, so that every call site stays monomorphic and on the fast call). */
function best(loop: (len: number) => unknown, len: number): number {
  let b = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    loop(len);
    b = Math.min(b, (performance.now() - t) * 1e6 / CALLS);
  }
  return b;
}

function crash(n: number) {
  for (const mode of ["pointer", "usize"] as const) {
    const s = sodium(mode);
    s.sodium_init();
    s.crypto_aead_aes256gcm_beforenm(CTX, KEY);
    const P = (x: bigint) => (mode === "pointer" ? Deno.UnsafePointer.create(x) : x) as bigint;
    const c = P(DATA), mac = P(DATA + 64n), z = P(0n), ad = P(AAD), np = P(NONCE), ctx = P(CTX);
    let bad = 0;
    for (let i = 0; i < n; i++) {
      if (s.crypto_aead_aes256gcm_encrypt_detached_afternm(c, mac, z, c, 64n, ad, 12n, z, np, ctx) !== 0) {
        bad++;
      }
    }
    console.log(`libsodium 10-parameter call, "${mode}": ${n} calls, ${bad} failed, no crash`);
  }
}

function main() {
  const { values } = parseArgs({ args: Deno.args, options: { crash: { type: "string" } } });
  if (values.crash) crash(Number(values.crash));
  const key = new Uint8Array(16);
  const evp = new AesGcm(key), gnutls = new GnutlsAesGcm(key);
  const s = sodium("usize");
  const sodiumOk = s.sodium_init() >= 0 && s.crypto_aead_aes256gcm_is_available() === 1;
  if (sodiumOk) s.crypto_aead_aes256gcm_beforenm(CTX, KEY);
  console.log(
    `| library, ns per call (best of ${ROUNDS} × ${CALLS}) | ${
      LENS.map((l) => `seal ${l} B | open ${l} B`).join(" | ")
    } |`,
  );
  console.log(`|---|${LENS.map(() => "---:|---:").join("|")}|`);
  const row = (name: string, seal: (len: number) => unknown, open: (len: number) => unknown) =>
    console.log(
      `| ${name} | ${
        LENS.map((l) => `${best(seal, l).toFixed(0)} | ${best(open, l).toFixed(0)}`).join(" | ")
      } |`,
    );
  // Opens run on what the last seal left (their tags fail after the first): the whole
  // ciphertext is still authenticated before the answer, so the cost is an open's.
  row("OpenSSL 3 EVP, AES-128-GCM, 5 calls", (l) => {
    for (let i = 0; i < CALLS; i++) evp.seal(NONCE, AAD, 12, DATA, l, DATA + BigInt(l));
  }, (l) => {
    for (let i = 0; i < CALLS; i++) evp.open(NONCE, AAD, 12, DATA, l, DATA + BigInt(l));
  });
  row("GnuTLS, AES-128-GCM, 1 call", (l) => {
    for (let i = 0; i < CALLS; i++) gnutls.seal(NONCE, AAD, 12, DATA, l, DATA + BigInt(l));
  }, (l) => {
    for (let i = 0; i < CALLS; i++) gnutls.open(NONCE, AAD, 12, DATA, l, DATA + BigInt(l));
  });
  if (sodiumOk) {
    const e = s.crypto_aead_aes256gcm_encrypt_afternm, d = s.crypto_aead_aes256gcm_decrypt_afternm;
    row("libsodium 1.0.18, AES-256-GCM, 1 call", (l) => {
      for (let i = 0; i < CALLS; i++) e(DATA, 0n, DATA, BigInt(l), AAD, 12n, 0n, NONCE, CTX);
    }, (l) => {
      for (let i = 0; i < CALLS; i++) d(DATA, 0n, 0n, DATA, BigInt(l + 16), AAD, 12n, NONCE, CTX);
    });
  }
  console.log(`load average: ${Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ")}`);
}

main();
