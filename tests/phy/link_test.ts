// cli/phy/link.ts `command`, the one runner of ip(8)/nft(8) in the control path: it returns
// stdout, feeds stdin, turns a non-zero exit into the caller's error from the first line of
// stderr without iproute2's "Error: " prefix (or "exit CODE"), and a missing program into the
// caller's error or Deno's NotFound. Runs sh(1) only: no root, no namespace.

import assert from "node:assert/strict";
import { command, LinkError } from "../../cli/phy/link.ts";

Deno.test("command() returns stdout and feeds stdin", async () => {
  assert.equal(await command("sh", ["-c", "echo out; echo err >&2"]), "out\n");
  assert.equal(await command("sh", ["-c", "tr a-z A-Z"], { stdin: "nft rules\n" }), "NFT RULES\n");
});

Deno.test("command() fails with the first stderr line, 'Error: ' cut, as a LinkError by default", async () => {
  await assert.rejects(
    command("sh", ["-c", "echo 'Error: no such device' >&2; echo second >&2; exit 2"]),
    (e) =>
      e instanceof LinkError &&
      e.message === "sh -c echo 'Error: no such device' >&2; echo second >&2; exit 2: no such device",
  );
  await assert.rejects(
    command("sh", ["-c", "exit 3"], { failed: (reason) => new RangeError(`cannot: ${reason}`) }),
    (e) => e instanceof RangeError && e.message === "cannot: exit 3",
  );
});

Deno.test("command() reports a program that is not installed through `missing`, else as NotFound", async () => {
  const absent = "weft-no-such-program-7f3a";
  await assert.rejects(command(absent, []), Deno.errors.NotFound);
  await assert.rejects(
    command(absent, [], { missing: (cause) => new LinkError("install it", { cause }) }),
    (e) => e instanceof LinkError && e.cause instanceof Deno.errors.NotFound,
  );
});
