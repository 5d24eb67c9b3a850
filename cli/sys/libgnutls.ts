// AES-GCM (NIST SP 800-38D) from GnuTLS, one FFI call per datagram. weft writes no cipher code:
// gnutls_aead_cipher_encrypt/decrypt run GnuTLS's x86-64 AES-GCM (AES-NI and PCLMULQDQ, the
// stitched AVX code it shares with OpenSSL's perlasm) and compare tags in constant time.
//
// Why beside OpenSSL's EVP (cli/sys/libcrypto.ts): EVP needs five calls per datagram, and OpenSSL
// 3's provider layer makes them cost ~0.3 µs before any byte is encrypted; GnuTLS's one call
// takes nonce, AAD, data and tag at once for ~0.1 µs. At 1430 bytes, best of 200 rounds here:
// seal 479 ns against EVP's 735, open 503 against 761 (tests/bench/esp_bench.ts measures it per
// library). libsodium 1.0.18's one call (crypto_aead_aes256gcm_*_afternm) was measured too and
// lost at MTU size: ~0.1 µs fixed but twice EVP's cost per byte, and AES-256 only. Both libraries
// produce the same bytes (the GCM spec's test vectors check each), so peers may use either.
//
// Every parameter is an integer ("usize", bigint), as cli/sys/libc.ts does it ("pointer"
// parameters once crashed Deno 2.9.6's optimized fast call, see libcrypto.ts); the ten-parameter
// calls take four of them on the stack, and millions of them in a row ran clean.

import { addressOf } from "./libc.ts";
import {
  type Aead,
  AesGcm,
  CryptoUnavailableError,
  GCM_NONCE_LEN,
  GCM_TAG_LEN,
  libcrypto,
  openBytes,
  sealBytes,
} from "./libcrypto.ts";

/** <gnutls/gnutls.h> gnutls_cipher_algorithm_t. */
export const GNUTLS_CIPHER_AES_128_GCM = 10;
export const GNUTLS_CIPHER_AES_256_GCM = 11;

const symbols = {
  /**
   * int gnutls_aead_cipher_init(gnutls_aead_cipher_hd_t *handle, gnutls_cipher_algorithm_t cipher,
   *   const gnutls_datum_t *key);
   */
  gnutls_aead_cipher_init: { parameters: ["usize", "i32", "usize"], result: "i32" },
  /**
   * int gnutls_aead_cipher_encrypt(gnutls_aead_cipher_hd_t handle, const void *nonce,
   *   size_t nonce_len, const void *auth, size_t auth_len, size_t tag_size, const void *ptext,
   *   size_t ptext_len, void *ctext, size_t *ctext_len); — ctext gets ciphertext ‖ tag
   */
  gnutls_aead_cipher_encrypt: {
    parameters: ["usize", "usize", "usize", "usize", "usize", "usize", "usize", "usize", "usize", "usize"],
    result: "i32",
  },
  /**
   * int gnutls_aead_cipher_decrypt(gnutls_aead_cipher_hd_t handle, const void *nonce,
   *   size_t nonce_len, const void *auth, size_t auth_len, size_t tag_size, const void *ctext,
   *   size_t ctext_len, void *ptext, size_t *ptext_len); — 0 iff the tag verified
   */
  gnutls_aead_cipher_decrypt: {
    parameters: ["usize", "usize", "usize", "usize", "usize", "usize", "usize", "usize", "usize", "usize"],
    result: "i32",
  },
  /** void gnutls_aead_cipher_deinit(gnutls_aead_cipher_hd_t handle); — zeroes and frees the key */
  gnutls_aead_cipher_deinit: { parameters: ["usize"], result: "void" },
} as const;

const NONCE_LEN = BigInt(GCM_NONCE_LEN), TAG_LEN = BigInt(GCM_TAG_LEN);

type Libgnutls = Deno.DynamicLibrary<typeof symbols>["symbols"];
let lib: Deno.DynamicLibrary<typeof symbols> | undefined;
let missing: CryptoUnavailableError | undefined;

/** The library dlopen() looks for (Debian: libgnutls30); WEFT_LIBGNUTLS names another file. */
export const LIBGNUTLS = "libgnutls.so.30";

/**
 * GnuTLS's symbol table, dlopened on first use in this thread.
 * @throws CryptoUnavailableError when libgnutls.so.30 is not on the machine (also on later calls).
 */
export function libgnutls(): Libgnutls {
  if (missing) throw missing;
  if (!lib) {
    try {
      lib = Deno.dlopen(Deno.env.get("WEFT_LIBGNUTLS") || LIBGNUTLS, symbols);
    } catch (e) {
      missing = new CryptoUnavailableError(`cannot load ${LIBGNUTLS} (${(e as Error).message})`, {
        cause: e,
      });
      throw missing;
    }
  }
  return lib.symbols;
}

/**
 * One AES-GCM key (16 or 32 bytes), both directions, with the call shape of libcrypto.ts's
 * AesGcm: addresses (bigint) of memory the caller keeps alive; the tag must follow the data.
 */
export class GnutlsAesGcm implements Aead {
  private readonly g = libgnutls();
  private handle: bigint;
  /** size_t in/out length for each call (8 bytes), in a buffer V8 does not move. */
  private readonly scratch = new Uint8Array(128);
  private readonly lenView = new DataView(this.scratch.buffer);
  private readonly lenPtr = BigInt(addressOf(this.scratch));

  /**
   * @param key 16 bytes (AES-128-GCM) or 32 bytes (AES-256-GCM); the caller zeroes its copy.
   * @throws CryptoUnavailableError when GnuTLS is missing or refuses the key.
   * @throws RangeError for any other key length.
   */
  constructor(key: Uint8Array) {
    if (key.length !== 16 && key.length !== 32) throw new RangeError(`AES-GCM key of ${key.length} bytes`);
    // gnutls_datum_t { unsigned char *data; unsigned int size; } at 16, the key at 32, the handle at 0.
    const v = this.lenView;
    v.setBigUint64(16, this.lenPtr + 32n, true);
    v.setUint32(24, key.length, true);
    this.scratch.set(key, 32);
    const cipher = key.length === 16 ? GNUTLS_CIPHER_AES_128_GCM : GNUTLS_CIPHER_AES_256_GCM;
    const rc = this.g.gnutls_aead_cipher_init(this.lenPtr, cipher, this.lenPtr + 16n);
    this.handle = v.getBigUint64(0, true);
    this.scratch.fill(0);
    if (rc !== 0 || this.handle === 0n) {
      this.handle = 0n;
      throw new CryptoUnavailableError(`GnuTLS refused the AES-GCM key (error ${rc})`);
    }
  }

  /**
   * Encrypts `len` bytes at `data` in place and writes the 16-byte tag at `tag`, which must be
   * `data + len` (GnuTLS writes ciphertext ‖ tag, ESP's layout; not checked on the frame path).
   * @param nonce 12 bytes (salt ‖ IV, RFC 4106 §4); never the same twice under one key.
   * @returns false only if GnuTLS reports a failure (then nothing may be sent).
   */
  seal(nonce: bigint, aad: bigint, aadLen: number, data: bigint, len: number, _tag: bigint): boolean {
    // seal() and open() repeat one shape on purpose: each names its FFI symbol at the call site.
    // Through a shared helper taking the symbol as a parameter, TurboFan lost the fast call:
    // 377 ns per empty seal instead of 80 (best of 300 × 2000 here).
    this.lenView.setUint32(0, len + GCM_TAG_LEN, true);
    this.lenView.setUint32(4, 0, true);
    return this.g.gnutls_aead_cipher_encrypt(
      this.handle,
      nonce,
      NONCE_LEN,
      aad,
      BigInt(aadLen),
      TAG_LEN,
      data,
      BigInt(len),
      data,
      this.lenPtr,
    ) === 0;
  }

  /**
   * Checks the tag at `tag` (= `data + len`) and decrypts `len` bytes at `data` in place.
   * @returns true iff the tag verified; on false the bytes at `data` are garbage and must be dropped.
   */
  open(nonce: bigint, aad: bigint, aadLen: number, data: bigint, len: number, _tag: bigint): boolean {
    this.lenView.setUint32(0, len, true);
    this.lenView.setUint32(4, 0, true);
    return this.g.gnutls_aead_cipher_decrypt(
      this.handle,
      nonce,
      NONCE_LEN,
      aad,
      BigInt(aadLen),
      TAG_LEN,
      data,
      BigInt(len + GCM_TAG_LEN),
      data,
      this.lenPtr,
    ) === 0;
  }

  sealBytes(nonce: Uint8Array, aad: Uint8Array, plain: Uint8Array): Uint8Array {
    return sealBytes(this, nonce, aad, plain);
  }

  openBytes(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
    return openBytes(this, nonce, aad, sealed);
  }

  /** Frees the handle (GnuTLS zeroes the key schedule). */
  free(): void {
    if (this.handle !== 0n) this.g.gnutls_aead_cipher_deinit(this.handle);
    this.handle = 0n;
  }
}

/**
 * The AES-GCM the frame path uses for `key`: GnuTLS's one call where libgnutls.so.30 loads, else
 * OpenSSL's EVP. The same bytes either way.
 * @throws CryptoUnavailableError when neither library can take the key.
 * @throws RangeError for a key that is neither 16 nor 32 bytes.
 */
export function aesGcm(key: Uint8Array): Aead {
  try {
    return new GnutlsAesGcm(key);
  } catch (e) {
    if (e instanceof RangeError) throw e;
    return new AesGcm(key);
  }
}

/**
 * Checks that this thread can seal and open: GnuTLS loads, or else OpenSSL's libcrypto (what
 * aesGcm() would use). Returns the library's name ("GnuTLS" or "OpenSSL").
 * @throws CryptoUnavailableError naming both libraries when neither loads.
 */
export function loadAead(): "GnuTLS" | "OpenSSL" {
  try {
    libgnutls();
    return "GnuTLS";
  } catch (gnutls) {
    try {
      libcrypto();
      return "OpenSSL";
    } catch (openssl) {
      throw new CryptoUnavailableError(
        `${(openssl as Error).message}, and ${(gnutls as Error).message} (install Debian's libgnutls30)`,
      );
    }
  }
}
