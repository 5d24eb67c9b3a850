// Test helper, run inside a lab namespace: sends UDP datagrams (hex payloads) from BIND to DST:PORT.
// deno run -A --unstable-net tests/esp/send_udp.ts BIND DST PORT HEX…
const [bind, dst, port, ...payloads] = Deno.args;
const sock = Deno.listenDatagram({ transport: "udp", hostname: bind, port: 0 });
for (const hex of payloads) {
  const bytes = Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
  await sock.send(bytes, { transport: "udp", hostname: dst, port: Number(port) });
}
sock.close();
