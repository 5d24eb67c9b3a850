// npm run bench:dns — the embedded DNS server, measured from inside a container (root):
//  - answer time of 127.0.0.11 for a container on another host (answered by the daemon) and for a
//    name it forwards (to a resolver inside the lab, in its own namespace: nothing leaves the
//    machine); median and p99 of one run of sequential queries (tests/dns/probe.ts, timed in the
//    container with performance.now());
//  - time from `weft run` on node2 to the new container's name resolving in a container on node1,
//    with a client polling every 5 ms: from the start of the `weft run` command, and from its
//    return (negative when the name resolved before the command returned: the manager pushes the
//    endpoint to node1 while node2's daemon is still answering its CLI);
//  - the same for `weft rm -f` → the name no longer resolving on node1.
// Two weft hosts and the resolver are namespaces on one underlay bridge (cli/lab/lab.ts).
//
//   --queries N   per answer-time figure (default 2000)
//   --rounds N    containers started for the run → resolve figure (default 5)
//   --json PATH   also write the figures as JSON

import { parseArgs } from "node:util";
import { DENO, Lab, LAB_ENV, ROOT } from "../../cli/lab/mod.ts";
import { dnsLab } from "../dns/upstream.ts";

const PROBE = `${ROOT}tests/dns/probe.ts`;
const loadavg = () => Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    queries: { type: "string", default: "2000" },
    rounds: { type: "string", default: "5" },
    json: { type: "string" },
  },
});
if (Deno.uid() !== 0) {
  console.error("bench:dns needs root (network namespaces)");
  Deno.exit(2);
}
const queries = Number(values.queries), rounds = Number(values.rounds);

const lab = new Lab();
const abort = setTimeout(() => {
  console.error("bench:dns: timed out after 300 s; cleaning up");
  lab.close().finally(() => Deno.exit(1));
}, 300_000);
try {
  const loadStart = loadavg();
  const { hosts: [h1, h2] } = await dnsLab(lab);
  await lab.weft(h1, ["network", "create", "-d", "overlay", "bench"]);
  const c1 = lab.c("c1"), c2 = lab.c("c2");
  await lab.weft(h1, ["run", "-d", "--name", c1, "--network", "bench"]);
  await lab.weft(h2, ["run", "-d", "--name", c2, "--network", "bench"]);

  const probe = async (args: string[]) => {
    const r = await lab.weft(h1, ["exec", c1, "--", DENO, "run", "-A", "--unstable-net", PROBE, ...args]);
    return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  };
  // Warm-up: the name has arrived, V8 has compiled the paths.
  await probe(["until", c2, "20000"]);
  await probe(["time", c2, "200"]);
  await probe(["time", "outside.test", "50"]);
  const local = await probe(["time", c2, String(queries)]);
  const fwd = await probe(["time", "outside.test", String(Math.max(50, queries / 4))]);
  const figure = (t: { ms: number[]; lost: number }) => ({
    median: +quantile(t.ms, 0.5).toFixed(3),
    p99: +quantile(t.ms, 0.99).toFixed(3),
    n: t.ms.length,
    lost: t.lost,
  });

  /**
   * Starts a probe in c1 (`until`/`gone` NAME), runs `cmd` on node2 once the probe polls, and
   * returns when the name changed: [ms from the command's start, ms from its return].
   */
  const race = async (mode: "until" | "gone", name: string, cmd: string[]): Promise<[number, number]> => {
    const child = new Deno.Command(DENO, {
      args: [
        "run",
        "-A",
        "--unstable-net",
        `${ROOT}cli/main.ts`,
        "exec",
        "-H",
        `unix://${h1.sock}`,
        c1,
        "--",
        DENO,
        "run",
        "-A",
        "--unstable-net",
        PROBE,
        mode,
        name,
        "20000",
      ],
      cwd: ROOT,
      env: LAB_ENV,
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    const nextLine = async () => {
      for (;;) {
        const nl = buf.indexOf("\n");
        if (nl >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          return line;
        }
        const { value, done } = await lines.read();
        if (done) throw new Error("the probe exited early");
        buf += value;
      }
    };
    if ((await nextLine()) !== "polling") throw new Error("probe did not start");
    const t0 = Date.now();
    await lab.weft(h2, cmd);
    const t1 = Date.now();
    const r = JSON.parse(await nextLine());
    await child.status;
    const at = r.resolvedAt ?? r.goneAt;
    if (!at) throw new Error(`${name}: no change seen in c1 (${mode})`);
    // Negative: the change was seen on node1 before the command had returned on node2.
    return [at - t0, at - t1];
  };

  const fromStart: number[] = [], fromReturn: number[] = [];
  const rmStart: number[] = [], rmReturn: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const name = lab.c(`r${i}`);
    const [s0, s1] = await race("until", name, ["run", "-d", "--name", name, "--network", "bench"]);
    fromStart.push(s0);
    fromReturn.push(s1);
    const [r0, r1] = await race("gone", name, ["rm", "-f", name]);
    rmStart.push(r0);
    rmReturn.push(r1);
  }
  const spread = (xs: number[]) => ({
    median: quantile(xs, 0.5),
    min: Math.min(...xs),
    max: Math.max(...xs),
    all: xs,
  });
  const report = {
    date: new Date().toISOString(),
    loadavg: { start: loadStart, end: loadavg() },
    answer_ms: { container_name: figure(local), forwarded: figure(fwd) },
    run_to_resolve_ms: { from_run_start: spread(fromStart), from_run_return: spread(fromReturn) },
    rm_to_gone_ms: { from_rm_start: spread(rmStart), from_rm_return: spread(rmReturn) },
  };
  const a = report.answer_ms, rr = report.run_to_resolve_ms;
  console.log(`load average ${report.loadavg.start} → ${report.loadavg.end}`);
  console.log(
    `answer time in a container, container on another host: median ${a.container_name.median} ms, p99 ${a.container_name.p99} ms (${a.container_name.n} queries, ${a.container_name.lost} lost)`,
  );
  console.log(
    `answer time in a container, forwarded to the lab resolver: median ${a.forwarded.median} ms, p99 ${a.forwarded.p99} ms (${a.forwarded.n} queries, ${a.forwarded.lost} lost)`,
  );
  const rg = report.rm_to_gone_ms;
  const line = (what: string, a: ReturnType<typeof spread>, b: ReturnType<typeof spread>) =>
    console.log(
      `${what}: from the command's start median ${a.median} ms (${a.min}–${a.max}); relative to its return median ${b.median} ms (${b.min}–${b.max}), ${rounds} rounds`,
    );
  line("weft run on node2 → name resolves on node1", rr.from_run_start, rr.from_run_return);
  line("weft rm -f on node2 → name gone on node1", rg.from_rm_start, rg.from_rm_return);
  if (values.json) {
    await Deno.writeTextFile(values.json, JSON.stringify(report, null, 2) + "\n");
    console.log(`JSON written to ${values.json}`);
  }
} finally {
  clearTimeout(abort);
  await lab.close();
}
