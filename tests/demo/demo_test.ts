// `weft demo` on a machine without tcpdump and tshark: it completes, captures the underlay with
// weft's own packet socket, decapsulates it with `weft pcap decap` and says in one line that
// tshark's decode is skipped. A failure mid-demo prints one line and deletes what it made.
// The tools are hidden with a PATH that lacks them (tests/hidden_tools.ts), nothing uninstalled.

import assert from "node:assert/strict";
import { pathWithout } from "../hidden_tools.ts";
import { DENO, ROOT, run } from "../../cli/lab/mod.ts";

const DEMO = [DENO, "run", "-A", "--unstable-net", `${ROOT}cli/main.ts`, "demo"];
/** The demo itself gives up after 120 s; this bound only catches a hang of the test. */
const DEMO_TIMEOUT_MS = 170_000;

async function demo(path: string) {
  const child = new Deno.Command(DEMO[0], {
    args: DEMO.slice(1),
    env: { PATH: path, DENO_NO_UPDATE_CHECK: "1" },
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // A hang: SIGINT first (the demo cleans up on it), SIGKILL if that does not end it.
  const kill = (sig: Deno.Signal) => {
    try {
      child.kill(sig);
    } catch { /* exited */ }
  };
  const soft = setTimeout(() => kill("SIGINT"), DEMO_TIMEOUT_MS);
  const hard = setTimeout(() => kill("SIGKILL"), DEMO_TIMEOUT_MS + 20_000);
  const out = await child.output();
  clearTimeout(soft);
  clearTimeout(hard);
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  const stdout = text(out.stdout);
  // The lab's namespaces are named in the transcript's first lines: "…namespaces wtxxxxxh1, …".
  const prefix = /network namespaces (\S+)h1,/.exec(stdout)?.[1];
  return { code: out.code, stdout, stderr: text(out.stderr), prefix };
}

/**
 * Namespaces left over with the lab's prefix (other runs' labs have other prefixes). They are
 * deleted here so a failing run leaves nothing either, and returned for the assertion.
 */
async function leftOver(prefix: string | undefined): Promise<string[]> {
  if (!prefix) return [];
  const list = await run(["ip", "netns", "list"], { check: true });
  const left = list.stdout.split("\n").map((l) => l.split(" ")[0]).filter((n) => n.startsWith(prefix));
  for (const ns of left) await run(["ip", "netns", "del", ns]);
  return left;
}

Deno.test({
  name:
    "weft demo without tcpdump and tshark completes: weft captures and decapsulates, tshark is skipped in one line",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const p = pathWithout(["tcpdump", "tshark"]);
    let prefix: string | undefined;
    try {
      const r = await demo(p.dir);
      prefix = r.prefix;
      assert.equal(r.code, 0, `demo exit 0, got ${r.code}:\n${r.stderr}\n${r.stdout.slice(-3000)}`);
      assert.equal(r.stderr.trim(), "", "nothing on stderr");
      assert.ok(r.prefix, "the transcript names the lab's namespaces");
      assert.match(r.stdout, /3 packets transmitted, 3 received/);
      // Three echo requests and three replies cross node1's eth0 in VXLAN.
      const n = Number(/: (\d+) VXLAN datagrams\./.exec(r.stdout)?.[1]);
      assert.ok(n >= 6, `at least 6 VXLAN datagrams captured, got ${n}`);
      assert.match(
        r.stdout,
        new RegExp(
          `node1\\$ weft pcap decap underlay.pcap inner.pcap\\nvni 4096: ${n} decapsulated, 0 dropped\\n` +
            `wrote ${n} frames to inner.pcap\\n`,
        ),
      );
      const notes = r.stdout.split("\n").filter((l) => l.includes("tshark"));
      assert.deepEqual(notes, [
        "# tshark is not installed: skipping its decode of underlay.pcap " +
        "(apt-get install -y --no-install-recommends tshark adds it).",
      ]);
      assert.match(r.stdout, /# cleaned up: daemons stopped, namespaces deleted\.\n$/);
      assert.deepEqual(await leftOver(prefix), [], "the demo deleted its namespaces");
    } finally {
      p.close();
      await leftOver(prefix);
    }
  },
});

Deno.test({
  name:
    "weft demo that fails mid-way (no nsenter to start the daemons) prints one line and deletes its namespaces",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const p = pathWithout(["nsenter"]);
    let prefix: string | undefined;
    try {
      const r = await demo(p.dir);
      prefix = r.prefix;
      assert.equal(r.code, 1, `demo exit 1, got ${r.code}:\n${r.stderr}`);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, `one line on stderr: ${r.stderr}`);
      assert.match(lines[0], /^error: weft demo failed: .*nsenter/);
      assert.ok(r.prefix, "the transcript names the lab's namespaces");
      assert.match(r.stdout, /# cleaned up: daemons stopped, namespaces deleted\.\n$/);
      assert.deepEqual(await leftOver(prefix), [], "the demo deleted its namespaces");
    } finally {
      p.close();
      await leftOver(prefix);
    }
  },
});
