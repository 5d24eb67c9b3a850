// `weft esp sa`: this node's current ESP SAs, one line each in the format of Wireshark's `esp_sa`
// table (tshark -o "uat:esp_sa:LINE", or the lines of ~/.config/wireshark/esp_sa), to decrypt a
// capture off the wire. Keys leave the daemon only here: root only, over the local socket.
// tshark decodes ESP in UDP on port 4500 only (its `udpencap` dissector); on a swarm with another
// `--esp-port` the command says on stderr how to decode that port, so stdout stays the table.

import { UsageError } from "../errors.ts";
import { parseOptions } from "../args.ts";
import { api, HOST_OPTION } from "../control/daemon/client.ts";
import { ESP_PORT } from "../esp/port.ts";

const USAGE = "Usage: weft esp sa [-H HOST]   (root only: prints keys)";

export async function main(args: string[]): Promise<number> {
  const { values: v, positionals } = parseOptions(args, HOST_OPTION, USAGE, { positionals: true });
  if (positionals.length !== 1 || positionals[0] !== "sa") throw new UsageError(USAGE);
  if (Deno.uid() !== 0) throw new UsageError("weft esp sa prints secret keys: run it as root");
  const lines = await api<string[]>(v.host, "GET", "/esp/sa");
  for (const l of lines) console.log(l);
  const { espPort } = await api<{ espPort: number | null }>(v.host, "GET", "/info");
  if (espPort !== null && espPort !== ESP_PORT) console.error(tsharkHint(espPort));
  return 0;
}

/** What tshark needs besides the SAs to decrypt ESP in UDP on `port` (not 4500). */
export function tsharkHint(port: number): string {
  return `# ESP in UDP is on port ${port} in this swarm: tshark -d udp.port==${port},udpencap`;
}
