// SIGTERM (and SIGINT): the vtep removes its TAP, closes its socket, leaves its control socket
// path free, and exits 0.

import assert from "node:assert/strict";
import { assertNoLink, loneHost, udpSockets } from "../../cli/lab/mod.ts";
import { labTest } from "../harness.ts";

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  labTest(`${signal}: no TAP, socket or process remains, exit code 0`, {}, async (lab) => {
    const h1 = await loneHost(lab, "h1", "198.18.0.1"), c1 = await lab.netns("c1");
    const t1 = `${lab.prefix}t1`, t2 = `${lab.prefix}t2`;
    const v = await lab.vtep(h1, [
      "--vni",
      "42",
      "--listen",
      "198.18.0.1",
      "--peer",
      "198.18.0.2",
      "--tap",
      t1,
      "--netns",
      c1,
      "--address",
      "10.0.0.1/24",
      "--tap",
      t2,
    ]);
    assert.equal((await lab.exec(c1, ["ip", "link", "show", t1])).code, 0, "TAP in c1 while running");
    assert.match(await udpSockets(h1), /198\.18\.0\.1:4789/);

    v.process.signal(signal);
    const timer = setTimeout(() => v.process.signal("SIGKILL"), 5000);
    const status = await v.process.status;
    clearTimeout(timer);
    assert.equal(status.code, 0, `exit code after ${signal}: ${await v.process.stderr}`);
    await assertNoLink(c1, t1, "TAP removed from c1");
    await assertNoLink(h1, t2, "TAP removed from h1");
    assert.doesNotMatch(await udpSockets(h1), /:4789/, "UDP socket closed");
    assert.throws(() => Deno.statSync(v.control), Deno.errors.NotFound, "control socket removed");
    // ps exits 1 when no process has that PID (0 with a header-less empty list would be odd).
    const ps = await lab.exec(h1, ["ps", "-o", "pid=", "-p", String(v.process.pid)]);
    assert.equal(ps.code, 1, `ps found the process or failed: ${ps.stdout}${ps.stderr}`);
    assert.equal(ps.stdout.trim(), "", "process gone");
  });
}
