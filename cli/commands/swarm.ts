// `weft swarm init | join | join-token | leave`, as `docker swarm` has them.

import { UsageError } from "../errors.ts";
import { api, parseCommand } from "../control/daemon/client.ts";
import { CONTROL_PORT, VXLAN_PORT } from "../defaults.ts";
import { parseDuration } from "../esp/keys.ts";
import { ESP_PORT, espPortProblem } from "../esp/port.ts";

const USAGE = `Usage:
  weft swarm init --advertise-addr IP [--listen-addr IP[:${CONTROL_PORT}]] [--data-path-port ${VXLAN_PORT}] [--data-path-addr IP]
                  [--default-addr-pool 10.0.0.0/8] [--default-addr-pool-mask-length 24]
                  [--cluster-store etcd://H1:2379,H2:2379,H3:2379 [--cluster-store-ca FILE]
                   [--cluster-store-cert FILE --cluster-store-key FILE]]
                  [--key-rotation-interval 12h] [--esp-port ${ESP_PORT}]   (encrypted networks)
  weft swarm join --token TOKEN HOST[:${CONTROL_PORT}] --advertise-addr IP [--listen-addr IP[:${CONTROL_PORT}]] [--data-path-addr IP]
  weft swarm update --key-rotation-interval D   (on a manager: e.g. 12h, 30m, 2s)
  weft swarm join-token worker|manager [-q]
  weft swarm leave [--force]
All take -H/--host unix:///path (or WEFT_HOST) to pick the daemon.`;

const parse = (args: string[], options: Parameters<typeof parseCommand>[1] = {}) =>
  parseCommand(args, options, USAGE);

export async function main(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "init") {
    const { values: v } = parse(rest, {
      "advertise-addr": { type: "string" },
      "listen-addr": { type: "string" },
      "data-path-port": { type: "string" },
      "data-path-addr": { type: "string" },
      "default-addr-pool": { type: "string" },
      "default-addr-pool-mask-length": { type: "string" },
      "cluster-store": { type: "string" },
      "cluster-store-ca": { type: "string" },
      "cluster-store-cert": { type: "string" },
      "cluster-store-key": { type: "string" },
      "key-rotation-interval": { type: "string" },
      "esp-port": { type: "string" },
    });
    if (!v["advertise-addr"]) throw new UsageError(`--advertise-addr is required\n${USAGE}`);
    // Docker's range for --data-path-port: registered ports, none of the dynamic ones.
    const port = v["data-path-port"] as string | undefined;
    if (port !== undefined && !(/^\d+$/.test(port) && Number(port) >= 1024 && Number(port) <= 49151)) {
      throw new UsageError(`--data-path-port must be in 1024..49151, got "${port}"`);
    }
    const espPort = v["esp-port"] as string | undefined;
    if (espPort !== undefined) {
      const problem = espPortProblem(espPort, port === undefined ? VXLAN_PORT : Number(port));
      if (problem) throw new UsageError(problem);
    }
    const maskLen = v["default-addr-pool-mask-length"] as string | undefined;
    if (maskLen !== undefined && !/^\d{1,2}$/.test(maskLen)) {
      throw new UsageError(`--default-addr-pool-mask-length must be a prefix length, got "${maskLen}"`);
    }
    // The TLS files are read here and their PEM text sent: the daemon may run elsewhere.
    const pem = (flag: string): string | undefined => {
      const f = v[flag] as string | undefined;
      if (f === undefined) return undefined;
      if (v["cluster-store"] === undefined) throw new UsageError(`--${flag} needs --cluster-store`);
      try {
        return Deno.readTextFileSync(f);
      } catch (e) {
        throw new UsageError(`cannot read --${flag} ${f}: ${e instanceof Error ? e.message : e}`);
      }
    };
    let keyRotationMs: number | undefined;
    try {
      if (v["key-rotation-interval"] !== undefined) keyRotationMs = parseDuration(v["key-rotation-interval"]);
    } catch (e) {
      throw new UsageError(`--key-rotation-interval: ${(e as Error).message}`);
    }
    const listen = v["listen-addr"] as string | undefined;
    const r = await api(v.host as string | undefined, "POST", "/swarm/init", {
      advertiseAddr: v["advertise-addr"],
      listenAddr: listen ? (listen.includes(":") ? listen : `${listen}:${CONTROL_PORT}`) : undefined,
      dataPathPort: v["data-path-port"] ? Number(v["data-path-port"]) : undefined,
      dataPathAddr: v["data-path-addr"],
      pool: v["default-addr-pool"],
      poolMaskLength: v["default-addr-pool-mask-length"]
        ? Number(v["default-addr-pool-mask-length"])
        : undefined,
      clusterStore: v["cluster-store"],
      clusterStoreCa: pem("cluster-store-ca"),
      clusterStoreCert: pem("cluster-store-cert"),
      clusterStoreKey: pem("cluster-store-key"),
      keyRotationMs,
      espPort: espPort === undefined ? undefined : Number(espPort),
    });
    console.log(`Swarm initialized: current node (${r.nodeId}) is now a manager.\n`);
    console.log(
      `To add a worker to this swarm, run the following command:\n\n    weft swarm join --token ${r.token} ${r.join}\n`,
    );
    return 0;
  }
  if (sub === "join") {
    // The seed's line has a stray "\" before --advertise-addr (a broken line continuation): skip it.
    const { values: v, positionals } = parse(rest.filter((a) => a !== "\\"), {
      token: { type: "string" },
      "advertise-addr": { type: "string" },
      "listen-addr": { type: "string" },
      "data-path-addr": { type: "string" },
    });
    if (!v.token) throw new UsageError(`--token is required\n${USAGE}`);
    if (positionals.length !== 1) {
      throw new UsageError(`expected exactly one manager address HOST[:${CONTROL_PORT}]\n${USAGE}`);
    }
    if (!v["advertise-addr"]) {
      throw new UsageError(
        `--advertise-addr is required: the address other nodes reach this one at\n${USAGE}`,
      );
    }
    const r = await api(v.host as string | undefined, "POST", "/swarm/join", {
      token: v.token,
      remote: positionals[0],
      advertiseAddr: v["advertise-addr"],
      listenAddr: v["listen-addr"],
      dataPathAddr: v["data-path-addr"],
    });
    console.log(`This node joined a swarm as a ${r.role === "manager" ? "manager" : "worker"}.`);
    return 0;
  }
  if (sub === "update") {
    const { values: v } = parse(rest, { "key-rotation-interval": { type: "string" } });
    if (v["key-rotation-interval"] === undefined) throw new UsageError(`nothing to update\n${USAGE}`);
    let keyRotationMs: number;
    try {
      keyRotationMs = parseDuration(v["key-rotation-interval"]);
    } catch (e) {
      throw new UsageError(`--key-rotation-interval: ${(e as Error).message}`);
    }
    await api(v.host as string | undefined, "POST", "/swarm/update", { keyRotationMs });
    console.log("Swarm updated.");
    return 0;
  }
  if (sub === "join-token") {
    const { values: v, positionals } = parse(rest, { quiet: { type: "boolean", short: "q" } });
    const role = positionals[0];
    if (positionals.length !== 1 || (role !== "worker" && role !== "manager")) {
      throw new UsageError(`expected "worker" or "manager"\n${USAGE}`);
    }
    const r = await api(v.host as string | undefined, "GET", `/swarm/join-token?role=${role}`);
    if (v.quiet) console.log(r.token);
    else {console.log(
        `To add a ${role} to this swarm, run the following command:\n\n    weft swarm join --token ${r.token} ${r.join}\n`,
      );}
    return 0;
  }
  if (sub === "leave") {
    const { values: v } = parse(rest, { force: { type: "boolean", short: "f" } });
    await api(v.host as string | undefined, "POST", `/swarm/leave${v.force ? "?force=1" : ""}`);
    console.log("Node left the swarm.");
    return 0;
  }
  throw new UsageError(USAGE);
}
