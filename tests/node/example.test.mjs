// The binding's @example (createCore in cli/core/bundle.ts) runs as written against the built
// bundle in Node (the runtime it names; also when `deno test tests/` picks this file up) and
// prints what its `// →` lines say: the documented example cannot rot.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";

const root = new URL("../../", import.meta.url);

/** The ```js block of the first @example in a file's doc comments, without the " * " prefixes. */
function example(path) {
  const text = readFileSync(new URL(path, root), "utf8");
  const m = /@example[^\n]*\n(?:[^\n]*\n)*?\s*\* ```js\n([\s\S]*?)\n\s*\* ```/.exec(text);
  assert.ok(m, `${path} has an @example with a js block`);
  return m[1].split("\n").map((l) => l.replace(/^\s*\* ?/, "")).join("\n");
}

test("the createCore @example runs in Node and prints what it documents", () => {
  const code = example("cli/core/bundle.ts");
  const expected = [...code.matchAll(/^\/\/ → (.*)$/gm)].map((m) => m[1]);
  assert.ok(expected.length > 0, "the example documents its output");
  const runnable = code.replace('"./build/weft-core.mjs"', JSON.stringify(new URL("build/weft-core.mjs", root).href));
  const out = execFileSync("node", ["--input-type=module", "-e", runnable], { encoding: "utf8", timeout: 60_000 });
  assert.deepEqual(out.trim().split("\n"), expected);
});
