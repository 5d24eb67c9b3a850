// `weft esp sa`: this node's current ESP SAs, one line each in the format of Wireshark's `esp_sa`
// table (tshark -o "uat:esp_sa:LINE", or the lines of ~/.config/wireshark/esp_sa), to decrypt a
// capture off the wire. Keys leave the daemon only here: root only, over the local socket.

import { parseArgs } from "node:util";
import { UsageError } from "../errors.ts";
import { api, HOST_OPTION } from "../control/daemon/client.ts";

const USAGE = "Usage: weft esp sa [-H HOST]   (root only: prints keys)";

export async function main(args: string[]): Promise<number> {
  let v, positionals;
  try {
    ({ values: v, positionals } = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: HOST_OPTION,
    }));
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${USAGE}`);
  }
  if (positionals.length !== 1 || positionals[0] !== "sa") throw new UsageError(USAGE);
  if (Deno.uid() !== 0) throw new UsageError("weft esp sa prints secret keys: run it as root");
  const lines = await api<string[]>(v.host, "GET", "/esp/sa");
  for (const l of lines) console.log(l);
  return 0;
}
