// WEFT_HOST picks the daemon a command talks to, as DOCKER_HOST does; -H wins over it.
// Needs root (the daemon runs in a namespace of its own lab).

import assert from "node:assert/strict";
import { isRoot, weft } from "../../cli/lab/mod.ts";
import { labTest } from "../harness.ts";

/** The CLI with `env` over the lab's (WEFT_HOST above all). */
function weftWith(env: Record<string, string>, args: string[]) {
  return weft(args, 20000, env);
}

labTest(
  "WEFT_HOST=unix:///path picks the daemon; -H overrides it, after the command or before it (Docker's global -H)",
  { ignore: !isRoot() },
  async (lab) => {
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
    // Docker's global form, before the command: `weft -H HOST ps`, `weft --host=HOST ps`.
    for (const global of [["-H", good], [`--host=${good}`]]) {
      const before = await weftWith({ WEFT_HOST: bad }, [...global, "ps"]);
      assert.equal(before.code, 0, `weft ${global.join(" ")} ps: ${before.stderr}`);
      assert.match(before.stdout, /^CONTAINER/);
    }
    const missing = await weftWith({}, ["-H"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^error: -H needs a value/);
  },
);
