// The vtep's local API: HTTP/JSON on a unix socket (the Docker daemon's shape, smaller).
//   GET /fdb    → FdbReply     GET /stats  → StatsReply
// Answers come from the data-plane worker; the main thread only relays.

import { UsageError } from "../errors.ts";
import type { DataplaneWorker } from "../dataplane/dataplane.ts";

/** The running API of a `weft vtep` (serveControl). */
export interface ControlServer {
  /** The unix socket's path (`--control`). */
  path: string;
  /** Stops serving and removes the socket file. */
  close(): Promise<void>;
}

/** Whether a process accepts connections on the unix socket at `path`. */
export async function answering(path: string): Promise<boolean> {
  try {
    (await Deno.connect({ transport: "unix", path })).close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Serves the API at `path`; a stale socket file is replaced, a live one is an error.
 * @throws {UsageError} when a running process answers on `path`, `path` is not a socket, or it
 *   cannot be bound (the message says which); other errors of lstat as they are.
 */
export async function serveControl(path: string, dp: DataplaneWorker): Promise<ControlServer> {
  try {
    const st = Deno.lstatSync(path);
    if (await answering(path)) throw new UsageError(`control socket ${path} is in use by a running process`);
    if (!st.isSocket) throw new UsageError(`control path ${path} exists and is not a socket`);
    Deno.removeSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const ac = new AbortController();
  let server: Deno.HttpServer;
  try {
    // The listener binds synchronously: when Deno.serve returns, the socket answers.
    server = Deno.serve({ path, signal: ac.signal, onListen: () => {} }, async (req) => {
      const url = new URL(req.url, "http://weft");
      try {
        if (req.method === "GET" && url.pathname === "/fdb") return Response.json(await dp.fdb());
        if (req.method === "GET" && url.pathname === "/stats") return Response.json(await dp.stats());
        return Response.json({ error: `no route ${req.method} ${url.pathname}` }, { status: 404 });
      } catch (e) {
        return Response.json({ error: e instanceof Error ? e.message : String(e) }, { status: 500 });
      }
    });
  } catch (cause) {
    throw new UsageError(`cannot serve the control API on ${path}: ${(cause as Error).message}`, { cause });
  }
  return {
    path,
    async close() {
      ac.abort();
      await server.finished.catch(() => {});
      try {
        Deno.removeSync(path);
      } catch { /* already gone */ }
    },
  };
}
