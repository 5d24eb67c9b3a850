// npm test: every suite in turn, then one line "N passed, N failed, N skipped" summing them (CI reads
// it). That line is the last one printed, whatever happens: a suite that fails, hangs or crashes still
// ends in it.
//
// A suite counts as failed, never as passed, when it
//   - prints no counts (a crash before its summary): one failure;
//   - runs past its time limit (`limitS`): killed with its whole process group, one failure;
//   - runs fewer tests than its floor (`min`): the missing ones are failures (a suite that silently
//     stopped finding its files, or whose tests all skipped, must not read as green);
//   - exits non-zero after printing only passes: one failure.
// Skipped tests (Deno's `ignore`, as-pect's todo, node's skip/todo) are counted and printed. Every skip
// in this tree is for a missing tool (tshark) or privilege (root); under CI=true such a skip is a
// failure, since CI provisions both (.ci/run) and a skip there means a suite never ran.
//
// Usage: node tests/run.mjs [suite-prefix…]   e.g. `node tests/run.mjs deno`, `node tests/run.mjs as-pect`
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
// deno-lint-ignore no-control-regex -- ANSI colour codes are exactly what is stripped
const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, "");
const only = process.argv.slice(2);
const CI = process.env.CI === "true";

// Prerequisites (tools, root, /dev/net/tun) are checked before this runs: `npm test` is
// `node build/prereq.mjs test && npm run build && node tests/run.mjs`.

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
    limitS: 300,
    min: 86,
    count(out) {
      const m = /\[Tests\]:\s*(\d+)\s*\/\s*(\d+)/.exec(out);
      if (!m) return null;
      const todo = [...out.matchAll(/Todo: (\d+)/g)].reduce((n, t) => n + +t[1], 0);
      return { passed: +m[1], failed: +m[2] - +m[1], skipped: todo };
    },
  },
  {
    name: "deno test (binding, fixtures, CLI, namespaces)",
    // tests/node/ is Node's (its *.test.mjs matches Deno's pattern too; deno.json excludes it as well).
    cmd: [bin("deno"), "test", "-A", "--unstable-net", "--ignore=tests/node/", "tests/"],
    limitS: 40 * 60,
    min: 110,
    count(out) {
      // "ok | 90 passed (12 steps) | 0 failed | 2 ignored (1 step) (95s)": ignored steps are skips too.
      const m = /(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed(?: \(\d+ steps?\))?(?: \| (\d+) ignored(?: \((\d+) steps?\))?)?/
        .exec(out);
      return m && { passed: +m[1], failed: +m[2], skipped: +(m[3] ?? 0) + +(m[4] ?? 0) };
    },
  },
  {
    name: "node --test (bundle in Node)",
    cmd: ["node", "--test", "tests/node/"],
    limitS: 120,
    min: 2,
    count(out) {
      const p = /^# pass (\d+)/m.exec(out), f = /^# fail (\d+)/m.exec(out);
      const s = /^# skipped (\d+)/m.exec(out), t = /^# todo (\d+)/m.exec(out);
      return p && f && { passed: +p[1], failed: +f[1], skipped: +(s?.[1] ?? 0) + +(t?.[1] ?? 0) };
    },
  },
];

let current; // the running suite's child, whose group an interrupt kills too

/** Runs one suite in its own process group, echoing its output; kills the group at the time limit. */
function runSuite(suite) {
  return new Promise((resolve) => {
    // No background update check from the Deno processes (see cli/lab/run.ts LAB_ENV); no colours.
    const env = { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" };
    const child = spawn(suite.cmd[0], suite.cmd.slice(1), { cwd: root, env, detached: true });
    current = child;
    let out = "", timedOut = false, killer;
    const take = (chunk) => {
      const s = strip(chunk.toString());
      out += s;
      process.stdout.write(s);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    const timer = setTimeout(() => {
      timedOut = true;
      const group = (sig) => {
        try {
          process.kill(-child.pid, sig);
        } catch { /* gone */ }
      };
      group("SIGTERM");
      killer = setTimeout(() => group("SIGKILL"), 10000);
    }, suite.limitS * 1000);
    child.on("error", (e) => {
      out += `\n${e.message}\n`;
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killer);
      current = undefined;
      resolve({ out, status: code ?? signal, timedOut });
    });
  });
}

let passed = 0, failed = 0, skipped = 0;
const total = () => console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
// The total is the last line even if this script itself throws or is interrupted.
process.on("exit", () => total());
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    failed++;
    if (current) {
      try {
        process.kill(-current.pid, "SIGKILL");
      } catch { /* gone */ }
    }
    process.exit(130);
  });
}

try {
  for (const suite of suites) {
    if (only.length && !only.some((o) => suite.name.startsWith(o))) continue;
    console.log(`\n=== ${suite.name}: ${suite.cmd.join(" ")} (limit ${suite.limitS} s)`);
    const started = Date.now();
    const r = await runSuite(suite);
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    const c = suite.count(r.out) ?? { passed: 0, failed: 0, skipped: 0, none: true };
    const why = [];
    if (r.timedOut) {
      why.push(`killed after its time limit of ${suite.limitS} s`);
      c.failed++;
    } else if (c.none) {
      why.push(`no test counts found (exit ${r.status})`);
      c.failed++;
    } else if (r.status !== 0 && c.failed === 0) {
      why.push(`exit ${r.status} with no failed test`);
      c.failed++;
    }
    if (CI && c.skipped > 0) {
      why.push(`CI=true: ${c.skipped} skipped (missing tool or privilege) counted as failed`);
      c.failed += c.skipped;
      c.skipped = 0;
    }
    if (!c.none && !r.timedOut && c.passed + c.failed + c.skipped < suite.min) {
      const missing = suite.min - (c.passed + c.failed + c.skipped);
      why.push(`ran ${c.passed + c.failed + c.skipped} tests, fewer than its floor of ${suite.min}`);
      c.failed += missing;
    }
    if (!r.out.endsWith("\n")) console.log(); // as-pect ends on a half line
    console.log(
      `=== ${suite.name}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped in ${seconds} s` +
        (why.length ? ` (${why.join("; ")})` : ""),
    );
    passed += c.passed;
    failed += c.failed;
    skipped += c.skipped;
  }
} catch (e) {
  console.log(`tests/run.mjs: ${e?.stack ?? e}`);
  failed++;
}
process.exitCode = failed === 0 ? 0 : 1;
