// Where `weft fdb` and `weft stats` read from: a standalone `weft vtep` (--control PATH, its unix
// socket) or, without --control, the local daemon (-H / WEFT_HOST, as every daemon command).

import { UsageError } from "../errors.ts";
import { parseOptions } from "../args.ts";
import { controlGet } from "../control/client.ts";
import { api, HOST_OPTION } from "../control/daemon/client.ts";

export interface Target {
  json: boolean;
  network?: string;
  /** GET a path of the vtep's control API or the daemon's. */
  get<T>(path: string): Promise<T>;
}

export function target(args: string[], usage: string, withNetwork = false): Target {
  const { values } = parseOptions(
    args,
    {
      ...HOST_OPTION,
      control: { type: "string" },
      json: { type: "boolean", default: false },
      ...(withNetwork ? { network: { type: "string" } } : {}),
    },
    usage,
    { sep: " " },
  );
  const v = values as { host?: string; control?: string; json?: boolean; network?: string };
  if (v.control && v.network) {
    throw new UsageError(`--network is for the daemon, not a vtep's --control ${usage}`);
  }
  const control = v.control;
  return {
    json: v.json ?? false,
    network: v.network,
    get: control
      ? <T>(path: string) => controlGet<T>(control, path)
      : <T>(path: string) => api<T>(v.host, "GET", path),
  };
}
