// npm test: every suite in turn, then one line "N passed, N failed" summing them (CI reads it).
// A suite that fails without printing its counts counts as one failure, never as zero.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
// deno-lint-ignore no-control-regex -- ANSI colour codes are exactly what is stripped
const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, "");
const only = process.argv.slice(2);

const suites = [
  {
    name: "as-pect (Wasm core units)",
    cmd: [
      bin("asp"),
      "--config",
      "tests/assembly/as-pect.config.js",
      "--as-config",
      "tests/assembly/as-pect.asconfig.json",
    ],
    count(out) {
      const m = /\[Tests\]:\s*(\d+)\s*\/\s*(\d+)/.exec(out);
      return m && { passed: +m[1], failed: +m[2] - +m[1] };
    },
  },
  {
    name: "deno test (binding, fixtures, CLI, namespaces)",
    cmd: [bin("deno"), "test", "-A", "--unstable-net", "tests/"],
    count(out) {
      const m = /(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/.exec(out);
      return m && { passed: +m[1], failed: +m[2] };
    },
  },
  {
    name: "node --test (bundle in Node)",
    cmd: ["node", "--test", "tests/node/"],
    count(out) {
      const p = /^# pass (\d+)/m.exec(out), f = /^# fail (\d+)/m.exec(out);
      return p && f && { passed: +p[1], failed: +f[1] };
    },
  },
];

let passed = 0, failed = 0;
for (const suite of suites) {
  if (only.length && !only.some((o) => suite.name.startsWith(o))) continue;
  console.log(`\n=== ${suite.name}: ${suite.cmd.join(" ")}`);
  // No background update check from the Deno processes (see cli/control/daemon/lab.ts).
  const env = { ...process.env, DENO_NO_UPDATE_CHECK: "1" };
  const r = spawnSync(suite.cmd[0], suite.cmd.slice(1), {
    cwd: root,
    env,
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  const out = strip(`${r.stdout ?? ""}${r.stderr ?? ""}`);
  process.stdout.write(out);
  const c = suite.count(out);
  if (!c) {
    console.log(`=== ${suite.name}: no test counts found (exit ${r.status}); counted as 1 failure`);
    failed++;
    continue;
  }
  if (r.status !== 0 && c.failed === 0) c.failed = 1; // a crash after the counts
  console.log(`=== ${suite.name}: ${c.passed} passed, ${c.failed} failed`);
  passed += c.passed;
  failed += c.failed;
}
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
