// The frame loop's libc calls stay on Deno's fast call. A 64-bit parameter (a pointer, a size)
// given a number instead of a bigint falls to the slow call and throws the caller out of optimized
// code ("not a BigInt"), again at each re-optimization: what cli/sys/libc.ts's convention avoids.
// Two weft VTEPs run with V8's tier tracing on; a ping flood and a TCP transfer make the loop hot.

import assert from "node:assert/strict";
import { tcpTransfer, twoWeftHosts } from "../../cli/lab/mod.ts";
import { labTest } from "../harness.ts";

labTest(
  "weft vtep: the frame loop is optimized and never deoptimized for a libc argument",
  {},
  async (lab) => {
    // Tier up after 200 calls, not 3000: a short run then reaches TurboFan, where fast calls live.
    const flags = "--trace-opt,--trace-deopt,--invocation-count-for-turbofan=200";
    lab.env = { ...lab.env, DENO_V8_FLAGS: flags };
    const { c1, c2, v1, v2 } = await twoWeftHosts(lab);
    const flood = await lab.exec(c1, ["ping", "-f", "-c", "5000", "-w", "20", "10.0.0.2"], {
      timeoutMs: 30000,
    });
    assert.equal(flood.code, 0, `ping flood failed:\n${flood.stdout}${flood.stderr}`);
    await tcpTransfer(lab, c2, c1, "10.0.0.1", { bytes: "50M" });
    for (const v of [v1, v2]) v.process.signal("SIGTERM");
    for (const [name, v] of [["h1", v1], ["h2", v2]] as const) {
      assert.equal((await v.process.status).code, 0, `${name}'s vtep exits 0`);
      const trace = await v.process.stdout;
      // The trace is on and the loop got hot: its burst function reached TurboFan.
      assert.match(
        trace,
        /completed compiling .*JSFunction burst .*TURBOFAN/,
        `${name}: burst() optimized`,
      );
      const bigint = trace.split("\n").filter((l) => /not a BigInt/.test(l));
      assert.deepEqual(bigint.map((l) => l.slice(0, 200)), [], `${name}: deoptimized for a libc argument`);
    }
  },
);
