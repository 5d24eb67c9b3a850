// Test helper, run inside a lab namespace by tests/esp/esp_port_flood_test.ts: sends N random
// datagrams from BIND to DST:PORT, every other one starting with one of the SPIs given (hex, the
// receiver's real inbound SAs) and random bytes after it, lengths 0..MAX_LEN, one in BIG_EVERY
// up to BIG_LEN (IP fragments on the underlay; longer than a frame slot without offloads). Paced so that the
// veth's backlog (netdev_max_backlog, 1000 by default) never overflows: every datagram must reach
// the receiver's socket for the test to account for each. Gives up at DEADLINE_MS. Prints the
// number sent as JSON.
// deno run -A --unstable-net tests/esp/esp_flood_send.ts BIND DST PORT N SPI_HEX,…
const [bind, dst, port, count, spis] = Deno.args;
const MAX_LEN = 1400;
const BIG_LEN = 4000;
const BIG_EVERY = 10;
/** Datagrams between pauses, and the pause: about 50 000 datagrams a second at most. */
const PACE_EVERY = 50;
const PACE_MS = 1;
const DEADLINE_MS = 30_000;
const spiList = spis.split(",").filter(Boolean).map((s) => parseInt(s, 16));
const sock = Deno.listenDatagram({ transport: "udp", hostname: bind, port: 0 });
const end = Date.now() + DEADLINE_MS;
let sent = 0;
for (let i = 0; i < Number(count) && Date.now() < end; i++) {
  const max = i % BIG_EVERY === BIG_EVERY - 1 ? BIG_LEN : MAX_LEN;
  const bytes = crypto.getRandomValues(new Uint8Array(Math.floor(Math.random() * (max + 1))));
  if (i % 2 === 1 && spiList.length > 0 && bytes.length >= 4) {
    new DataView(bytes.buffer).setUint32(0, spiList[i % spiList.length]);
  }
  await sock.send(bytes, { transport: "udp", hostname: dst, port: Number(port) });
  sent++;
  if (sent % PACE_EVERY === 0) await new Promise((r) => setTimeout(r, PACE_MS));
}
sock.close();
console.log(JSON.stringify({ sent }));
