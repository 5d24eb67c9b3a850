// Host defaults live in cli/defaults.ts only: no code under cli/ spells them again (help text and
// comments may quote them), and the derived ones follow from their parts.
import assert from "node:assert/strict";
import * as D from "../../cli/defaults.ts";

const CLI = new URL("../../cli/", import.meta.url);

async function* walk(dir: URL): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) yield* walk(new URL(`${e.name}/`, dir));
    else yield new URL(e.name, dir).pathname;
  }
}

/** Source text with comments and string/template literals blanked, so only code remains. */
function codeOnly(src: string): string {
  let out = "";
  let i = 0;
  while (i < src.length) {
    const c = src[i], n = src[i + 1];
    if (c === "/" && n === "/") {
      while (i < src.length && src[i] !== "\n") i++;
    } else if (c === "/" && n === "*") {
      const end = src.indexOf("*/", i + 2);
      i = end < 0 ? src.length : end + 2;
    } else if (c === '"' || c === "'" || c === "`") {
      i++;
      while (i < src.length && src[i] !== c) i += src[i] === "\\" ? 2 : 1;
      i++;
      out += " ";
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

// The numbers that must come from cli/defaults.ts, as they would be spelled in code.
const SPELLED = /(?<![\w.])(4789|2377|1450|1430|0xffffff|16777215)(?![\w.])/;

Deno.test("no code under cli/ spells a protocol default that cli/defaults.ts names", async () => {
  const found: string[] = [];
  for await (const path of walk(CLI)) {
    if (!path.endsWith(".ts") || path.endsWith("/defaults.ts")) continue;
    codeOnly(await Deno.readTextFile(path)).split("\n").forEach((line, i) => {
      if (SPELLED.test(line)) found.push(`${path.slice(CLI.pathname.length)}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(found, []);
});

Deno.test("the check finds a spelled default in code but not in comments or strings", () => {
  assert.ok(SPELLED.test(codeOnly("const port = 4789;")));
  assert.ok(!SPELLED.test(codeOnly('// port 4789\nconst s = "udp 4789", t = `:${x}2377`;')));
});

Deno.test("derived defaults: overlay MTU is the underlay's less the VXLAN overhead (RFC 7348 §5)", () => {
  assert.equal(D.DEFAULT_MTU, 1450);
  assert.equal(D.DEFAULT_MTU_IPV6, 1430);
  // inner Ethernet 14 + VXLAN 8 + UDP 8 + outer IPv4 20 / IPv6 40
  assert.equal(D.VXLAN_OVERHEAD_IPV4, 14 + 8 + 8 + 20);
  assert.equal(D.VXLAN_OVERHEAD_IPV6, 14 + 8 + 8 + 40);
  assert.equal(D.VNI_MAX, 2 ** 24 - 1);
  assert.ok(D.FIRST_VNI > D.VNI_MIN && D.FIRST_VNI <= D.VNI_MAX);
});
