// The one HTTP client of weft's unix sockets: the daemon's API (cli/control/daemon/client.ts
// `api()`) and a standalone vtep's control socket (`weft fdb|stats --control PATH`, here). Both
// servers are Deno.serve on a unix socket answering JSON; fetch reaches them through a
// Deno.HttpClient whose proxy is the socket, so the host name in the URL is never resolved.

import { UsageError } from "../errors.ts";

/** A vtep's control socket refused or could not be reached (exit 2, as a usage mistake). */
export class ControlError extends UsageError {
  override name = "ControlError";
}

/** An answer of a unix-socket server: its HTTP status and its body parsed as JSON. */
export interface UnixReply {
  status: number;
  data: any;
}

/**
 * One request to the HTTP server on the unix socket `socket`: `body`, when given, goes as JSON.
 * @param route the request path and query, "/fdb" or "/v1/containers?x=1"
 * @throws UnixConnectError when nothing answers at `socket` (its `why` says which case);
 *   SyntaxError when the answer is not JSON
 */
export async function unixRequest(
  socket: string,
  method: string,
  route: string,
  body?: unknown,
): Promise<UnixReply> {
  // `proxy.transport: "unix"` is not in Deno's bundled types yet, hence the cast.
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } } as any);
  try {
    let res: Response;
    try {
      res = await fetch(`http://weft${route}`, {
        method,
        client,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      } as RequestInit);
    } catch (cause) {
      throw new UnixConnectError(socket, cause);
    }
    return { status: res.status, data: await res.json() };
  } finally {
    client.close();
  }
}

/** Nothing answers at a unix socket: `why` is "no such socket" (ENOENT), "nothing listens there"
 * (ECONNREFUSED) or the OS's own words. */
export class UnixConnectError extends Error {
  override name = "UnixConnectError";
  readonly why: string;
  constructor(readonly socket: string, cause: unknown) {
    const text = String((cause as Error)?.cause ?? cause);
    const why = /os error 2\)/.test(text)
      ? "no such socket"
      : /os error 111\)/.test(text)
      ? "nothing listens there"
      : text.replace(/^.*client error \(Connect\): /, "");
    super(`cannot connect to ${socket}: ${why}`, { cause });
    this.why = why;
  }
}

/**
 * GET `route` ("/fdb" or "/stats", cli/control/server.ts) from the vtep whose control socket is
 * `path`; T is the route's reply (FdbReply, StatsReply).
 * @throws ControlError when the socket does not answer, or the vtep answers other than 200
 *   (its `{ error }` text)
 */
export async function controlGet<T>(path: string, route: string): Promise<T> {
  let reply: UnixReply;
  try {
    reply = await unixRequest(path, "GET", route);
  } catch (cause) {
    if (!(cause instanceof UnixConnectError)) throw cause;
    throw new ControlError(
      `cannot reach the vtep at ${path}: ${cause.why} — is "weft vtep --control ${path}" running?`,
      { cause },
    );
  }
  if (reply.status !== 200) {
    throw new ControlError(`vtep at ${path}: ${reply.data?.error ?? `HTTP ${reply.status}`}`);
  }
  return reply.data as T;
}
