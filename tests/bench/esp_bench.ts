// ESP seal and open of one MTU-sized VXLAN datagram (1430 bytes: an encrypted network's 1408-byte
// MTU + Ethernet + VXLAN), in place, through cli/esp/esp.ts and libcrypto: µs per datagram.
// DENO_NO_UPDATE_CHECK=1 deno run -A tests/bench/esp_bench.ts
import { ESP_HEADROOM, espCounters, EspInbound, EspOutbound } from "../../cli/esp/esp.ts";
import { addressOf } from "../../cli/sys/libc.ts";

const LEN = 1430, N = 200_000, OPENS = 1000;
const keymat = crypto.getRandomValues(new Uint8Array(20));
const out = new EspOutbound(0x1000, keymat, espCounters());
const buf = new Uint8Array(4096), mem = new DataView(buf.buffer), ptr = BigInt(addressOf(buf));
let t = performance.now();
for (let i = 0; i < N; i++) out.seal(mem, ptr, 256, LEN, 49152, 4789);
console.log(`seal: ${((performance.now() - t) * 1000 / N).toFixed(2)} µs per ${LEN}-byte datagram`);
// Opens need datagrams never seen: seal OPENS of them, open each once (copy included).
const sealed = Array.from({ length: OPENS }, () => {
  const n = out.seal(mem, ptr, 256, LEN, 49152, 4789);
  return buf.slice(256 - ESP_HEADROOM, 256 - ESP_HEADROOM + n);
});
const rx = new Uint8Array(4096), rmem = new DataView(rx.buffer), rptr = BigInt(addressOf(rx));
// 100 passes, each with a fresh inbound SA (its own replay window), after one to warm up.
const PASSES = 100;
let ok = 0;
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
t = performance.now();
for (let p = 0; p < PASSES; p++) pass();
const opens = PASSES * OPENS;
console.log(
  `open: ${((performance.now() - t) * 1000 / opens).toFixed(2)} µs per datagram (${ok}/${opens} verified)`,
);
out.free();
