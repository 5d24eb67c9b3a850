// The benchmark's encrypted VTEP: `weft vtep` (cli/commands/vtep.ts) with its VNI encrypted under
// static SAs read from a JSON file (StaticEsp), so that tests/bench/e2e_bench.ts measures the very
// frame path of an `--opt encrypted` network (cli/dataplane/esp_path.ts) in the topology of its
// cleartext weft row, without a swarm. The bench draws fresh random key material per run: a static
// key reused across starts would repeat (key, nonce) pairs, which is why this is no CLI option.
//
//   deno run -A --unstable-net tests/bench/esp_vtep.ts --esp FILE <weft vtep arguments>

import { main, type StaticEsp } from "../../cli/commands/vtep.ts";

const at = Deno.args.indexOf("--esp");
if (at < 0 || at + 1 >= Deno.args.length) {
  console.error("usage: esp_vtep.ts --esp FILE <weft vtep arguments>");
  Deno.exit(2);
}
const esp: StaticEsp = JSON.parse(await Deno.readTextFile(Deno.args[at + 1]));
const rest = Deno.args.filter((_, i) => i !== at && i !== at + 1);
Deno.exit(await main(rest, esp));
