// AES-GCM through libcrypto (EVP) and GnuTLS (one call, the frame path's) against the test vectors of the GCM specification (McGrew & Viega,
// "The Galois/Counter Mode of Operation", test cases 3, 4 and 16, also used by NIST's CAVP), and
// against an independent implementation (WebCrypto, built into Deno) on random inputs.
import assert from "node:assert/strict";
import { type Aead, AesGcm, GCM_TAG_LEN } from "../../cli/sys/libcrypto.ts";
import { aesGcm, GnutlsAesGcm } from "../../cli/sys/libgnutls.ts";

/** Both libraries; each test runs once per library and key size it takes. */
const LIBS: { lib: string; keyLens: number[]; make: (key: Uint8Array) => Aead }[] = [
  { lib: "libcrypto", keyLens: [16, 32], make: (k) => new AesGcm(k) },
  { lib: "GnuTLS", keyLens: [16, 32], make: (k) => new GnutlsAesGcm(k) },
];

const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, "").match(/../g) ?? [], (b) => parseInt(b, 16));
const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

const P4 = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
const vectors = [
  {
    name: "test case 3 (AES-128, no AAD)",
    key: "feffe9928665731c6d6a8f9467308308",
    iv: "cafebabefacedbaddecaf888",
    aad: "",
    plain: P4 + "1aafd255",
    cipher: "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e" +
      "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
    tag: "4d5c2af327cd64a62cf35abd2ba6fab4",
  },
  {
    name: "test case 4 (AES-128, 20 bytes of AAD)",
    key: "feffe9928665731c6d6a8f9467308308",
    iv: "cafebabefacedbaddecaf888",
    aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
    plain: P4,
    cipher: "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e" +
      "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
    tag: "5bc94fbc3221a5db94fae95ae7121a47",
  },
  {
    name: "test case 16 (AES-256, 20 bytes of AAD)",
    key: "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
    iv: "cafebabefacedbaddecaf888",
    aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
    plain: P4,
    cipher: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa" +
      "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
    tag: "76fc6ece0f4e1768cddf8853bb2d551b",
  },
];

for (const { lib, keyLens, make } of LIBS) {
  for (const v of vectors.filter((v) => keyLens.includes(v.key.length / 2))) {
    Deno.test(`${lib} AES-GCM: GCM spec ${v.name}`, () => {
      const gcm = make(hex(v.key));
      try {
        const sealed = gcm.sealBytes(hex(v.iv), hex(v.aad), hex(v.plain));
        assert.equal(toHex(sealed), v.cipher + v.tag);
        assert.equal(toHex(gcm.openBytes(hex(v.iv), hex(v.aad), sealed)!), v.plain);
      } finally {
        gcm.free();
      }
    });
  }

  Deno.test(`${lib} AES-GCM: a flipped bit anywhere (ciphertext, tag, AAD, nonce) fails the tag`, () => {
    const v = vectors[1];
    const gcm = make(hex(v.key));
    try {
      const sealed = hex(v.cipher + v.tag);
      const aad = hex(v.aad), iv = hex(v.iv);
      for (let bit = 0; bit < sealed.length * 8; bit += 7) {
        const bad = sealed.slice();
        bad[bit >> 3] ^= 1 << (bit & 7);
        assert.equal(gcm.openBytes(iv, aad, bad), null, `bit ${bit} of ciphertext‖tag`);
      }
      for (let bit = 0; bit < aad.length * 8; bit += 5) {
        const bad = aad.slice();
        bad[bit >> 3] ^= 1 << (bit & 7);
        assert.equal(gcm.openBytes(iv, bad, sealed), null, `bit ${bit} of AAD`);
      }
      const badIv = iv.slice();
      badIv[11] ^= 0x80;
      assert.equal(gcm.openBytes(badIv, aad, sealed), null, "nonce");
      assert.equal(gcm.openBytes(iv, aad, sealed.subarray(0, GCM_TAG_LEN - 1)), null, "shorter than a tag");
      assert.equal(toHex(gcm.openBytes(iv, aad, sealed)!), P4, "and the original still opens");
    } finally {
      gcm.free();
    }
  });

  Deno.test(`${lib} AES-GCM agrees with WebCrypto on random keys, nonces, AAD and lengths`, async () => {
    for (let i = 0; i < 40; i++) {
      const key = crypto.getRandomValues(new Uint8Array(keyLens[i % keyLens.length]));
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const aad = crypto.getRandomValues(new Uint8Array(i % 3 ? 8 : 12));
      const plain = crypto.getRandomValues(new Uint8Array((i * 97) % 1600));
      const web = new Uint8Array(
        await crypto.subtle.encrypt(
          { name: "AES-GCM", iv, additionalData: aad, tagLength: 128 },
          await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]),
          plain,
        ),
      );
      const gcm = make(key);
      try {
        assert.equal(toHex(gcm.sealBytes(iv, aad, plain)), toHex(web), `case ${i}`);
        assert.equal(toHex(gcm.openBytes(iv, aad, web)!), toHex(plain), `case ${i}`);
      } finally {
        gcm.free();
      }
    }
  });
}

Deno.test("aesGcm(): GnuTLS where it loads, EVP otherwise; either opens what the other sealed", async () => {
  const key = crypto.getRandomValues(new Uint8Array(16));
  const fast = aesGcm(key), evp = new AesGcm(key);
  try {
    assert.ok(fast instanceof GnutlsAesGcm, "libgnutls30 is on the test machines (a Debian base package)");
    // Without GnuTLS (WEFT_LIBGNUTLS names a missing file, in a fresh process): EVP.
    const probe = `import { aesGcm } from "${new URL("../../cli/sys/libgnutls.ts", import.meta.url)}";` +
      `console.log(aesGcm(new Uint8Array(16)).constructor.name);`;
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["eval", probe],
      env: { WEFT_LIBGNUTLS: "/nonexistent/libgnutls.so.30" },
      stdout: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(r.stdout).trim(), "AesGcm");
    const iv = crypto.getRandomValues(new Uint8Array(12)), aad = new Uint8Array(12);
    const plain = crypto.getRandomValues(new Uint8Array(1430));
    assert.equal(toHex(evp.openBytes(iv, aad, fast.sealBytes(iv, aad, plain))!), toHex(plain));
    assert.equal(toHex(fast.openBytes(iv, aad, evp.sealBytes(iv, aad, plain))!), toHex(plain));
  } finally {
    fast.free();
    evp.free();
  }
});

Deno.test("AES-GCM refuses a key that is neither 128 nor 256 bits, in either library and through aesGcm()", () => {
  assert.throws(() => new AesGcm(new Uint8Array(24)), RangeError);
  assert.throws(() => new GnutlsAesGcm(new Uint8Array(24)), RangeError);
  assert.throws(() => aesGcm(new Uint8Array(20)), RangeError);
});
