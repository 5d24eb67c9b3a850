// `weft demo-ha` (npm run demo:ha): managers that outlive each other, on one machine. Five hosts
// in network namespaces: three run an etcd member and a manager, two are workers. The leader is
// killed -9; another manager takes the next `network create`, both workers run containers that
// ping across, `node ls` shows the dead manager Unreachable; it restarts and rejoins.

import { EtcdLab, type Host, Lab } from "../lab/mod.ts";
import { checkRoot, EXIT_NOT_ROOT, show, stopOnInterrupt } from "./demo.ts";

export async function main(_args: string[]): Promise<number> {
  if (!checkRoot("demo-ha")) return EXIT_NOT_ROOT;
  const lab = new Lab();
  let etcd: EtcdLab | undefined;
  const cleanup = async () => {
    await etcd?.close();
    await lab.close();
  };
  const timer = stopOnInterrupt("demo-ha", 180, cleanup);
  try {
    console.log(
      "# Five hosts on one underlay (198.18.0.1-5). node1-3: an etcd member and a weft manager each;",
    );
    console.log("# node4-5: workers.\n");
    await lab.setup(5);
    const [m1, m2, m3, w4, w5] = lab.hosts;
    etcd = new EtcdLab(lab, [m1, m2, m3]);
    await Promise.all([etcd.start(), ...lab.hosts.map((h) => lab.startDaemon(h))]);
    const run = async (h: Host, args: string[], check = true) => {
      const r = await lab.weft(h, args, false);
      show(h.name, `weft ${args.join(" ")}`, r.stdout + r.stderr);
      if (check && r.code !== 0) throw new Error(`weft ${args.join(" ")} failed`);
      return r;
    };
    await run(m1, ["swarm", "init", "--advertise-addr", m1.addr, "--cluster-store", etcd.url]);
    const mt = (await run(m1, ["swarm", "join-token", "manager"])).stdout;
    const mjoin = mt.split("\n").find((l) => l.includes("weft swarm join"))!.trim().split(/\s+/).slice(1);
    const wt = (await lab.weft(m1, ["swarm", "join-token", "worker"])).stdout;
    const wjoin = wt.split("\n").find((l) => l.includes("weft swarm join"))!.trim().split(/\s+/).slice(1);
    for (const h of [m2, m3]) await run(h, [...mjoin, "--advertise-addr", h.addr]);
    for (const h of [w4, w5]) await run(h, [...wjoin, "--advertise-addr", h.addr]);
    await run(m2, ["node", "ls"]);
    console.log("# kill -9 the leader's daemon (node1).\n");
    await lab.stopDaemon(m1, "SIGKILL");
    const t0 = performance.now();
    // Any manager serves: node2 takes the write at once (etcd decides, not a leader).
    await run(m2, ["network", "create", "-d", "overlay", "uber-net"]);
    const c4 = lab.c("c4"), c5 = lab.c("c5");
    // The workers' sessions were with node1: they fail over within a second or two.
    for (const [h, c] of [[w4, c4], [w5, c5]] as const) {
      for (let i = 0;; i++) {
        const r = await lab.weft(h, [
          "run",
          "-d",
          "--name",
          c,
          "--network",
          "uber-net",
          "--",
          "sleep",
          "3600",
        ], false);
        if (r.code === 0) {
          show(h.name, `weft run -d --name ${c} --network uber-net -- sleep 3600`, r.stdout);
          break;
        }
        if (i === 50) throw new Error(`weft run on ${h.name}: ${r.stderr}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    const ip5 = JSON.parse((await lab.weft(w5, ["ps", "--format", "json"])).stdout)[0].ip;
    let ping;
    for (let i = 0; i < 30; i++) {
      ping = await lab.inContainer(c4, ["ping", "-c", "3", "-i", "0.3", "-W", "1", ip5], false);
      if (ping.code === 0) break;
    }
    show(c4, `ping -c 3 ${ip5}`, ping!.stdout);
    console.log(
      `# leader killed → network created, two containers running, ping across: ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s\n`,
    );
    await new Promise((r) => setTimeout(r, 3500)); // the dead manager's etcd lease (3 s) runs out
    await run(m3, ["node", "ls"]);
    console.log("# node1 restarts: it rejoins from its state and the store; nothing was lost.\n");
    await lab.startDaemon(m1);
    await new Promise((r) => setTimeout(r, 1500));
    await run(m1, ["node", "ls"]);
    await run(m1, ["network", "ls"]);
    return ping!.code === 0 ? 0 : 1;
  } catch (e) {
    console.error(`weft demo-ha failed: ${e instanceof Error ? e.message : e}`);
    for (const h of lab.hosts) {
      console.error(`--- ${h.name} daemon log ---\n${await Deno.readTextFile(h.log).catch(() => "")}`);
    }
    return 1;
  } finally {
    clearTimeout(timer);
    await cleanup();
    console.log("# cleaned up: daemons and etcd stopped, namespaces deleted.");
  }
}
