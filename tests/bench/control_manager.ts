// One manager process for bench:control (control_bench.ts starts 1 or 3): a real Manager on etcd,
// listening on loopback, no data plane. Lines on stdout: {"ready":…} once listening; on stdin,
// "stats" answers {"bytes","cpuMs","rssMb"}: bytes sent to nodes (deltas and snapshots), CPU
// time of the process (user + system) and its resident memory.
//
// "create NAME" creates a network as `weft network create` does and answers its record.
//
//   --store etcd://127.0.0.1:P  --listen 127.0.0.N:PORT  (--init | --node-id ID)

import { parseArgs } from "node:util";
import process from "node:process";
import { Manager } from "../../cli/control/swarm/manager.ts";
import { EtcdState } from "../../cli/control/swarm/state.ts";
import { parseClusterStore } from "../../cli/control/swarm/etcd.ts";

const { values: v } = parseArgs({
  options: {
    store: { type: "string" },
    listen: { type: "string" },
    init: { type: "boolean" },
    "node-id": { type: "string" },
  },
});
const [host, port] = v.listen!.split(":");
// Opening retries while etcd is too busy to answer (as the daemon does).
const open = async (): Promise<Manager> => {
  for (let i = 0;; i++) {
    try {
      return await (v.init ? init() : Manager.open(new EtcdState(parseClusterStore(v.store!)), v["node-id"]));
    } catch (e) {
      if (i === 20) throw e;
      console.error(`${e instanceof Error ? e.message : e}; retrying`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
};
const init = () =>
  Manager.init("/nonexistent", {
    advertiseAddr: host,
    listenAddr: host,
    listenPort: Number(port),
    dataPathPort: 4789,
    pool: "10.0.0.0/8",
    poolMaskLength: 16,
    hostname: `manager-${host}`,
  }, new EtcdState(parseClusterStore(v.store!)));
const m = await open();
m.storeConfig = { url: v.store! };
m.log = (line) => console.error(`${new Date().toISOString()} ${line}`);
m.start();
const out = (o: unknown) => console.log(JSON.stringify(o));
out({
  ready: true,
  nodeId: m.localNodeId,
  worker: m.token("worker"),
  manager: m.token("manager"),
});
const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
let buf = "";
for await (const chunk of lines) {
  buf += chunk;
  let nl;
  while ((nl = buf.indexOf("\n")) >= 0) {
    const cmd = buf.slice(0, nl).trim();
    buf = buf.slice(nl + 1);
    if (cmd === "stats") {
      const cpu = process.cpuUsage();
      out({
        bytes: m.bytesSent,
        cpuMs: (cpu.user + cpu.system) / 1000,
        rssMb: Deno.memoryUsage().rss / 2 ** 20,
      });
    } else if (cmd.startsWith("create ")) {
      // `weft network create NAME` on this manager.
      try {
        out(await m.createNetwork({ name: cmd.slice(7) }));
      } catch (e) {
        out({ error: e instanceof Error ? e.message : String(e) });
      }
    }
  }
}
await m.stop();
