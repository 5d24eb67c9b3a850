// npm run bench:swarm — the control plane's timings on 2 hosts in namespaces (root), each from
// one command and measured without another CLI start in the way: the daemons' state is polled
// through their API socket (what `weft node ls` / `weft fdb` ask, minus the Deno start of a CLI).
//
//   join → Ready       from starting `weft swarm join` on node2 to the manager listing it Ready
//   weft run           one `weft run -d` of one container, end to end (the CLI's own start included)
//   run → peer FDB     from starting node2's `weft run` to its endpoint in node1's FDB
//   run → ping         from node2's `weft run` returning to the first ping c1 → c2 answered
//   kill → FDB         from SIGKILL of node2's daemon to its endpoint leaving node1's FDB
//                      (heartbeat timeout 5 s)
//
// Each round is a fresh lab; the figures are min, median and max over the rounds.
//
//   --rounds N     rounds (default 3)
//   --json FILE    also write the figures, with the run's context and load average, as JSON

import { parseArgs } from "node:util";
import { api } from "../../cli/control/daemon/client.ts";
import { type Host, Lab, sh, waitFor } from "../../cli/lab/mod.ts";
import { loadavg, runContext, writeReport } from "./report.ts";

const C2_MAC = "02:42:0a:00:00:03"; // the second container on the network: 10.0.0.3


/** Polls `f` every 10 ms until it holds; ms from `t0` to then. Throws after `timeoutMs`. */
async function until(
  what: string,
  t0: number,
  f: () => Promise<boolean>,
  timeoutMs = 20000,
): Promise<number> {
  await waitFor(what, f, timeoutMs, 10);
  return performance.now() - t0;
}

const host = (h: Host) => `unix://${h.sock}`;
const inFdb = async (h: Host, mac: string) =>
  (await api<{ entries: { mac: string }[] }>(host(h), "GET", "/fdb")).entries.some((e) => e.mac === mac);

type Figure = "joinToReadyMs" | "runMs" | "runToPeerFdbMs" | "runToPingMs" | "killToFdbMs";

async function round(): Promise<Record<Figure, number>> {
  const lab = new Lab();
  try {
    await lab.setup(2);
    const [h1, h2] = lab.hosts;
    await Promise.all(lab.hosts.map((h) => lab.startDaemon(h)));
    const init = await lab.weft(h1, ["swarm", "init", "--advertise-addr", h1.addr]);
    const token = /--token (\S+) /.exec(init.stdout)![1];

    const tJoin = performance.now();
    await lab.weft(h2, ["swarm", "join", "--token", token, `${h1.addr}:2377`, "--advertise-addr", h2.addr]);
    const joinToReadyMs = await until(
      "node2 Ready",
      tJoin,
      async () =>
        (await api<{ hostname: string; status: string }[]>(host(h1), "GET", "/nodes"))
          .some((n) => n.hostname === "node2" && n.status === "Ready"),
    );

    await lab.weft(h1, ["network", "create", "-d", "overlay", "uber-net"]);
    const c1 = lab.c("c1"), c2 = lab.c("c2");
    const tRun = performance.now();
    await lab.weft(h1, ["run", "-d", "--name", c1, "--network", "uber-net"]);
    const runMs = performance.now() - tRun;

    const tPeer = performance.now();
    const run2 = lab.weft(h2, ["run", "-d", "--name", c2, "--network", "uber-net"]);
    const runToPeerFdbMs = await until("c2 in node1's FDB", tPeer, () => inFdb(h1, C2_MAC));
    await run2;
    const tPing = performance.now();
    const runToPingMs = await until(
      "ping c1 → c2",
      tPing,
      async () =>
        (await sh(["ip", "netns", "exec", c1, "ping", "-c", "1", "-W", "1", "10.0.0.3"], { check: false }))
          .code === 0,
    );

    const tKill = performance.now();
    await lab.stopDaemon(h2, "SIGKILL");
    const killToFdbMs = await until(
      "c2 gone from node1's FDB",
      tKill,
      async () => !(await inFdb(h1, C2_MAC)),
    );
    return { joinToReadyMs, runMs, runToPeerFdbMs, runToPingMs, killToFdbMs };
  } finally {
    await lab.close();
  }
}

const { values } = parseArgs({
  args: Deno.args,
  options: { rounds: { type: "string", default: "3" }, json: { type: "string" } },
});
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) {
  console.error(`error: --rounds "${values.rounds}" is not a number of rounds in 1..20`);
  Deno.exit(2);
}
const context = runContext();
console.log(
  `weft cluster bench: ${rounds} round(s) on 2 hosts; load average at start: ${context.loadavgStart}`,
);
const results: Record<Figure, number>[] = [];
for (let r = 0; r < rounds; r++) {
  const f = await round();
  results.push(f);
  console.log(
    `  round ${r + 1}: ` + Object.entries(f).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(", "),
  );
}
const summary = Object.fromEntries((Object.keys(results[0]) as Figure[]).map((k) => {
  const s = results.map((r) => r[k]).sort((a, b) => a - b);
  return [k, { min: s[0], median: s[s.length >> 1], max: s[s.length - 1] }];
}));
for (const [k, v] of Object.entries(summary)) {
  console.log(
    `${k.padEnd(16)} min ${v.min.toFixed(0)} ms, median ${v.median.toFixed(0)} ms, max ${
      v.max.toFixed(0)
    } ms`,
  );
}
console.log(`load average at end: ${loadavg()}`);
if (values.json) writeReport(values.json, context, { bench: "cluster", rounds: results, summary });
