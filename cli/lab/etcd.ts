// etcd members for a Lab (tests/swarm/ha_test.ts, `weft demo ha`): one Debian `etcd` (3.4)
// per host namespace, listening only on that host's lab address (client 2379, peer 2380), data
// under the lab's temporary dir. Members are killed with the lab (close() kills every process
// it started); killMember()/startMember() let a test take one away and bring it back.

import type { Host, Lab } from "./lab.ts";
import { LAB_ENV, sh, waitFor } from "./run.ts";

export interface Member {
  host: Host;
  name: string;
  dataDir: string;
  log: string;
  proc?: Deno.ChildProcess;
}

export class EtcdLab {
  readonly members: Member[];

  constructor(readonly lab: Lab, hosts: Host[]) {
    this.members = hosts.map((h, i) => ({
      host: h,
      name: `e${i + 1}`,
      dataDir: `${lab.dir}/etcd-${i + 1}`,
      log: `${lab.dir}/etcd-${i + 1}.log`,
    }));
  }

  /** `etcd://A:2379,B:2379,…` for --cluster-store. */
  get url(): string {
    return `etcd://${this.members.map((m) => `${m.host.addr}:2379`).join(",")}`;
  }

  async start(): Promise<void> {
    for (const m of this.members) this.startMember(m, "new");
    await this.healthy();
  }

  startMember(m: Member, state: "new" | "existing" = "existing"): void {
    const a = m.host.addr;
    const cluster = this.members.map((x) => `${x.name}=http://${x.host.addr}:2380`).join(",");
    const args = [
      "--name",
      m.name,
      "--data-dir",
      m.dataDir,
      "--listen-client-urls",
      `http://${a}:2379`,
      "--advertise-client-urls",
      `http://${a}:2379`,
      "--listen-peer-urls",
      `http://${a}:2380`,
      "--initial-advertise-peer-urls",
      `http://${a}:2380`,
      "--initial-cluster",
      cluster,
      "--initial-cluster-state",
      state,
      "--initial-cluster-token",
      this.lab.prefix,
      "--listen-metrics-urls",
      `http://${a}:2381`,
    ];
    // bash execs etcd (same pid) with its log appended to a file.
    m.proc = new Deno.Command("nsenter", {
      env: LAB_ENV,
      args: [
        `--net=/run/netns/${m.host.ns}`,
        "--",
        "bash",
        "-c",
        `exec etcd "$@" >>'${m.log}' 2>&1`,
        "etcd",
        ...args,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  }

  /** kill -9 one member (its data stays: startMember() brings it back). */
  async killMember(m: Member): Promise<void> {
    try {
      m.proc?.kill("SIGKILL");
    } catch { /* gone */ }
    await m.proc?.status;
    m.proc = undefined;
  }

  /** Every running member is healthy (etcdctl from its own namespace: the lab is not routed). */
  async healthy(timeoutMs = 30000): Promise<void> {
    await waitFor(
      "etcd cluster healthy",
      async () => {
        for (const m of this.members.filter((x) => x.proc)) {
          const r = await sh([
            "ip",
            "netns",
            "exec",
            m.host.ns,
            "etcdctl",
            "--endpoints",
            `http://${m.host.addr}:2379`,
            "--command-timeout",
            "2s",
            "endpoint",
            "health",
          ], { check: false, timeoutMs: 5000 });
          if (r.code !== 0) return false;
        }
        return true;
      },
      timeoutMs,
      200,
    );
  }

  /** Resident memory of each member, MB (bench:control). */
  rssMb(): number[] {
    return this.members.filter((m) => m.proc).map((m) => {
      // nsenter execs etcd: the child's pid is etcd's.
      const status = Deno.readTextFileSync(`/proc/${m.proc!.pid}/status`);
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    });
  }

  async close(): Promise<void> {
    for (const m of this.members) await this.killMember(m);
  }
}
