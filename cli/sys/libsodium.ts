// AES-256-GCM (NIST SP 800-38D) from libsodium, one FFI call per datagram. weft writes no cipher
// code: libsodium's crypto_aead_aes256gcm_* (AES-NI and PCLMULQDQ, constant-time tag check) does
// every encryption, decryption and tag check.
//
// Why beside OpenSSL's EVP (cli/sys/libcrypto.ts): EVP needs five calls per datagram (init with
// the IV, AAD, data, final, tag), and in OpenSSL 3 the IV-only EVP_EncryptInit_ex alone costs
// ~0.4 µs through the provider layer; libsodium's *_afternm calls take nonce, AAD, data and the
// precomputed key schedule at once: ~0.2 µs fixed cost against ~1.8 µs for EVP's five (see
// tests/bench/esp_bench.ts). Both produce the same bytes (the GCM spec's test case 16 checks it),
// so peers may use either.
//
// Parameters are all integers ("usize"/"u64", bigint), as cli/sys/libc.ts does it. The nine-
// parameter calls take three of them on the stack; in isolation (2 M calls, 9 and 10
// parameters, "usize" and "pointer") Deno 2.9.6's fast call did not crash.

import { addressOf } from "./libc.ts";
import { type Aead, AesGcm, CryptoUnavailableError, GCM_TAG_LEN, openBytes, sealBytes } from "./libcrypto.ts";

const symbols = {
  /** int sodium_init(void); — 0 on success, 1 if already initialised, −1 on failure */
  sodium_init: { parameters: [], result: "i32" },
  /** int crypto_aead_aes256gcm_is_available(void); — 1 iff the CPU has AES-NI and PCLMULQDQ */
  crypto_aead_aes256gcm_is_available: { parameters: [], result: "i32" },
  /** size_t crypto_aead_aes256gcm_statebytes(void); */
  crypto_aead_aes256gcm_statebytes: { parameters: [], result: "usize" },
  /** int crypto_aead_aes256gcm_beforenm(crypto_aead_aes256gcm_state *ctx, const unsigned char *k); */
  crypto_aead_aes256gcm_beforenm: { parameters: ["usize", "usize"], result: "i32" },
  /**
   * int crypto_aead_aes256gcm_encrypt_afternm(unsigned char *c, unsigned long long *clen_p,
   *   const unsigned char *m, unsigned long long mlen, const unsigned char *ad,
   *   unsigned long long adlen, const unsigned char *nsec, const unsigned char *npub,
   *   const crypto_aead_aes256gcm_state *ctx); — writes ciphertext ‖ 16-byte tag at c
   */
  crypto_aead_aes256gcm_encrypt_afternm: {
    parameters: ["usize", "usize", "usize", "u64", "usize", "u64", "usize", "usize", "usize"],
    result: "i32",
  },
  /**
   * int crypto_aead_aes256gcm_decrypt_afternm(unsigned char *m, unsigned long long *mlen_p,
   *   unsigned char *nsec, const unsigned char *c, unsigned long long clen,
   *   const unsigned char *ad, unsigned long long adlen, const unsigned char *npub,
   *   const crypto_aead_aes256gcm_state *ctx); — 0 iff the tag verified (else m is zeroed)
   */
  crypto_aead_aes256gcm_decrypt_afternm: {
    parameters: ["usize", "usize", "usize", "usize", "u64", "usize", "u64", "usize", "usize"],
    result: "i32",
  },
} as const;

type Libsodium = Deno.DynamicLibrary<typeof symbols>["symbols"];
let lib: Deno.DynamicLibrary<typeof symbols> | undefined;

/** The library dlopen() looks for (Debian: libsodium23); WEFT_LIBSODIUM names another file. */
export const LIBSODIUM = "libsodium.so.23";

/**
 * libsodium's symbol table, dlopened and initialised on first use in this thread.
 * @throws CryptoUnavailableError when libsodium.so.23 is missing, sodium_init() fails, or the CPU
 *   lacks AES-NI/PCLMULQDQ (crypto_aead_aes256gcm_is_available() = 0: libsodium has no portable
 *   AES-GCM).
 */
export function libsodium(): Libsodium {
  if (!lib) {
    let l: Deno.DynamicLibrary<typeof symbols>;
    try {
      l = Deno.dlopen(Deno.env.get("WEFT_LIBSODIUM") || LIBSODIUM, symbols);
    } catch (e) {
      throw new CryptoUnavailableError(`cannot load ${LIBSODIUM} (${(e as Error).message})`, { cause: e });
    }
    if (l.symbols.sodium_init() < 0 || l.symbols.crypto_aead_aes256gcm_is_available() !== 1) {
      l.close();
      throw new CryptoUnavailableError("libsodium has no AES-256-GCM on this CPU (needs AES-NI and PCLMULQDQ)");
    }
    lib = l;
  }
  return lib.symbols;
}

/** Whether libsodium's AES-256-GCM can be used here (cached after the first call). */
export function sodiumAvailable(): boolean {
  try {
    libsodium();
    return true;
  } catch {
    return false;
  }
}

/**
 * One AES-256-GCM key (RFC 4106 with a 256-bit key), both directions, with the same call shape
 * as cli/sys/libcrypto.ts's AesGcm: addresses (bigint) of memory the caller keeps alive.
 */
export class SodiumAesGcm implements Aead {
  private readonly s = libsodium();
  /** crypto_aead_aes256gcm_state (512 bytes, 16-byte aligned: the AES-NI code loads it whole). */
  private readonly state: Uint8Array;
  private readonly ctx: bigint;

  /**
   * @param key 32 bytes; the caller zeroes its copy.
   * @throws CryptoUnavailableError when libsodium cannot be used (see {@link libsodium}).
   * @throws RangeError for any other key length.
   */
  constructor(key: Uint8Array) {
    if (key.length !== 32) throw new RangeError(`AES-256-GCM key of ${key.length} bytes`);
    const bytes = Number(this.s.crypto_aead_aes256gcm_statebytes());
    this.state = new Uint8Array(bytes + 64 + 16);
    const at = addressOf(this.state);
    const skip = (16 - (at % 16)) % 16;
    this.ctx = BigInt(at + skip);
    // The key, after the state in the same buffer: one region V8 does not move (> 64 bytes).
    const keyAt = skip + bytes;
    this.state.set(key, keyAt);
    const ok = this.s.crypto_aead_aes256gcm_beforenm(this.ctx, BigInt(at + keyAt)) === 0;
    this.state.fill(0, keyAt, keyAt + 32);
    if (!ok) throw new CryptoUnavailableError("libsodium refused the AES-256-GCM key");
  }

  /**
   * Encrypts `len` bytes at `data` in place and writes the 16-byte tag at `tag`, which must be
   * `data + len` (libsodium's combined layout, ESP's ciphertext ‖ ICV): libsodium takes no
   * separate tag address, and the caller's layout is not checked here (the frame path stays free
   * of BigInt arithmetic beyond its own).
   * @param nonce 12 bytes (salt ‖ IV, RFC 4106 §4); never the same twice under one key.
   * @returns false only if libsodium reports a failure (then nothing may be sent).
   */
  seal(nonce: bigint, aad: bigint, aadLen: number, data: bigint, len: number, _tag: bigint): boolean {
    return this.s.crypto_aead_aes256gcm_encrypt_afternm(
      data,
      0n,
      data,
      BigInt(len),
      aad,
      BigInt(aadLen),
      0n,
      nonce,
      this.ctx,
    ) === 0;
  }

  /**
   * Checks the tag at `tag` (= `data + len`) and decrypts `len` bytes at `data` in place.
   * @returns true iff the tag verified; on false libsodium has zeroed the bytes at `data`.
   */
  open(nonce: bigint, aad: bigint, aadLen: number, data: bigint, len: number, _tag: bigint): boolean {
    return this.s.crypto_aead_aes256gcm_decrypt_afternm(
      data,
      0n,
      0n,
      data,
      BigInt(len + GCM_TAG_LEN),
      aad,
      BigInt(aadLen),
      nonce,
      this.ctx,
    ) === 0;
  }

  sealBytes(nonce: Uint8Array, aad: Uint8Array, plain: Uint8Array): Uint8Array {
    return sealBytes(this, nonce, aad, plain);
  }

  openBytes(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
    return openBytes(this, nonce, aad, sealed);
  }

  /** Zeroes the key schedule. */
  free(): void {
    this.state.fill(0);
  }
}

/**
 * The AES-GCM the frame path uses for `key`: libsodium's one-call AES-256-GCM when the key is 32
 * bytes and libsodium works here, else OpenSSL's EVP (any 16- or 32-byte key). Same bytes either way.
 * @throws CryptoUnavailableError when neither library can take the key.
 * @throws RangeError for a key that is neither 16 nor 32 bytes.
 */
export function aesGcm(key: Uint8Array): Aead {
  return key.length === 32 && sodiumAvailable() ? new SodiumAesGcm(key) : new AesGcm(key);
}
