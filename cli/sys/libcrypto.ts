// AES-GCM (NIST SP 800-38D) from OpenSSL's libcrypto, through one FFI symbol table. weft writes no
// cipher code: every encryption, decryption and tag check is EVP's, which uses the CPU's AES-NI /
// VAES and PCLMULQDQ and compares tags in constant time (CRYPTO_memcmp).
//
// Shape of a call on the frame path: the key schedule is set once per SA (`AesGcm` holds one
// EVP_CIPHER_CTX per direction); each datagram then costs five FFI calls, all with bigint
// pointers into memory that was laid out once (see cli/sys/libc.ts on 64-bit parameters):
//   seal: EncryptInit(iv) → EncryptUpdate(aad) → EncryptUpdate(data, in place) → EncryptFinal → ctrl(GET_TAG)
//   open: DecryptInit(iv) → DecryptUpdate(aad) → DecryptUpdate(data, in place) → ctrl(SET_TAG) → DecryptFinal
// GCM is a stream mode: ciphertext and plaintext have the same length and EVP may work in place.
// Every parameter is an integer ("usize"), contexts included: with "pointer" parameters, a caller
// that TurboFan optimized crashed Deno 2.9.6 in the fast call (segfault after ~50k calls).
// The frame path prefers GnuTLS's one-call AES-GCM (cli/sys/libgnutls.ts, aesGcm()): OpenSSL 3's
// five calls cost ~0.3 µs per datagram before any byte is encrypted (its provider layer: the
// IV-only EVP_EncryptInit_ex, OSSL_PARAM lookups by name for the tag), GnuTLS's one ~0.1 µs, on the
// same stitched AES-NI/PCLMULQDQ code. This EVP path is the fallback where GnuTLS is missing.

import { addressOf } from "./libc.ts";

/** <openssl/evp.h>: EVP_CTRL_AEAD_SET_IVLEN, EVP_CTRL_AEAD_GET_TAG, EVP_CTRL_AEAD_SET_TAG. */
export const EVP_CTRL_AEAD_SET_IVLEN = 0x9;
export const EVP_CTRL_AEAD_GET_TAG = 0x10;
export const EVP_CTRL_AEAD_SET_TAG = 0x11;
/** The GCM nonce length every caller here uses (RFC 4106 §4: 4-byte salt ‖ 8-byte IV). */
export const GCM_NONCE_LEN = 12;
/** The full 16-byte ICV (RFC 4106 §6 allows 8, 12 or 16; weft always sends 16). */
export const GCM_TAG_LEN = 16;

const symbols = {
  /** EVP_CIPHER_CTX *EVP_CIPHER_CTX_new(void); */
  EVP_CIPHER_CTX_new: { parameters: [], result: "usize" },
  /** void EVP_CIPHER_CTX_free(EVP_CIPHER_CTX *ctx); */
  EVP_CIPHER_CTX_free: { parameters: ["usize"], result: "void" },
  /** const EVP_CIPHER *EVP_aes_128_gcm(void); */
  EVP_aes_128_gcm: { parameters: [], result: "usize" },
  /** const EVP_CIPHER *EVP_aes_256_gcm(void); */
  EVP_aes_256_gcm: { parameters: [], result: "usize" },
  /** int EVP_EncryptInit_ex(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *type, ENGINE *impl, const unsigned char *key, const unsigned char *iv); */
  EVP_EncryptInit_ex: { parameters: ["usize", "usize", "usize", "usize", "usize"], result: "i32" },
  /** int EVP_DecryptInit_ex(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *type, ENGINE *impl, const unsigned char *key, const unsigned char *iv); */
  EVP_DecryptInit_ex: { parameters: ["usize", "usize", "usize", "usize", "usize"], result: "i32" },
  /** int EVP_EncryptUpdate(EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl, const unsigned char *in, int inl); */
  EVP_EncryptUpdate: { parameters: ["usize", "usize", "usize", "usize", "i32"], result: "i32" },
  /** int EVP_DecryptUpdate(EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl, const unsigned char *in, int inl); */
  EVP_DecryptUpdate: { parameters: ["usize", "usize", "usize", "usize", "i32"], result: "i32" },
  /** int EVP_EncryptFinal_ex(EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl); */
  EVP_EncryptFinal_ex: { parameters: ["usize", "usize", "usize"], result: "i32" },
  /** int EVP_DecryptFinal_ex(EVP_CIPHER_CTX *ctx, unsigned char *outm, int *outl); — 1 iff the tag verified */
  EVP_DecryptFinal_ex: { parameters: ["usize", "usize", "usize"], result: "i32" },
  /** int EVP_CIPHER_CTX_ctrl(EVP_CIPHER_CTX *ctx, int type, int arg, void *ptr); */
  EVP_CIPHER_CTX_ctrl: { parameters: ["usize", "i32", "i32", "usize"], result: "i32" },
} as const;

type Libcrypto = Deno.DynamicLibrary<typeof symbols>["symbols"];
let lib: Deno.DynamicLibrary<typeof symbols> | undefined;

/** Raised when libcrypto cannot be loaded or refuses a key: the caller must not bring up the SA. */
export class CryptoUnavailableError extends Error {
  override name = "CryptoUnavailableError";
}

/** The library dlopen() looks for; WEFT_LIBCRYPTO names another file (a test makes it missing). */
export const LIBCRYPTO = "libcrypto.so.3";

/**
 * The libcrypto symbol table, dlopened on first use in this thread.
 * @throws CryptoUnavailableError when libcrypto.so.3 is not on the machine (Debian: libssl3).
 */
export function libcrypto(): Libcrypto {
  if (!lib) {
    try {
      lib = Deno.dlopen(Deno.env.get("WEFT_LIBCRYPTO") || LIBCRYPTO, symbols);
    } catch (e) {
      throw new CryptoUnavailableError(
        `cannot load OpenSSL's libcrypto.so.3 (${(e as Error).message}) — install Debian's libssl3`,
        { cause: e },
      );
    }
  }
  return lib.symbols;
}

/**
 * An AES-GCM key (RFC 4106) as the ESP code uses it, from either library: {@link AesGcm}
 * (OpenSSL EVP, five calls) or cli/sys/libgnutls.ts's GnutlsAesGcm (one call). Addresses are
 * bigints; `tag` must be `data + len` (ciphertext ‖ tag, ESP's layout), which GnuTLS requires.
 */
export interface Aead {
  /** Encrypts `len` bytes at `data` in place, the 16-byte tag at `tag`; false: nothing may be sent. */
  seal(nonce: bigint, aad: bigint, aadLen: number, data: bigint, len: number, tag: bigint): boolean;
  /** Verifies the tag and decrypts in place; false: the bytes at `data` must be dropped. */
  open(nonce: bigint, aad: bigint, aadLen: number, data: bigint, len: number, tag: bigint): boolean;
  /** {@link seal} over JS bytes (control path, tests): ciphertext ‖ tag. */
  sealBytes(nonce: Uint8Array, aad: Uint8Array, plain: Uint8Array): Uint8Array;
  /** {@link open} over JS bytes: the plaintext, or null when the tag does not verify. */
  openBytes(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null;
  free(): void;
}

/**
 * One AES-GCM key, usable for both directions (RFC 4106 with 128- or 256-bit keys).
 * Pointers are addresses (bigint) of memory the caller keeps alive: the Wasm core's linear memory
 * on the frame path, or `Uint8Array`s through {@link AesGcm.sealBytes}/{@link AesGcm.openBytes}.
 */
export class AesGcm implements Aead {
  private readonly c = libcrypto();
  /** EVP_CIPHER_CTX addresses (0n once freed): bigints, as every 64-bit parameter here. */
  private enc: bigint;
  private dec: bigint;
  /** int outl scratch, 8 bytes so the address stays aligned. */
  private readonly outl = new Uint8Array(128);
  private readonly outlPtr: bigint;

  /**
   * @param key 16 bytes (AES-128-GCM) or 32 bytes (AES-256-GCM); the caller zeroes its copy.
   * @throws CryptoUnavailableError when libcrypto is missing or rejects the key.
   * @throws RangeError for any other key length.
   */
  constructor(key: Uint8Array) {
    if (key.length !== 16 && key.length !== 32) throw new RangeError(`AES-GCM key of ${key.length} bytes`);
    const cipher = BigInt(key.length === 16 ? this.c.EVP_aes_128_gcm() : this.c.EVP_aes_256_gcm());
    this.outlPtr = BigInt(addressOf(this.outl));
    const keyCopy = pad(key);
    const keyPtr = BigInt(addressOf(keyCopy));
    this.enc = BigInt(this.c.EVP_CIPHER_CTX_new());
    this.dec = BigInt(this.c.EVP_CIPHER_CTX_new());
    const ok = this.enc !== 0n && this.dec !== 0n &&
      this.c.EVP_EncryptInit_ex(this.enc, cipher, 0n, keyPtr, 0n) === 1 &&
      this.c.EVP_DecryptInit_ex(this.dec, cipher, 0n, keyPtr, 0n) === 1;
    keyCopy.fill(0);
    if (!ok) {
      this.free();
      throw new CryptoUnavailableError("libcrypto refused the AES-GCM key");
    }
  }

  /**
   * Encrypts `len` bytes at `data` in place and writes the 16-byte tag at `tag`.
   * @param nonce 12 bytes (salt ‖ IV, RFC 4106 §4); never the same twice under one key.
   * @param aad the associated data (ESP: SPI ‖ sequence, RFC 4106 §5), `aadLen` bytes.
   * @returns false only if libcrypto reports an internal failure (then nothing may be sent).
   */
  seal(nonce: bigint, aad: bigint, aadLen: number, data: bigint, len: number, tag: bigint): boolean {
    const c = this.c, ctx = this.enc, o = this.outlPtr;
    return c.EVP_EncryptInit_ex(ctx, 0n, 0n, 0n, nonce) === 1 &&
      c.EVP_EncryptUpdate(ctx, 0n, o, aad, aadLen) === 1 &&
      c.EVP_EncryptUpdate(ctx, data, o, data, len) === 1 &&
      c.EVP_EncryptFinal_ex(ctx, data + BigInt(len), o) === 1 &&
      c.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, GCM_TAG_LEN, tag) === 1;
  }

  /**
   * Checks the tag at `tag` and decrypts `len` bytes at `data` in place.
   * @returns true iff the tag verified; on false the bytes at `data` are garbage and must be
   *   dropped (RFC 4303 §3.4.4.1: no part of a datagram that failed the ICV check is used).
   */
  open(nonce: bigint, aad: bigint, aadLen: number, data: bigint, len: number, tag: bigint): boolean {
    const c = this.c, ctx = this.dec, o = this.outlPtr;
    return c.EVP_DecryptInit_ex(ctx, 0n, 0n, 0n, nonce) === 1 &&
      c.EVP_DecryptUpdate(ctx, 0n, o, aad, aadLen) === 1 &&
      c.EVP_DecryptUpdate(ctx, data, o, data, len) === 1 &&
      c.EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, GCM_TAG_LEN, tag) === 1 &&
      c.EVP_DecryptFinal_ex(ctx, data + BigInt(len), o) === 1;
  }

  /** {@link seal} over JS bytes (control path, tests): returns ciphertext ‖ tag. */
  sealBytes(nonce: Uint8Array, aad: Uint8Array, plain: Uint8Array): Uint8Array {
    return sealBytes(this, nonce, aad, plain);
  }

  /** {@link open} over JS bytes: `sealed` is ciphertext ‖ tag; null when the tag does not verify. */
  openBytes(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
    return openBytes(this, nonce, aad, sealed);
  }

  /** Frees both contexts (their key schedules are cleansed by EVP_CIPHER_CTX_free). */
  free(): void {
    if (this.enc !== 0n) this.c.EVP_CIPHER_CTX_free(this.enc);
    if (this.dec !== 0n) this.c.EVP_CIPHER_CTX_free(this.dec);
    this.enc = this.dec = 0n;
  }
}

/** `aead.seal` over JS bytes: copies in, returns ciphertext ‖ tag. @throws CryptoUnavailableError */
export function sealBytes(aead: Aead, nonce: Uint8Array, aad: Uint8Array, plain: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.max(plain.length + GCM_TAG_LEN, 128));
  out.set(plain);
  const base = BigInt(addressOf(out));
  const n = pad(nonce), a = pad(aad);
  const ok = aead.seal(
    BigInt(addressOf(n)),
    BigInt(addressOf(a)),
    aad.length,
    base,
    plain.length,
    base + BigInt(plain.length),
  );
  if (!ok) throw new CryptoUnavailableError("AES-GCM failed to encrypt");
  return out.slice(0, plain.length + GCM_TAG_LEN);
}

/** `aead.open` over JS bytes: `sealed` is ciphertext ‖ tag; null when the tag does not verify. */
export function openBytes(
  aead: Aead,
  nonce: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
): Uint8Array | null {
  if (sealed.length < GCM_TAG_LEN) return null;
  const len = sealed.length - GCM_TAG_LEN;
  const buf = new Uint8Array(Math.max(sealed.length, 128));
  buf.set(sealed);
  const base = BigInt(addressOf(buf));
  const n = pad(nonce), a = pad(aad);
  const ok = aead.open(BigInt(addressOf(n)), BigInt(addressOf(a)), aad.length, base, len, base + BigInt(len));
  return ok ? buf.slice(0, len) : null;
}

/** A copy in a buffer of ≥ 128 bytes: V8 may move smaller ones (see cli/sys/mem.ts). */
function pad(bytes: Uint8Array): Uint8Array {
  const b = new Uint8Array(Math.max(bytes.length, 128));
  b.set(bytes);
  return b;
}
