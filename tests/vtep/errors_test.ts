// Bad input and a hostile environment: one line "error: …", exit code 2, nothing left behind
// (no TAP, no bound socket).

import assert from "node:assert/strict";
import { assertNoLink, DENO, loneHost, type Output, udpSockets } from "../../cli/lab/mod.ts";
import { labTest } from "../harness.ts";

const VTEP = [DENO, "run", "-A", "--unstable-net", "cli/main.ts", "vtep"];

function assertUsageError(r: Output, pattern: RegExp) {
  const lines = r.stderr.trim().split("\n");
  assert.equal(r.code, 2, `exit code 2, got ${r.code}: ${r.stderr}`);
  assert.equal(lines.length, 1, `one line on stderr: ${r.stderr}`);
  assert.match(lines[0], /^error: /);
  assert.match(lines[0], pattern);
}

labTest(
  "weft vtep refuses bad input and environments with one line and exit 2, leaving nothing",
  {},
  async (lab) => {
    const h1 = await loneHost(lab, "h1", "198.18.0.1");
    const c1 = await lab.netns("c1");
    const tap = `${lab.prefix}t`;
    const base = ["--vni", "42", "--tap", tap, "--listen", "198.18.0.1"];
    const vtep = (args: string[], prefix: string[] = []) => lab.exec(h1, [...prefix, ...VTEP, ...args]);
    const nothingLeft = async (what: string) => {
      await assertNoLink(h1, tap, `${what}: no TAP left in h1`);
      await assertNoLink(c1, tap, `${what}: no TAP left in c1`);
      assert.doesNotMatch(await udpSockets(h1), /:4789\b/, `${what}: no socket left`);
    };

    const cases: [string, string[], RegExp][] = [
      // A VTEP never lists itself: the copy it sent itself would move local MACs to "remote self".
      [
        "itself as a peer",
        [...base, "--peer", "198.18.0.1:4789"],
        /--peer 198\.18\.0\.1:4789 is this VTEP's own --listen address/,
      ],
      ["bad --df", [...base, "--df", "sometimes"], /invalid --df "sometimes"/],
      ["VNI 2^24", ["--vni", "16777216", "--tap", tap, "--listen", "198.18.0.1"], /--vni "16777216"/],
      ["VNI not a number", ["--vni", "forty", "--tap", tap, "--listen", "198.18.0.1"], /--vni "forty"/],
      [
        "malformed --listen",
        ["--vni", "42", "--tap", tap, "--listen", "198.18.0.999"],
        /--listen "198\.18\.0\.999"/,
      ],
      ["malformed --peer", [...base, "--peer", "not-an-ip"], /--peer "not-an-ip"/],
      [
        "malformed --address",
        [...base, "--netns", c1, "--address", "10.0.0.300/24"],
        /--address "10\.0\.0\.300\/24"/,
      ],
      ["unknown namespace", [...base, "--netns", `${lab.prefix}nope`], /unknown network namespace/],
      ["unknown option", [...base, "--frobnicate"], /frobnicate/],
      [
        "listen address not local",
        ["--vni", "42", "--tap", tap, "--listen", "198.18.0.77"],
        /not configured/,
      ],
      ["bad TAP name", ["--vni", "42", "--tap", "a/b", "--listen", "198.18.0.1"], /--tap "a\/b"/],
    ];
    for (const [what, args, pattern] of cases) {
      assertUsageError(await vtep(args), pattern);
      await nothingLeft(what);
    }

    // Without CAP_NET_ADMIN (root, but the capability dropped from the bounding set).
    const capless = await lab.exec(h1, [
      "capsh",
      "--drop=cap_net_admin",
      "--",
      "-c",
      `exec ${[...VTEP, ...base].join(" ")}`,
    ]);
    assertUsageError(capless, /permission denied|not permitted/);
    assert.match(capless.stderr, /CAP_NET_ADMIN/);
    await nothingLeft("no CAP_NET_ADMIN");

    // /dev/net/tun missing (hidden by a tmpfs in a private mount namespace).
    const noTun = await lab.exec(h1, [
      "unshare",
      "-m",
      "sh",
      "-c",
      `mount -t tmpfs tmpfs /dev/net && exec ${[...VTEP, ...base].join(" ")}`,
    ]);
    assertUsageError(noTun, /cannot open \/dev\/net\/tun: no such file/);
    await nothingLeft("no /dev/net/tun");

    // TAP name taken by a running vtep (EBUSY), and the UDP port taken (EADDRINUSE).
    const first = await lab.vtep(h1, ["--vni", "42", "--tap", tap, "--listen", "198.18.0.1"]);
    const busy = await vtep(["--vni", "42", "--tap", tap, "--listen", "198.18.0.1:4790"]);
    assertUsageError(busy, /TAP .* busy/);
    const sockets = await udpSockets(h1);
    assert.match(sockets, /198\.18\.0\.1:4789\b/, "the listing shows the first vtep's socket");
    assert.doesNotMatch(sockets, /:4790\b/, "the refused vtep closed its socket");
    const inUse = await vtep(["--vni", "42", "--tap", `${lab.prefix}u`, "--listen", "198.18.0.1"]);
    assertUsageError(inUse, /198\.18\.0\.1:4789: address already in use/);
    await assertNoLink(h1, `${lab.prefix}u`, "no TAP left");
    assert.equal((await first.stats()).vnis[0].vni, 42, "the first vtep still runs");
    assert.equal((await first.process.stop()).code, 0);
  },
);
