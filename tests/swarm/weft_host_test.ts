// WEFT_HOST picks the daemon a command talks to, as DOCKER_HOST does; -H wins over it.
// Needs root (the daemon runs in a namespace of its own lab).

import assert from "node:assert/strict";
import { DENO, isRoot, LAB_ENV } from "../../cli/lab/mod.ts";
import { labTest } from "../harness.ts";

async function weftWith(env: Record<string, string>, args: string[]) {
  const r = await new Deno.Command(DENO, {
    args: ["run", "-A", "--unstable-net", "cli/main.ts", ...args],
    env: { ...LAB_ENV, ...env },
    cwd: new URL("../..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: r.code, stdout: text(r.stdout), stderr: text(r.stderr) };
}

labTest("WEFT_HOST=unix:///path picks the daemon; -H overrides it", { ignore: !isRoot() }, async (lab) => {
  await lab.setup(1);
  const [h] = lab.hosts;
  await lab.startDaemon(h);
  const good = `unix://${h.sock}`, bad = `unix://${lab.dir}/nobody.sock`;
  const viaEnv = await weftWith({ WEFT_HOST: good }, ["ps"]);
  assert.equal(viaEnv.code, 0, viaEnv.stderr);
  assert.match(viaEnv.stdout, /^CONTAINER/);
  const wrong = await weftWith({ WEFT_HOST: bad }, ["ps"]);
  assert.notEqual(wrong.code, 0);
  assert.match(
    wrong.stderr,
    new RegExp(`cannot connect to the weft daemon at ${bad.replace(/[.]/g, "\\.")}`),
  );
  const flag = await weftWith({ WEFT_HOST: bad }, ["ps", "-H", good]);
  assert.equal(flag.code, 0, `-H wins over WEFT_HOST: ${flag.stderr}`);
  assert.match(flag.stdout, /^CONTAINER/);
});
