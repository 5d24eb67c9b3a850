// ESP seal and open of one MTU-sized VXLAN datagram (1430 bytes: an encrypted network's 1408-byte
// MTU + Ethernet + VXLAN), in place, through cli/esp/esp.ts and libcrypto's EVP AES-128-GCM,
// against `openssl speed` on this CPU (the cipher alone, no FFI, with OpenSSL 3's own per-call
// cost: the floor). ns per datagram, in CPU time of this thread (/proc/thread-self/stat), so that
// a machine shared with other processes inflates it less than wall time; rounds interleave with
// openssl speed, and the report gives the best and the median round.
//
// DENO_NO_UPDATE_CHECK=1 deno run -A tests/bench/esp_bench.ts [--rounds N] [--json PATH]

import { parseArgs } from "node:util";
import { ESP_HEADROOM, ESP_KEYMAT_LEN, espCounters, EspInbound, EspOutbound } from "../../cli/esp/esp.ts";
import { addressOf } from "../../cli/sys/libc.ts";
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

/** One round: seal SEALS datagrams, then open OPEN_PASSES × OPENS fresh ones. */
function round() {
  const keymat = crypto.getRandomValues(new Uint8Array(ESP_KEYMAT_LEN));
  const out = new EspOutbound(0x1000, keymat, espCounters());
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
    const inb = new EspInbound(0x1000, keymat, espCounters());
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
  const ESP = "ESP, EVP AES-128-GCM", SPEED = "openssl speed aes-128-gcm";
  const res: Record<string, { seal: number[][]; open: number[][] }> = {
    [ESP]: { seal: [], open: [] },
    [SPEED]: { seal: [], open: [] },
  };
  for (let r = 0; r < rounds; r++) {
    const { seal, open } = round();
    res[ESP].seal.push(seal);
    res[ESP].open.push(open);
    const s = await opensslSpeed(128);
    res[SPEED].seal.push([s, s]);
  }
  const fmt = (xs: number[][], i: number) =>
    xs.length ? `${Math.min(...xs.map((x) => x[i])).toFixed(0)} / ${median(xs.map((x) => x[i])).toFixed(0)}` : "—";
  console.log(`ESP AES-128-GCM, ${LEN}-byte VXLAN datagram, in place; ns per datagram, best / median of ${rounds} rounds`);
  console.log(`| path | seal, CPU ns | seal, wall ns | open, CPU ns | open, wall ns |`);
  console.log(`|---|---:|---:|---:|---:|`);
  for (const [l, x] of Object.entries(res)) {
    console.log(`| ${l} | ${fmt(x.seal, 1)} | ${fmt(x.seal, 0)} | ${fmt(x.open, 1)} | ${fmt(x.open, 0)} |`);
  }
  console.log(`(openssl speed: EVP init, AAD, update, final, tag per block natively, from its user CPU time, in both columns; load average at start ${context.loadavgStart})`);
  if (values.json) writeReport(values.json, context, { bench: "esp", len: LEN, rounds, results: res });
}

await main();
