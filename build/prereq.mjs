// The prerequisite check shared by `npm run demo`, `npm test` and `.ci/run`: plain Node, no
// dependencies, so it runs before `npm ci` and before Deno is used.
//
//   node build/prereq.mjs demo|test|bench|ci [--no-install]
//
// It knows which tools each part of weft needs and the Debian package of each (GROUPS). A missing
// tool is looked up in PATH, as the part would spawn it; a shared library in ld.so's cache, as
// Deno.dlopen would load it. When something is missing and this process is root on a Debian-like
// system with apt-get, it installs the missing packages non-interactively, one apt-get and one
// line per group. Otherwise — or with --no-install, or WEFT_PREREQ_NO_INSTALL=1 — it prints one
// line naming what is missing and the exact apt-get command, and exits 2 before anything starts.
// Optional tools (the demo's tshark) are installed the same way but, when they cannot be, cost
// only a one-line note: the part works without them.

import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import { pathToFileURL } from "node:url";

/** Exit status for "cannot start: a prerequisite is missing" (weft's bad-input status). */
export const EXIT_MISSING = 2;

/**
 * Every tool and library a part may need, by name. `bin`: an executable looked up in PATH; `lib`:
 * a shared library by its soname. `pkg`: the Debian package that provides it (bookworm names; `alt`
 * lists later names apt may know instead, e.g. trixie's 64-bit-time_t renames). Named once here so
 * that the groups below, which share most of them, cannot disagree on a package.
 */
const NEEDS = {
  ip: { bin: "ip", pkg: "iproute2" },
  nsenter: { bin: "nsenter", pkg: "util-linux" },
  ping: { bin: "ping", pkg: "iputils-ping" },
  sysctl: { bin: "sysctl", pkg: "procps" },
  ps: { bin: "ps", pkg: "procps" },
  tcpdump: { bin: "tcpdump", pkg: "tcpdump" },
  tshark: { bin: "tshark", pkg: "tshark" },
  iperf3: { bin: "iperf3", pkg: "iperf3" },
  ethtool: { bin: "ethtool", pkg: "ethtool" },
  tincd: { bin: "tincd", pkg: "tinc" },
  etcd: { bin: "etcd", pkg: "etcd-server" },
  etcdctl: { bin: "etcdctl", pkg: "etcd-client" },
  nft: { bin: "nft", pkg: "nftables" },
  chromium: { bin: "chromium", pkg: "chromium" },
  wireguardGo: { bin: "wireguard-go", pkg: "wireguard-go" },
  wg: { bin: "wg", pkg: "wireguard-tools" },
  dig: { bin: "dig", pkg: "dnsutils" },
  libcrypto: { lib: "libcrypto.so.3", pkg: "libssl3", alt: ["libssl3t64"] },
  libsodium: { lib: "libsodium.so.23", pkg: "libsodium23" },
  libgnutls: { lib: "libgnutls.so.30", pkg: "libgnutls30", alt: ["libgnutls30t64"] },
};

/**
 * What each part needs, in the order it is checked and reported: entries of NEEDS; `optional`: the
 * part degrades without it. Other branches rely on these entries: add a tool to NEEDS and here, not
 * a check of your own.
 */
export const GROUPS = {
  required: {
    why: "every part (network namespaces, links, TAP devices)",
    needs: [NEEDS.ip],
  },
  demo: {
    why: "the demo",
    // The demo captures and decodes with weft itself; tshark adds an independent decode.
    needs: [NEEDS.nsenter, NEEDS.ping, NEEDS.sysctl, { ...NEEDS.tshark, optional: true }],
  },
  tests: {
    why: "the tests",
    needs: [
      "nsenter", "ping", "sysctl", "ps", "tcpdump", "tshark", "iperf3", "ethtool", "tincd", "etcd", "etcdctl",
      "nft", "chromium", "wireguardGo", "wg", "dig", "libcrypto", "libsodium", "libgnutls",
    ].map((name) => NEEDS[name]),
  },
  benchmarks: {
    why: "the benchmarks",
    needs: [NEEDS.ping, NEEDS.sysctl, NEEDS.iperf3, NEEDS.ethtool, NEEDS.tincd, NEEDS.wireguardGo, NEEDS.wg],
  },
};

/** The groups each command line word checks, in order. */
export const PARTS = {
  demo: { what: "the demo", groups: ["required", "demo"] },
  test: { what: "the tests", groups: ["required", "tests"] },
  bench: { what: "the benchmarks", groups: ["required", "benchmarks"] },
  ci: { what: "CI", groups: ["required", "demo", "tests", "benchmarks"] },
};

const CAP_NET_ADMIN = 12; // include/uapi/linux/capability.h

/** Path of an executable named `bin` in PATH, or undefined. */
export function which(bin, path = process.env.PATH ?? "") {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, bin);
    try {
      if (statSync(file).isFile()) {
        accessSync(file, constants.X_OK);
        return file;
      }
    } catch { /* not here */ }
  }
  return undefined;
}

let ldCache;
/** Whether the dynamic loader finds `soname` (ld.so.cache, then LD_LIBRARY_PATH and the usual dirs). */
export function hasLibrary(soname) {
  if (ldCache === undefined) {
    const ldconfig = which("ldconfig") ?? ["/sbin/ldconfig", "/usr/sbin/ldconfig"].find((f) => existsSync(f));
    const r = ldconfig ? spawnSync(ldconfig, ["-p"], { encoding: "utf8" }) : undefined;
    ldCache = r?.status === 0 ? r.stdout : "";
  }
  if (ldCache.split("\n").some((l) => l.trim().startsWith(`${soname} `))) return true;
  const multiarch = { x64: "x86_64-linux-gnu", arm64: "aarch64-linux-gnu" }[process.arch] ?? "";
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? "").split(delimiter).filter(Boolean),
    `/usr/lib/${multiarch}`,
    `/lib/${multiarch}`,
    "/usr/lib64",
    "/usr/lib",
    "/lib",
    "/usr/local/lib",
  ];
  return dirs.some((d) => existsSync(join(d, soname)));
}

function present(need) {
  return need.bin ? which(need.bin) !== undefined : hasLibrary(need.lib);
}

function label(need) {
  return need.bin ?? need.lib;
}

/** The effective capability set of this process has CAP_NET_ADMIN. */
function hasNetAdmin() {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"));
    return m !== null && ((BigInt(`0x${m[1]}`) >> BigInt(CAP_NET_ADMIN)) & 1n) === 1n;
  } catch {
    return false;
  }
}

function aptCommand(pkgs, root) {
  return `${root ? "" : "sudo "}apt-get install -y --no-install-recommends ${pkgs.join(" ")}`;
}

function unique(list) {
  return [...new Set(list)];
}

/**
 * Missing needs of each group of a part: [{ group, missing: need[] }]. A tool listed by several
 * groups is reported once, in the first, and is optional only if every group says so (the demo
 * goes on without tshark, the tests do not).
 */
function survey(groups) {
  const needs = groups.flatMap((g) => GROUPS[g].needs);
  const required = new Set(needs.filter((n) => !n.optional).map(label));
  const seen = new Set();
  const out = [];
  for (const g of groups) {
    const missing = [];
    for (const n of GROUPS[g].needs) {
      const key = label(n);
      if (seen.has(key)) continue;
      seen.add(key);
      if (!present(n)) missing.push(n.optional && required.has(key) ? { ...n, optional: false } : n);
    }
    out.push({ group: g, missing });
  }
  return out;
}

/** The first of a need's package names apt knows (bookworm and trixie name some libraries apart). */
function aptName(need) {
  if (!need.alt) return need.pkg;
  for (const name of [need.pkg, ...(need.alt ?? [])]) {
    const r = spawnSync("apt-cache", ["show", "--no-all-versions", name], { stdio: "ignore" });
    if (r.status === 0) return name;
  }
  return need.pkg;
}

/**
 * Checks (and when allowed installs) what `part` needs. Returns the exit status: 0 when the part
 * can start, EXIT_MISSING when it cannot. Prints only notes, install lines and one error line.
 */
export function check(part, { install = true, log = console.log, error = console.error } = {}) {
  const { what, groups } = PARTS[part];
  const root = process.getuid?.() === 0;
  if (!root && !hasNetAdmin()) {
    error(
      `error: weft needs root or CAP_NET_ADMIN for ${what} (network namespaces, TAP devices): run as root or with sudo`,
    );
    return EXIT_MISSING;
  }
  if (!existsSync("/dev/net/tun")) {
    error("error: /dev/net/tun is missing (TAP devices): load the tun module with `modprobe tun` as root");
    return EXIT_MISSING;
  }
  let gaps = survey(groups);
  const canApt = root && install && existsSync("/etc/debian_version") && which("apt-get") !== undefined;
  if (canApt && gaps.some((g) => g.missing.length > 0)) {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const quiet = { env, encoding: "utf8" };
    const upd = spawnSync("apt-get", ["update", "-qq"], quiet);
    if (upd.status !== 0) log(`prereq: apt-get update failed (exit ${upd.status}); trying the install anyway`);
    // tshark asks whether non-root users may capture; preseed the answer (no).
    if (which("debconf-set-selections")) {
      spawnSync("debconf-set-selections", {
        input: "wireshark-common wireshark-common/install-setuid boolean false\n",
        ...quiet,
      });
    }
    const aptInstall = (pkgs) =>
      spawnSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...pkgs], quiet);
    for (const { group, missing } of gaps) {
      if (missing.length === 0) continue;
      const pkgs = unique(missing.map(aptName));
      // apt-get installs all or nothing: when the group fails, one package at a time, so one
      // package this release lacks does not keep the others out.
      const r = aptInstall(pkgs);
      const failed = r.status === 0
        ? []
        : pkgs.length === 1
        ? pkgs
        : pkgs.filter((p) => aptInstall([p]).status !== 0);
      const done = pkgs.filter((p) => !failed.includes(p));
      const last = `${r.stderr ?? ""}`.trim().split("\n").pop() ?? "";
      const why = GROUPS[group].why;
      log(
        `prereq: ${done.length ? `installed for ${why}: ${done.join(" ")}` : `nothing installed for ${why}`}` +
          (failed.length ? `; apt-get could not install ${failed.join(" ")}: ${last}` : ""),
      );
    }
    gaps = survey(groups);
  }
  const missing = gaps.flatMap((g) => g.missing);
  const required = missing.filter((n) => !n.optional);
  const optional = missing.filter((n) => n.optional);
  const cmd = (needs) => aptCommand(unique(needs.map((n) => n.pkg)), root);
  if (required.length > 0) {
    error(
      `error: ${what} cannot start: missing ${required.map((n) => `${label(n)} (${n.pkg})`).join(", ")}; ` +
        `install with: ${cmd(required)}`,
    );
    return EXIT_MISSING;
  }
  for (const n of optional) {
    log(`note: ${label(n)} not found; ${what} carries on without it (${cmd([n])} adds it)`);
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const part = args.find((a) => !a.startsWith("-"));
  const unknown = args.filter((a) => a.startsWith("-") && a !== "--no-install");
  if (part === undefined || !(part in PARTS) || unknown.length > 0) {
    console.error(
      `error: usage: node build/prereq.mjs ${Object.keys(PARTS).join("|")} [--no-install]` +
        (unknown.length ? ` (unknown option ${unknown[0]})` : part ? ` (unknown part "${part}")` : ""),
    );
    process.exit(EXIT_MISSING);
  }
  const forbid = process.env.WEFT_PREREQ_NO_INSTALL;
  const install = !args.includes("--no-install") && (forbid === undefined || forbid === "" || forbid === "0");
  process.exit(check(part, { install }));
}
