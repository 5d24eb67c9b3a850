// Containers as Docker users expect them (issue 12), end to end in namespaces and driven only
// through the CLI: every daemon runs in a mount namespace of its own and every CLI call in fresh
// mount and network namespaces (Lab privateMounts), so nothing reaches a container but the daemon's
// API. Needs root (CI runs as root).

import assert from "node:assert/strict";
import { type Host, isRoot, Lab, sh, waitFor } from "./lab.ts";

const ignore = !isRoot();
const opts = { ignore, sanitizeOps: false, sanitizeResources: false };

/** N hosts, host 1 the manager, the others joined; daemons in private mount namespaces. */
async function swarm(lab: Lab, n: number, init: string[] = []): Promise<Host[]> {
  await lab.setup(n);
  await Promise.all(lab.hosts.map((h) => lab.startDaemon(h)));
  const [h1, ...rest] = lab.hosts;
  const out = (await lab.weft(h1, ["swarm", "init", "--advertise-addr", h1.addr, ...init])).stdout;
  const join = out.split("\n").find((l) => l.includes("weft swarm join --token"))!.trim().split(/\s+/).slice(1);
  await Promise.all(rest.map((h) => lab.weft(h, [...join, "--advertise-addr", h.addr])));
  return lab.hosts;
}

async function inspect(lab: Lab, h: Host, name: string) {
  return JSON.parse((await lab.weft(h, ["inspect", name])).stdout)[0];
}

async function execPing(lab: Lab, h: Host, c: string, to: string, extra: string[] = []) {
  return await lab.weft(h, ["exec", c, "--", "ping", ...extra, "-c", "1", "-W", "1", to], false);
}

Deno.test({
  name: "every container has a process; exec works from other mount and network namespaces; a daemon restart strands none",
  ...opts,
  fn: async () => {
    const lab = new Lab({ privateMounts: true });
    try {
      const [h1, h2] = await swarm(lab, 2);
      await lab.weft(h1, ["network", "create", "-d", "overlay", "uber-net"]);
      const c1 = lab.c("c1"), c2 = lab.c("c2"), c3 = lab.c("c3");
      await lab.weft(h1, ["run", "-d", "--name", c1, "--network", "uber-net"]); // no CMD: a placeholder
      await lab.weft(h2, ["run", "-d", "--name", c2, "--network", "uber-net", "--", "sleep", "300"]);

      const i1 = await inspect(lab, h1, c1), i2 = await inspect(lab, h2, c2);
      assert.equal(i1.Name, `/${c1}`);
      assert.equal(i1.State.Running, true);
      assert.ok(i1.State.Pid > 1 && i2.State.Pid > 1, `Pids: ${i1.State.Pid} ${i2.State.Pid}`);
      assert.equal(i1.Config.Cmd, null);
      assert.deepEqual(i2.Config.Cmd, ["sleep", "300"]);
      assert.equal(i2.NetworkSettings.Networks["uber-net"].IPAddress, "10.0.0.3");

      // The daemon's names under /run/netns are not visible here (the "Invalid argument").
      assert.notEqual((await sh(["ip", "netns", "exec", c1, "true"], { check: false })).code, 0);
      const addr = await lab.weft(h1, ["exec", c1, "--", "ip", "-o", "-4", "addr", "show", "eth0"]);
      assert.match(addr.stdout, /inet 10\.0\.0\.2\/24/);
      const exit = await lab.weft(h2, ["exec", c2, "--", "sh", "-c", "echo out; echo err >&2; exit 7"], false);
      assert.deepEqual([exit.code, exit.stdout, exit.stderr], [7, "out\n", "err\n"]);
      // The container's own process is what exec joins: the same network namespace as its CMD.
      const self = await lab.weft(h2, ["exec", c2, "--", "sh", "-c", `readlink /proc/self/ns/net /proc/${i2.State.Pid}/ns/net`]);
      const [a, b] = self.stdout.trim().split("\n");
      assert.equal(a, b);
      await waitFor("c1 → c2 across hosts", async () => (await execPing(lab, h1, c1, "10.0.0.3")).code === 0);

      // A CMD that exits leaves a container that is not running: exec says so.
      await lab.weft(h1, ["run", "-d", "--name", c3, "--network", "uber-net", "--", "true"]);
      await waitFor("c3 exited", async () => (await inspect(lab, h1, c3)).State.Running === false);
      const dead = await lab.weft(h1, ["exec", c3, "--", "true"], false);
      assert.equal(dead.code, 1);
      assert.equal(dead.stderr, `error: container ${c3} is not running\n`);
      assert.equal((await inspect(lab, h1, c3)).State.Pid, 0);

      // Both daemons stop (the manager killed, the worker told to): the containers' processes
      // keep running; eth0 (a TAP the daemon held) is gone until the daemon is back.
      await Promise.all([lab.stopDaemon(h1, "SIGKILL"), lab.stopDaemon(h2, "SIGTERM")]);
      // Each comes back in a new mount namespace: the old /run/netns names died with the old one.
      await Promise.all([lab.startDaemon(h1), lab.startDaemon(h2)]);
      const j1 = await inspect(lab, h1, c1), j2 = await inspect(lab, h2, c2);
      assert.equal(j1.State.Pid, i1.State.Pid, "same process after the restart");
      assert.equal(j2.State.Pid, i2.State.Pid, "same process after the restart");
      assert.equal(j2.NetworkSettings.Networks["uber-net"].Interface.Up, true);
      await waitFor("c2 → c1 after both restarts", async () => (await execPing(lab, h2, c2, "10.0.0.2")).code === 0);

      await lab.weft(h2, ["rm", "-f", c2]);
      await waitFor("c2's process gone", async () => {
        try {
          Deno.statSync(`/proc/${i2.State.Pid}/ns`);
          return false;
        } catch {
          return true;
        }
      });
      const gone = await lab.weft(h2, ["exec", c2, "--", "true"], false);
      assert.equal(gone.stderr, `error: no such container: ${c2}\n`);
    } finally {
      await lab.close();
    }
  },
});
