// The CLI side of the daemon API: HTTP/JSON over the daemon's unix socket. `-H`/`--host` or
// WEFT_HOST picks the daemon (unix:///path), as DOCKER_HOST does for docker.

import { parseArgs } from "node:util";
import { UsageError } from "../../errors.ts";

export const DEFAULT_HOST = "unix:///run/weft/weft.sock";
export const DEFAULT_STATE_DIR = "/var/lib/weft";

export class DaemonError extends Error {
  override name = "DaemonError";
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

export function socketPath(host?: string): string {
  const h = host ?? Deno.env.get("WEFT_HOST") ?? DEFAULT_HOST;
  if (h.startsWith("unix://")) return h.slice("unix://".length);
  if (h.startsWith("/")) return h;
  throw new UsageError(`unsupported host "${h}": expected unix:///path/to/weft.sock`);
}

/** Options every client command takes. */
export const HOST_OPTION = { host: { type: "string" as const, short: "H" } };

/** parseArgs for a daemon command: its options plus -H; a mistake is a UsageError with `usage`. */
export function parseCommand(
  args: string[],
  options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }>,
  usage: string,
): { values: Record<string, any>; positionals: string[] } {
  try {
    return parseArgs({ args, strict: true, allowPositionals: true, options: { ...HOST_OPTION, ...options } });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${usage}`);
  }
}

export async function api<T = any>(
  host: string | undefined,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const sock = socketPath(host);
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: sock } } as any);
  let res: Response;
  try {
    res = await fetch(`http://weft/v1${path}`, {
      method,
      client,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    } as RequestInit);
  } catch {
    client.close();
    throw new DaemonError(
      `cannot connect to the weft daemon at unix://${sock}. Is "weft daemon" running? (-H or WEFT_HOST picks another)`,
      0,
    );
  }
  try {
    const data = await res.json();
    if (!res.ok) throw new DaemonError(data?.message ?? `HTTP ${res.status}`, res.status);
    return data as T;
  } finally {
    client.close();
  }
}

/** Daemon refusals become one "error: …" line, exit 1 (usage mistakes stay exit 2). */
export function withDaemonErrors(main: (args: string[]) => Promise<number | void>) {
  return async (args: string[]): Promise<number | void> => {
    try {
      return await main(args);
    } catch (e) {
      if (e instanceof DaemonError) {
        console.error(`error: ${e.message}`);
        return 1;
      }
      throw e;
    }
  };
}
