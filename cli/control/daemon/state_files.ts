// What the daemon remembers across restarts, and where: files under --state-dir, each replaced
// atomically (write a temporary file, fsync, rename) so a crash leaves the old or the new one.
//   daemon.json      role, addresses, and a worker's credentials (node id, secret, CA): DaemonConfig
//   containers.json  this host's containers: namespace, endpoint, address, process (records.ts)
//   cache.json       a worker's last snapshot from the manager (replaced on every resync)
//   store.jsonl      a manager's embedded swarm store (with ca.pem, ca-key.pem); with
//                    --cluster-store the state lives in etcd and daemon.json says where
//   gwbridge.json    weft_gwbridge's state (gwbridge.ts)
//   logs/NAME.log    each container's stdout and stderr

import type { Credentials } from "../swarm/agent.ts";
import type { StoreConfig } from "../swarm/types.ts";

/** The files of the header above, by name relative to the state dir. */
export const DAEMON_JSON = "daemon.json";
/** See DAEMON_JSON. */
export const CONTAINERS_JSON = "containers.json";
/** See DAEMON_JSON. */
export const CACHE_JSON = "cache.json";
/** See DAEMON_JSON. */
export const STORE_JSONL = "store.jsonl";
/** See DAEMON_JSON. */
export const GWBRIDGE_JSON = "gwbridge.json";
/** What a manager's store leaves beside daemon.json (removed when the last manager leaves). */
export const MANAGER_FILES = [STORE_JSONL, `${STORE_JSONL}.compact`, "ca.pem", "ca-key.pem"];
/** The containers' logs: LOGS_DIR/NAME.log. */
export const LOGS_DIR = "logs";

/** daemon.json: this node's place in a swarm (absent: not in one). */
export interface DaemonConfig {
  role: "manager" | "worker";
  hostname: string;
  /** `--advertise-addr`: the address other nodes reach this one's control plane at. */
  advertiseAddr: string;
  /** "ip:port" of the control listener (a worker: what was asked, possibly ""). */
  listenAddr: string;
  /** UDP port of VXLAN for the whole swarm (`--data-path-port`, default VXLAN_PORT). */
  dataPathPort: number;
  /** The swarm's `--esp-port` (ESP_PORT when absent). */
  espPort?: number;
  /** `--data-path-addr`: the VTEP's address when it is not advertiseAddr. */
  dataPathAddr?: string;
  /** A worker's credentials from its join. */
  creds?: Credentials;
  /** A manager's node id (older configs: the store's one manager). */
  nodeId?: string;
  /** A manager's cluster store; absent: the embedded one. */
  store?: StoreConfig;
}

/** The state directory: JSON files read and replaced by name. */
export class StateDir {
  constructor(readonly dir: string) {}

  /** Creates the directory (mode 0700: daemon.json holds secrets) and its logs/. */
  create(): void {
    Deno.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    Deno.chmodSync(this.dir, 0o700); // keys and secrets inside (docs/encryption.md)
    Deno.mkdirSync(this.path(LOGS_DIR), { recursive: true });
  }

  /** The full path of state file `f`. */
  path(f: string): string {
    return `${this.dir}/${f}`;
  }

  /** The file's JSON, or undefined when it is missing or unreadable (a fresh start). */
  read<T>(f: string): T | undefined {
    try {
      return JSON.parse(Deno.readTextFileSync(this.path(f)));
    } catch {
      return undefined;
    }
  }

  /**
   * Atomic replace: write a temporary file (mode 0600), fsync, rename.
   * @throws Deno.errors.* when the directory is not writable
   */
  write(f: string, v: unknown): void {
    const tmp = this.path(`.${f}.tmp`);
    const file = Deno.openSync(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
    file.writeSync(new TextEncoder().encode(JSON.stringify(v, null, 1)));
    file.syncSync();
    file.close();
    Deno.renameSync(tmp, this.path(f));
  }

  /** Removes the files that exist of `fs`. */
  remove(...fs: string[]): void {
    for (const f of fs) {
      try {
        Deno.removeSync(this.path(f));
      } catch { /* gone */ }
    }
  }
}
