// `weft esp sa`: this node's current ESP SAs, one line each in the format of Wireshark's `esp_sa`
// table (tshark -o "uat:esp_sa:LINE", or the lines of ~/.config/wireshark/esp_sa), to decrypt a
// capture off the wire. Keys leave the daemon only here: root only, over the local socket.

import { UsageError } from "../errors.ts";
import { parseOptions } from "../args.ts";
import { api, HOST_OPTION } from "../control/daemon/client.ts";

const USAGE = "Usage: weft esp sa [-H HOST]   (root only: prints keys)";

export async function main(args: string[]): Promise<number> {
  const { values: v, positionals } = parseOptions(args, HOST_OPTION, USAGE, { positionals: true });
  if (positionals.length !== 1 || positionals[0] !== "sa") throw new UsageError(USAGE);
  if (Deno.uid() !== 0) throw new UsageError("weft esp sa prints secret keys: run it as root");
  const lines = await api<string[]>(v.host, "GET", "/esp/sa");
  for (const l of lines) console.log(l);
  return 0;
}
