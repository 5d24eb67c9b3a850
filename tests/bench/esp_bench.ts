// ESP seal and open of one MTU-sized VXLAN datagram (1430 bytes: an encrypted network's 1408-byte
// MTU + Ethernet + VXLAN), in place, through cli/esp/esp.ts with each AES-128-GCM library the
// frame path can use (GnuTLS's one call, the default; OpenSSL EVP's five, the fallback), against
// `openssl speed` on this CPU (no FFI, OpenSSL 3's own per-call cost). ns per datagram, in CPU
// time of this thread (/proc/thread-self/stat), so that a machine shared with other processes
// inflates it less than wall time; rounds interleave the paths, the report gives the best and the
// median round.
//
// DENO_NO_UPDATE_CHECK=1 deno run -A tests/bench/esp_bench.ts [--rounds N] [--json PATH]

import { parseArgs } from "node:util";
import { ESP_HEADROOM, ESP_KEYMAT_LEN, espCounters, EspInbound, EspOutbound } from "../../cli/esp/esp.ts";
import { addressOf } from "../../cli/sys/libc.ts";
import { type Aead, AesGcm } from "../../cli/sys/libcrypto.ts";
import { GnutlsAesGcm } from "../../cli/sys/libgnutls.ts";
import { runContext, writeReport } from "./report.ts";

const LEN = 1430, SEALS = 200_000, OPENS = 1000, OPEN_PASSES = 200;
const TICKS_PER_SECOND = 100; // USER_HZ

/** CPU seconds (user + sys) this thread has used. */
function cpu(): number {
  const f = Deno.readTextFileSync("/proc/thread-self/stat").replace(/^.*\) /s, "").split(" ");
  return (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND;
}

/** Runs `fn` and returns [wall ns, CPU ns] per `n` operations. */
function timed(n: number, fn: () => void): [number, number] {
  const w0 = performance.now(), c0 = cpu();
  fn();
  return [(performance.now() - w0) * 1e6 / n, (cpu() - c0) * 1e9 / n];
}

const LIBS: Record<string, (key: Uint8Array) => Aead> = {
  "ESP, GnuTLS": (k) => new GnutlsAesGcm(k),
  "ESP, OpenSSL EVP": (k) => new AesGcm(k),
};

/** An SA's AEAD replaced by `make`'s (the SA picked its own through aesGcm()). */
function using<T extends EspOutbound | EspInbound>(
  sa: T,
  keymat: Uint8Array,
  make: (key: Uint8Array) => Aead,
): T {
  const s = sa as unknown as { gcm: Aead };
  s.gcm.free();
  s.gcm = make(keymat.subarray(0, 16));
  return sa;
}

/** One round: seal SEALS datagrams, then open OPEN_PASSES × OPENS fresh ones. */
function round(make: (key: Uint8Array) => Aead) {
  const keymat = crypto.getRandomValues(new Uint8Array(ESP_KEYMAT_LEN));
  const out = using(new EspOutbound(0x1000, keymat, espCounters()), keymat, make);
  const buf = new Uint8Array(4096), mem = new DataView(buf.buffer), ptr = BigInt(addressOf(buf));
  for (let i = 0; i < 2000; i++) out.seal(mem, ptr, 256, LEN, 49152, 4789); // tier up
  const seal = timed(SEALS, () => {
    for (let i = 0; i < SEALS; i++) out.seal(mem, ptr, 256, LEN, 49152, 4789);
  });
  const sealed = Array.from({ length: OPENS }, () => {
    const n = out.seal(mem, ptr, 256, LEN, 49152, 4789);
    return buf.slice(256 - ESP_HEADROOM, 256 - ESP_HEADROOM + n);
  });
  const rx = new Uint8Array(4096), rmem = new DataView(rx.buffer), rptr = BigInt(addressOf(rx));
  let ok = 0;
  // Each pass a fresh inbound SA (its own replay window); the copy into rx is counted too.
  const pass = () => {
    const inb = using(new EspInbound(0x1000, keymat, espCounters()), keymat, make);
    for (const s of sealed) {
      rx.set(s, 128);
      if (inb.open(rmem, rptr, 128, s.length) === null) ok++;
    }
    inb.free();
  };
  pass();
  ok = 0;
  const open = timed(OPEN_PASSES * OPENS, () => {
    for (let p = 0; p < OPEN_PASSES; p++) pass();
  });
  out.free();
  if (ok !== OPEN_PASSES * OPENS) throw new Error(`${ok} of ${OPEN_PASSES * OPENS} opens verified`);
  return { seal, open };
}

/** `openssl speed -evp aes-N-gcm -bytes LEN`: ns per LEN-byte block (its figure is over user CPU time). */
async function opensslSpeed(bits: number): Promise<number> {
  const r = await new Deno.Command("openssl", {
    args: ["speed", "-evp", `aes-${bits}-gcm`, "-bytes", String(LEN), "-seconds", "1"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const kBps = Number(new TextDecoder().decode(r.stdout).match(/AES-\d+-GCM\s+([\d.]+)k/)?.[1]);
  return LEN / (kBps * 1000) * 1e9;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    options: { rounds: { type: "string", default: "5" }, json: { type: "string" } },
  });
  const rounds = Number(values.rounds);
  const context = runContext();
  const SPEED = "openssl speed aes-128-gcm";
  const res: Record<string, { seal: number[][]; open: number[][] }> = {};
  for (const l of [...Object.keys(LIBS), SPEED]) res[l] = { seal: [], open: [] };
  for (let r = 0; r < rounds; r++) {
    for (const [l, make] of Object.entries(LIBS)) {
      const { seal, open } = round(make);
      res[l].seal.push(seal);
      res[l].open.push(open);
    }
    const s = await opensslSpeed(128);
    res[SPEED].seal.push([s, s]);
  }
  const fmt = (xs: number[][], i: number) =>
    xs.length
      ? `${Math.min(...xs.map((x) => x[i])).toFixed(0)} / ${median(xs.map((x) => x[i])).toFixed(0)}`
      : "—";
  console.log(
    `ESP AES-128-GCM, ${LEN}-byte VXLAN datagram, in place; ns per datagram, best / median of ${rounds} rounds`,
  );
  console.log(`| path | seal, CPU ns | seal, wall ns | open, CPU ns | open, wall ns |`);
  console.log(`|---|---:|---:|---:|---:|`);
  for (const [l, x] of Object.entries(res)) {
    console.log(`| ${l} | ${fmt(x.seal, 1)} | ${fmt(x.seal, 0)} | ${fmt(x.open, 1)} | ${fmt(x.open, 0)} |`);
  }
  console.log(
    `(openssl speed: EVP init, AAD, update, final, tag per block natively, from its user CPU time, in both columns; load average at start ${context.loadavgStart})`,
  );
  if (values.json) writeReport(values.json, context, { bench: "esp", len: LEN, rounds, results: res });
}

await main();
