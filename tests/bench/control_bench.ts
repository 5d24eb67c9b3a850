// npm run bench:control — the control plane at scale, without a data plane: N simulated nodes
// (the real Agent: join over TLS with a token, session, heartbeats, deltas) in this process,
// against 1 or 3 real manager processes (control_manager.ts) on one etcd member, all on
// loopback. Each simulated node only records the endpoint records it is told.
//
// For each point (N nodes, a network of E endpoints spread over min(N, E) nodes, M managers):
//   converge_p50/p99_ms  one endpoint added (or removed) by a node → every node that has the
//                        network holds (or dropped) it; over CHANGES changes × those nodes
//   bytes_per_change     bytes the managers sent to nodes per change (all managers together)
//   cpu_ms_per_change    managers' CPU per change, the idle rate (heartbeats) subtracted
//   manager_rss_mb       the largest manager's resident memory; etcd_rss_mb etcd's
//   resync_s             all managers killed -9 and started again → every node reconnected and
//                        resynced (resumed from its revision)
// Points of one (N, M) share one swarm: each E is a new network beside the earlier ones.
//
//   --json FILE          the points as an array of objects (keys above plus nodes,
//                        endpoints_per_network, managers, interested_nodes)
//   --nodes 10,100,1000  --endpoints 10,100,1000  --managers 1,3  --changes 20

import { parseArgs } from "node:util";
import { Agent, type Credentials, join } from "../../cli/control/swarm/agent.ts";
import type { Delta } from "../../cli/control/swarm/types.ts";
import { Etcd, parseClusterStore } from "../../cli/control/swarm/etcd.ts";
import { waitFor } from "../../cli/lab/run.ts";

const { values: v } = parseArgs({
  options: {
    json: { type: "string" },
    nodes: { type: "string", default: "10,100,1000" },
    endpoints: { type: "string", default: "10,100,1000" },
    managers: { type: "string", default: "1,3" },
    changes: { type: "string", default: "20" },
  },
});
const list = (s: string) => s.split(",").map(Number);
const CHANGES = Number(v.changes);
const ROOT = new URL("../../", import.meta.url).pathname;
const DENO = `${ROOT}node_modules/.bin/deno`;
const JOIN_PARALLEL = 25;
const LOGS = Deno.makeTempDirSync({ prefix: "weft-bench-control-" });
console.error(`manager logs in ${LOGS}`);
const RPC_PARALLEL = 8;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const p = (l.addr as Deno.NetAddr).port;
  l.close();
  return p;
}

/** A request that survives a session lost under load: wait for the agent to reconnect, again. */
async function rpc<T>(a: Agent, op: string, args: Record<string, unknown>): Promise<T> {
  for (let i = 0;; i++) {
    try {
      return await a.rpc<T>(op, args);
    } catch (e) {
      // A request that timed out may have been done: the bench then has one endpoint more.
      const lost = /connection to the manager was lost|no manager is reachable|timed out/.test(String(e));
      if (!lost || i === 20) throw e;
      console.error(`  (retrying ${op}: ${e instanceof Error ? e.message : e})`);
      await waitFor("the agent back", () => a.connected, 60000, 50);
    }
  }
}

async function pool<T>(items: T[], n: number, f: (t: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await f(items[i], i);
    }
  }));
}

function rssOf(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

class Etcd1 {
  readonly dir = Deno.makeTempDirSync({ prefix: "weft-bench-etcd-" });
  readonly port = freePort();
  readonly url = `etcd://127.0.0.1:${this.port}`;
  proc!: Deno.ChildProcess;

  async start(): Promise<void> {
    const peer = freePort();
    this.proc = new Deno.Command("etcd", {
      args: [
        "--name",
        "b",
        "--data-dir",
        `${this.dir}/data`,
        "--listen-client-urls",
        `http://127.0.0.1:${this.port}`,
        "--advertise-client-urls",
        `http://127.0.0.1:${this.port}`,
        "--listen-peer-urls",
        `http://127.0.0.1:${peer}`,
        "--initial-advertise-peer-urls",
        `http://127.0.0.1:${peer}`,
        "--initial-cluster",
        `b=http://127.0.0.1:${peer}`,
        "--listen-metrics-urls",
        `http://127.0.0.1:${freePort()}`,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const c = new Etcd(parseClusterStore(this.url));
    await waitFor(
      "etcd up",
      async () => {
        try {
          await c.range("/x/");
          return true;
        } catch {
          return false;
        }
      },
      20000,
      100,
    );
    c.close();
  }

  async stop(): Promise<void> {
    try {
      this.proc.kill("SIGKILL");
    } catch { /* gone */ }
    await this.proc.status;
    Deno.removeSync(this.dir, { recursive: true });
  }
}

class ManagerProc {
  proc!: Deno.ChildProcess;
  private writer!: WritableStreamDefaultWriter<Uint8Array>;
  private lines!: ReadableStreamDefaultReader<string>;
  private buf = "";
  info!: { nodeId: string; worker: string; manager: string };

  constructor(readonly store: string, readonly host: string, readonly port: number, public nodeId?: string) {}

  private async line(): Promise<Record<string, any>> {
    for (;;) {
      const nl = this.buf.indexOf("\n");
      if (nl >= 0) {
        const l = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        return JSON.parse(l);
      }
      const { value, done } = await this.lines.read();
      if (done) throw new Error(`manager ${this.host} exited`);
      this.buf += value;
    }
  }

  async start(): Promise<void> {
    this.proc = new Deno.Command(DENO, {
      args: [
        "run",
        "-A",
        `${ROOT}tests/bench/control_manager.ts`,
        "--store",
        this.store,
        "--listen",
        `${this.host}:${this.port}`,
        ...(this.nodeId ? ["--node-id", this.nodeId] : ["--init"]),
      ],
      env: { DENO_NO_UPDATE_CHECK: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // The manager's log, for when a point goes wrong.
    const log = Deno.openSync(`${LOGS}/manager-${this.host}.log`, {
      append: true,
      create: true,
      write: true,
    });
    this.proc.stderr.pipeTo(log.writable).catch(() => {});
    this.writer = this.proc.stdin.getWriter();
    this.lines = this.proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
    this.buf = "";
    this.info = await this.line() as ManagerProc["info"];
    this.nodeId = this.info.nodeId;
  }

  async cmd(line: string): Promise<Record<string, any>> {
    await this.writer.write(new TextEncoder().encode(`${line}\n`));
    const r = await this.line();
    if (r.error) throw new Error(`manager ${this.host}: ${r.error}`);
    return r;
  }

  async stats(): Promise<{ bytes: number; cpuMs: number; rssMb: number }> {
    return await this.cmd("stats") as { bytes: number; cpuMs: number; rssMb: number };
  }

  async kill(): Promise<void> {
    try {
      this.proc.kill("SIGKILL");
    } catch { /* gone */ }
    await this.proc.status;
    await this.lines.cancel().catch(() => {});
  }
}

interface Sim {
  agent: Agent;
  /** Per endpoint id: when it arrived (added) or left (removed). */
  seen: Map<string, number>;
  gone: Map<string, number>;
  lastUpdate: number;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

async function statsAll(ms: ManagerProc[]) {
  const all = await Promise.all(ms.map((m) => m.stats()));
  return {
    bytes: all.reduce((a, s) => a + s.bytes, 0),
    cpuMs: all.reduce((a, s) => a + s.cpuMs, 0),
    rssMb: Math.max(...all.map((s) => s.rssMb)),
  };
}

async function runSwarm(nodes: number, managers: number, endpointsList: number[]) {
  const etcd = new Etcd1();
  await etcd.start();
  const ms: ManagerProc[] = [];
  const sims: Sim[] = [];
  const out: Record<string, number>[] = [];
  try {
    ms.push(new ManagerProc(etcd.url, "127.0.0.101", freePort()));
    await ms[0].start();
    for (let i = 1; i < managers; i++) {
      const host = `127.0.0.${101 + i}`, port = freePort();
      const j = await join(ms[0].info.manager, { host: ms[0].host, port: ms[0].port }, {
        hostname: `manager-${host}`,
        addr: host,
        listen: `${host}:${port}`,
      });
      const m = new ManagerProc(etcd.url, host, port, j.nodeId);
      await m.start();
      ms.push(m);
    }
    const t0 = performance.now();
    const creds: Credentials[] = new Array(nodes);
    await pool(Array.from({ length: nodes }, (_, i) => i), JOIN_PARALLEL, async (i) => {
      const m = ms[i % ms.length];
      creds[i] = await join(ms[0].info.worker, { host: m.host, port: m.port }, {
        hostname: `sim${i}`,
        addr: `127.1.${i >> 8}.${i & 255}`,
      }) as Credentials;
    });
    // Nodes come up a hundred at a time (as hosts boot), not all in the same millisecond.
    for (const [i, c] of creds.entries()) {
      if (i && i % 100 === 0) {
        await waitFor(
          "a hundred more nodes connected",
          () => sims.every((s) => s.agent.connected && s.agent.tables),
          120000,
          50,
        );
      }
      const sim: Sim = { agent: new Agent(c), seen: new Map(), gone: new Map(), lastUpdate: 0 };
      sim.agent.log = () => {};
      sim.agent.onUpdate = (d: Delta | null) => {
        const now = performance.now();
        sim.lastUpdate = now;
        for (const e of d?.endpoints ?? []) if (!sim.seen.has(e.id)) sim.seen.set(e.id, now);
        for (const id of d?.endpointsGone ?? []) sim.gone.set(id, now);
      };
      sim.agent.start();
      sims.push(sim);
    }
    const tc = performance.now();
    console.error(`  ${nodes} nodes joined in ${((tc - t0) / 1000).toFixed(1)} s`);
    await waitFor(
      "every node connected",
      () => sims.every((s) => s.agent.connected && s.agent.tables),
      120000,
      100,
    )
      .catch((e) => {
        throw new Error(`${e.message} (${sims.filter((s) => s.agent.connected).length} connected)`);
      });
    console.error(
      `  ${nodes} nodes joined and connected to ${managers} manager(s) in ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s`,
    );

    for (const E of endpointsList) {
      try {
        out.push(await measure(E));
      } catch (e) {
        console.error(
          `  ${nodes} nodes, ${E} endpoints: not measured: ${e instanceof Error ? e.message : e}`,
        );
      }
      if (v.json) {
        Deno.writeTextFileSync(`${v.json}.partial`, JSON.stringify([...results, ...out], null, 1) + "\n");
      }
    }
    // deno-lint-ignore no-inner-declarations -- one point, over this swarm's state
    async function measure(E: number): Promise<Record<string, number>> {
      const net = `bench-${E}`;
      // As `weft network create` on a manager would.
      const netId = (await ms[0].cmd(`create ${net}`)).id as string;
      const interested = Math.min(nodes, E);
      const t1 = performance.now();
      const ids: string[] = [];
      await pool(Array.from({ length: E }, (_, i) => i), RPC_PARALLEL, async (i) => {
        const r = await rpc<any>(sims[i % interested].agent, "endpoint.create", {
          network: net,
          container: `c${i}`,
        });
        ids.push(r.endpoint.id);
      });
      const owners = sims.slice(0, interested);
      await waitFor(
        `${interested} nodes hold ${E} endpoints`,
        () => owners.every((s) => ids.every((id) => s.agent.tables!.endpoints.get(id)?.network === netId)),
        600000,
        100,
      );
      console.error(
        `  network of ${E} endpoints on ${interested} nodes in ${
          ((performance.now() - t1) / 1000).toFixed(1)
        } s`,
      );

      // Idle CPU (heartbeats) for a baseline.
      const idle0 = await statsAll(ms);
      await new Promise((r) => setTimeout(r, 2000));
      const idle1 = await statsAll(ms);
      const idleRate = (idle1.cpuMs - idle0.cpuMs) / 2000;

      const conv: number[] = [];
      const s0 = await statsAll(ms);
      const tm0 = performance.now();
      for (let c = 0; c < CHANGES; c++) {
        const owner = owners[c % owners.length];
        const tAdd = performance.now();
        const r = await rpc<any>(owner.agent, "endpoint.create", { network: net, container: `x${c}` });
        const id = r.endpoint.id as string;
        await waitFor("add converged", () => owners.every((s) => s.seen.has(id)), 30000, 2);
        for (const s of owners) conv.push(s.seen.get(id)! - tAdd);
        const tDel = performance.now();
        await rpc(owner.agent, "endpoint.delete", { id });
        await waitFor("remove converged", () => owners.every((s) => s.gone.has(id)), 30000, 2);
        for (const s of owners) conv.push(s.gone.get(id)! - tDel);
      }
      const dur = performance.now() - tm0;
      const s1 = await statsAll(ms);
      const changes = CHANGES * 2;
      const point: Record<string, number> = {
        nodes,
        endpoints_per_network: E,
        managers,
        interested_nodes: interested,
        converge_p50_ms: +percentile(conv, 0.5).toFixed(1),
        converge_p99_ms: +percentile(conv, 0.99).toFixed(1),
        bytes_per_change: Math.round((s1.bytes - s0.bytes) / changes),
        cpu_ms_per_change: +Math.max(0, (s1.cpuMs - s0.cpuMs - idleRate * dur) / changes).toFixed(2),
        manager_rss_mb: +s1.rssMb.toFixed(1),
        etcd_rss_mb: +rssOf(etcd.proc.pid).toFixed(1),
        resync_s: 0, // set below, once every manager has restarted
      };
      console.error(`  ${JSON.stringify(point)}`);
      return point;
    }

    // Every manager killed -9 and started again: until every node has resynced.
    const tKill = performance.now();
    for (const m of ms) await m.kill();
    const marks = sims.map((s) => s.lastUpdate);
    for (const m of ms) await m.start();
    try {
      await waitFor(
        "every node resynced",
        () => sims.every((s, i) => s.agent.connected && s.lastUpdate > marks[i]),
        120000,
        50,
      );
    } catch (e) {
      // Not a figure: the points keep resync_s null and say why.
      const behind = sims.filter((s, i) => !(s.agent.connected && s.lastUpdate > marks[i])).length;
      console.error(`  resync not measured: ${e instanceof Error ? e.message : e} (${behind} nodes behind)`);
      for (const p of out) (p as Record<string, unknown>).resync_s = null;
      return out;
    }
    const resync = (performance.now() - tKill) / 1000;
    const snaps = sims.reduce((a, s) => a + s.agent.received.snapshots, 0);
    console.error(
      `  all ${managers} manager(s) restarted → ${nodes} nodes resynced in ${resync.toFixed(1)} s (${
        snaps - nodes
      } full snapshots after the first ones)`,
    );
    for (const p of out) p.resync_s = +resync.toFixed(2);
    return out;
  } finally {
    for (const s of sims) s.agent.stop();
    for (const m of ms) await m.kill().catch(() => {});
    await etcd.stop();
  }
}

const results: Record<string, number>[] = [];
for (const M of list(v.managers!)) {
  for (const N of list(v.nodes!)) {
    console.error(`${N} nodes, ${M} manager(s):`);
    results.push(...await runSwarm(N, M, list(v.endpoints!)));
  }
}
console.log(JSON.stringify(results, null, 1));
if (v.json) Deno.writeTextFileSync(v.json, JSON.stringify(results, null, 1) + "\n");
Deno.exit(0);
