// build/prereq.mjs, the check `npm run demo`, `npm test` and `.ci/run` start with: a missing tool
// is named with its Debian package and the exact apt-get command, exit 2, before anything starts;
// as root with apt it installs instead, one line per group. Tools are hidden with a PATH that
// lacks them; apt-get is a stub that records its calls, so no test here installs anything.

import assert from "node:assert/strict";
import { type HiddenPath, pathWithout } from "../hidden_tools.ts";
import { ROOT, run } from "../../cli/lab/mod.ts";

const ROOT_USER = Deno.uid() === 0;
const which = (bin: string) =>
  (Deno.env.get("PATH") ?? "").split(":").map((d) => `${d}/${bin}`).find((f) => {
    try {
      return Deno.statSync(f).isFile;
    } catch {
      return false;
    }
  });
const NODE = which("node")!;
const PREREQ = `${ROOT}build/prereq.mjs`;

/** Runs the check with PATH = `path` (and nothing else from this environment but what is given). */
async function prereq(path: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(NODE, {
    args: [PREREQ, ...args],
    env: { PATH: path, ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** An apt-get and debconf-set-selections that only write their arguments to `log`. */
/** A PATH without `hidden` and the file an apt-get stub logs to, both removed after `fn`. */
async function withAptLog(
  hidden: string[],
  fn: (p: HiddenPath, log: string) => Promise<void>,
): Promise<void> {
  const p = pathWithout(hidden);
  const log = `${p.dir}.apt.log`;
  try {
    await fn(p, log);
  } finally {
    p.close();
    try {
      Deno.removeSync(log);
    } catch { /* never written */ }
  }
}

function recordingApt(p: HiddenPath, log: string, onInstall = "") {
  p.stub(
    "apt-get",
    `echo "apt-get DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*" >> ${log}\n[ "$1" = install ] && { ${
      onInstall || ":"
    }; }\nexit 0`,
  );
  p.stub("debconf-set-selections", `echo "debconf $(cat)" >> ${log}`);
}

const readLog = (log: string) => {
  try {
    return Deno.readTextFileSync(log).trim().split("\n");
  } catch {
    return [];
  }
};

Deno.test({
  name:
    "prereq: tests without tcpdump and tshark print one line with the apt-get command, exit 2, install nothing",
  ignore: !ROOT_USER,
  async fn() {
    await withAptLog(["tcpdump", "tshark"], async (p, log) => {
      recordingApt(p, log);
      const expected = "error: the tests cannot start: missing tcpdump (tcpdump), tshark (tshark); " +
        "install with: apt-get install -y --no-install-recommends tcpdump tshark";
      for (
        const [how, args, env] of [
          ["--no-install", ["test", "--no-install"], {}],
          ["WEFT_PREREQ_NO_INSTALL=1", ["test"], { WEFT_PREREQ_NO_INSTALL: "1" }],
        ] as const
      ) {
        const r = await prereq(p.dir, [...args], env);
        assert.equal(r.code, 2, `${how}: exit 2, got ${r.code}: ${r.stderr}`);
        assert.deepEqual(r.stderr.trim().split("\n"), [expected], how);
        assert.equal(r.stdout, "", `${how}: nothing else printed`);
        assert.deepEqual(readLog(log), [], `${how}: apt-get never called`);
      }
    });
  },
});

Deno.test({
  name:
    "prereq: as root with apt, a missing tool's package is installed non-interactively, one line per group",
  ignore: !ROOT_USER || !which("apt-get") || !which("tshark"),
  async fn() {
    const tshark = which("tshark")!;
    await withAptLog(["tshark"], async (p, log) => {
      // The stub "installs" tshark by putting it back into the PATH the check searches.
      recordingApt(p, log, `ln -s ${tshark} ${p.dir}/tshark`);
      const r = await prereq(p.dir, ["test"]);
      assert.equal(r.code, 0, `exit 0 once installed, got ${r.code}: ${r.stderr}`);
      assert.deepEqual(r.stdout.trim().split("\n"), ["prereq: installed for the tests: tshark"]);
      assert.equal(r.stderr, "");
      assert.deepEqual(readLog(log), [
        "apt-get DEBIAN_FRONTEND=noninteractive update -qq",
        "debconf wireshark-common wireshark-common/install-setuid boolean false",
        "apt-get DEBIAN_FRONTEND=noninteractive install -y -qq --no-install-recommends tshark",
      ]);
    });
  },
});

Deno.test({
  name: "prereq: a package apt cannot install keeps the others in: one at a time, then exit 2 naming it",
  ignore: !ROOT_USER || !which("apt-get") || !which("tshark"),
  async fn() {
    const tshark = which("tshark")!;
    await withAptLog(["tcpdump", "tshark"], async (p, log) => {
      recordingApt(
        p,
        log,
        `case "$*" in *tcpdump*) echo "E: Unable to locate package tcpdump" >&2; exit 100;; esac; ` +
          `ln -s ${tshark} ${p.dir}/tshark`,
      );
      const r = await prereq(p.dir, ["test"]);
      assert.equal(r.code, 2, r.stdout);
      assert.deepEqual(r.stdout.trim().split("\n"), [
        "prereq: installed for the tests: tshark; apt-get could not install tcpdump: " +
        "E: Unable to locate package tcpdump",
      ]);
      assert.deepEqual(r.stderr.trim().split("\n"), [
        "error: the tests cannot start: missing tcpdump (tcpdump); " +
        "install with: apt-get install -y --no-install-recommends tcpdump",
      ]);
      assert.deepEqual(readLog(log).filter((l) => l.includes(" install ")), [
        "apt-get DEBIAN_FRONTEND=noninteractive install -y -qq --no-install-recommends tcpdump tshark",
        "apt-get DEBIAN_FRONTEND=noninteractive install -y -qq --no-install-recommends tcpdump",
        "apt-get DEBIAN_FRONTEND=noninteractive install -y -qq --no-install-recommends tshark",
      ]);
    });
  },
});

Deno.test({
  name: "prereq: the demo goes on without tshark with a note, and refuses without ip naming iproute2",
  ignore: !ROOT_USER,
  async fn() {
    const noTshark = pathWithout(["tshark"]);
    const noIp = pathWithout(["ip"]);
    try {
      const a = await prereq(noTshark.dir, ["demo", "--no-install"]);
      assert.equal(a.code, 0, a.stderr);
      assert.deepEqual(a.stdout.trim().split("\n"), [
        "note: tshark not found; the demo carries on without it " +
        "(apt-get install -y --no-install-recommends tshark adds it)",
      ]);
      const b = await prereq(noIp.dir, ["demo", "--no-install"]);
      assert.equal(b.code, 2, b.stdout);
      assert.deepEqual(b.stderr.trim().split("\n"), [
        "error: the demo cannot start: missing ip (iproute2); " +
        "install with: apt-get install -y --no-install-recommends iproute2",
      ]);
    } finally {
      noTshark.close();
      noIp.close();
    }
  },
});

Deno.test({
  name: "prereq: CI needs tshark although the demo alone would go on without it",
  ignore: !ROOT_USER,
  async fn() {
    const p = pathWithout(["tshark"]);
    try {
      const r = await prereq(p.dir, ["ci", "--no-install"]);
      assert.equal(r.code, 2, r.stdout);
      assert.equal(r.stdout, "");
      assert.deepEqual(r.stderr.trim().split("\n"), [
        "error: CI cannot start: missing tshark (tshark); " +
        "install with: apt-get install -y --no-install-recommends tshark",
      ]);
    } finally {
      p.close();
    }
  },
});

Deno.test({
  name: "prereq: without root or CAP_NET_ADMIN it refuses in one line with exit 2",
  ignore: !ROOT_USER || !which("setpriv"),
  async fn() {
    // setpriv drops to nobody with no capabilities: a user's shell, not root's.
    const r = await run([
      "setpriv",
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      NODE,
      PREREQ,
      "demo",
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.deepEqual(r.stderr.trim().split("\n"), [
      "error: weft needs root or CAP_NET_ADMIN for the demo (network namespaces, TAP devices): " +
      "run as root or with sudo",
    ]);
  },
});

Deno.test("prereq: an unknown part or option is a usage error, exit 2", async () => {
  for (const args of [[], ["nonsense"], ["test", "--bogus"]]) {
    const r = await prereq(Deno.env.get("PATH") ?? "", args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(
      r.stderr.trim(),
      /^error: usage: node build\/prereq\.mjs demo\|test\|bench\|ci \[--no-install\]/,
    );
  }
});
