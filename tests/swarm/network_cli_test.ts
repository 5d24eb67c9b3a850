// `weft network create` refuses driver options it would misread, before it talks to any daemon:
// one line, exit 2 (no daemon runs here, so a request would fail differently).

import assert from "node:assert/strict";
import { weft } from "../../cli/lab/mod.ts";

/** The CLI pointed at a socket nobody serves: a request that gets past the option checks fails to connect. */
function weftNoDaemon(args: string[]) {
  return weft(args, 20000, { WEFT_HOST: "unix:///nonexistent/weft.sock" });
}

Deno.test("network create: --opt encrypted=false is refused, not taken as encrypted (Docker would encrypt)", async () => {
  for (const value of ["false", "0", "no", "maybe"]) {
    const r = await weftNoDaemon(["network", "create", "-d", "overlay", "--opt", `encrypted=${value}`, "n1"]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr,
      `error: --opt encrypted takes no value (or "true"), got "${value}": leave it out for a plain network\n`,
    );
  }
  // "encrypted" and "encrypted=true" pass the option check and go on to the daemon (absent here).
  for (const opt of ["encrypted", "encrypted=true"]) {
    const r = await weftNoDaemon(["network", "create", "-d", "overlay", "-o", opt, "n1"]);
    assert.match(r.stderr, /cannot connect to the weft daemon/, `${opt}: ${r.stderr}`);
  }
});
