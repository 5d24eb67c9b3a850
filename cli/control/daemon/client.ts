// The CLI side of the daemon API: HTTP/JSON over the daemon's unix socket. `-H`/`--host` or
// WEFT_HOST picks the daemon (unix:///path), as DOCKER_HOST does for docker.

import { ApiError, UsageError } from "../../errors.ts";
import { type OptionTable, parseOptions } from "../../args.ts";
import { UnixConnectError, unixRequest } from "../client.ts";

/** The daemon's socket when neither -H nor WEFT_HOST says otherwise (Docker: /run/docker.sock). */
export const DEFAULT_HOST = "unix:///run/weft/weft.sock";
/** `weft daemon --state-dir` default (Docker: /var/lib/docker). */
export const DEFAULT_STATE_DIR = "/var/lib/weft";

/**
 * The socket path of a host: `host`, else WEFT_HOST, else DEFAULT_HOST; "unix:///path" or "/path".
 * @throws UsageError for any other scheme (weft has no TCP API)
 */
export function socketPath(host?: string): string {
  const h = host ?? Deno.env.get("WEFT_HOST") ?? DEFAULT_HOST;
  if (h.startsWith("unix://")) return h.slice("unix://".length);
  if (h.startsWith("/")) return h;
  throw new UsageError(`unsupported host "${h}": expected unix:///path/to/weft.sock`);
}

/** Options every client command takes. */
export const HOST_OPTION = { host: { type: "string" as const, short: "H" } };

/**
 * parseArgs for a daemon command: its options plus -H, positionals allowed.
 * @throws UsageError for a mistake, with `usage` on the next line
 */
export function parseCommand(
  args: string[],
  options: OptionTable,
  usage: string,
): { values: Record<string, any>; positionals: string[] } {
  return parseOptions(args, { ...HOST_OPTION, ...options }, usage, { positionals: true });
}

/**
 * One call of the daemon API: `method` on /v1`path` of the daemon at `host` (socketPath), `body`
 * as JSON; T is the route's answer (cli/control/daemon/routes.ts).
 * @throws ApiError with the daemon's message and HTTP status when it refuses (4xx, 5xx), or with
 *   status 0 when no daemon answers at the socket
 */
export async function api<T = any>(
  host: string | undefined,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const sock = socketPath(host);
  let reply;
  try {
    reply = await unixRequest(sock, method, `/v1${path}`, body);
  } catch (e) {
    if (!(e instanceof UnixConnectError)) throw e;
    throw new ApiError(
      `cannot connect to the weft daemon at unix://${sock}. Is "weft daemon" running? (-H or WEFT_HOST picks another)`,
      0,
    );
  }
  if (reply.status < 200 || reply.status > 299) {
    throw new ApiError(reply.data?.message ?? `HTTP ${reply.status}`, reply.status);
  }
  return reply.data as T;
}

/**
 * Daemon refusals become one "error: …" line: exit 2 for what the request got wrong (4xx: bad
 * input, unknown names, names taken, as usage mistakes), 1 for failures while running (5xx, or
 * no daemon). Other errors pass through to cli/main.ts.
 * @throws whatever `main` throws that is not an ApiError
 */
export function withDaemonErrors(main: (args: string[]) => Promise<number | void>) {
  return async (args: string[]): Promise<number | void> => {
    try {
      return await main(args);
    } catch (e) {
      if (e instanceof ApiError) {
        console.error(`error: ${e.message}`);
        return e.status >= 400 && e.status < 500 ? 2 : 1;
      }
      throw e;
    }
  };
}
