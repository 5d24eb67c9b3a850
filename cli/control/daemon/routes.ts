// The daemon's HTTP/JSON API on its unix socket, under /v1: one table of method + path →
// handler, and one mapping from errors to HTTP statuses, Docker's errdefs codes: 400 bad
// parameter, 404 not found, 409 conflict, 500 a failure while running, 502 a peer answered
// badly, 503 unavailable (not a manager, the swarm store unreachable). An answer is the
// handler's value as JSON; a refusal is `{ message }` with its status (client.ts `api()` reads it).

import { StoreUnavailableError } from "../swarm/state.ts";
import { EtcdError } from "../swarm/etcd.ts";
import { ApiError } from "../../errors.ts";
import type { Daemon } from "./daemon.ts";
import {
  joinToken,
  nodeRemove,
  nodeRole,
  nodes,
  swarmInit,
  swarmJoin,
  swarmLeave,
  swarmUpdate,
} from "./swarm.ts";
import { connect, containerStatus, disconnect, inspect, ps, rm, runContainer } from "./containers.ts";
import { espSa, fdb, networkCreate, networkInspect, networkRemove, networks, stats } from "./networks.ts";

/** What a handler gets: the path's `:name` segments (decoded), the query, and the JSON body. */
export interface RouteRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  /** The body as JSON; `{}` without one. @throws ApiError 400 when it is not JSON */
  body(): Promise<Record<string, any>>;
}

type Handler = (d: Daemon, r: RouteRequest) => unknown;

/** One route: method, path under /v1 (`:name` matches one segment), handler. */
export type Route = readonly [method: string, path: string, handler: Handler];

const force = (r: RouteRequest) => r.query.get("force") === "1";

/** Every route of the API, in the order they are tried. */
export const ROUTES: readonly Route[] = [
  ["GET", "/info", (d) => d.info()],
  ["POST", "/swarm/init", async (d, r) => swarmInit(d, await r.body())],
  ["POST", "/swarm/join", async (d, r) => swarmJoin(d, await r.body())],
  ["POST", "/swarm/leave", (d, r) => swarmLeave(d, force(r))],
  ["GET", "/swarm/join-token", (d, r) => joinToken(d, r.query.get("role") ?? "worker")],
  ["POST", "/swarm/update", async (d, r) => swarmUpdate(d, await r.body())],
  ["GET", "/nodes", (d) => nodes(d)],
  ["DELETE", "/nodes/:node", (d, r) => nodeRemove(d, r.params.node, force(r))],
  ["POST", "/nodes/:node/promote", (d, r) => nodeRole(d, r.params.node, "promote")],
  ["POST", "/nodes/:node/demote", (d, r) => nodeRole(d, r.params.node, "demote")],
  ["GET", "/networks", (d) => networks(d)],
  ["POST", "/networks", async (d, r) => networkCreate(d, await r.body())],
  ["GET", "/networks/:net", (d, r) => networkInspect(d, r.params.net)],
  ["DELETE", "/networks/:net", (d, r) => networkRemove(d, r.params.net)],
  ["POST", "/networks/:net/connect", async (d, r) => {
    const b = await r.body();
    return connect(d, r.params.net, String(b.container ?? ""), b);
  }],
  ["POST", "/networks/:net/disconnect", async (d, r) => {
    return disconnect(d, r.params.net, String((await r.body()).container ?? ""));
  }],
  ["GET", "/containers", (d) => ps(d)],
  ["POST", "/containers", async (d, r) => runContainer(d, await r.body())],
  ["GET", "/containers/:name/json", (d, r) => inspect(d, r.params.name)],
  ["GET", "/containers/:name", (d, r) => containerStatus(d, r.params.name)],
  ["DELETE", "/containers/:name", (d, r) => rm(d, r.params.name, force(r))],
  ["GET", "/fdb", (d, r) => fdb(d, r.query.get("network") ?? undefined)],
  ["GET", "/stats", (d) => stats(d)],
  ["GET", "/esp/sa", (d) => espSa(d)],
];

/** The route for `method` and the path segments after /v1, with its parameters, or undefined. */
export function match(
  method: string,
  segments: string[],
  routes: readonly Route[] = ROUTES,
): { handler: Handler; params: Record<string, string> } | undefined {
  for (const [m, path, handler] of routes) {
    if (m !== method) continue;
    const want = path.split("/").filter(Boolean);
    if (want.length !== segments.length) continue;
    const params: Record<string, string> = {};
    if (
      want.every((w, i) => w.startsWith(":") ? (params[w.slice(1)] = segments[i], true) : w === segments[i])
    ) {
      return { handler, params };
    }
  }
  return undefined;
}

/**
 * The HTTP status for an error a handler threw: ApiError's own (SwarmError is one), 503 for a swarm
 * store that cannot be reached (StoreUnavailableError, EtcdError); undefined for anything else,
 * which is a bug or an unforeseen failure (500, logged).
 */
export function statusOf(e: unknown): number | undefined {
  if (e instanceof ApiError) return e.status;
  if (e instanceof StoreUnavailableError || e instanceof EtcdError) return 503;
  return undefined;
}

/** Answers one request of the API. Never rejects: an error becomes `{ message }` with statusOf's
 * status (500, logged with its stack, for one it does not know). */
export async function handle(d: Daemon, req: Request): Promise<Response> {
  const url = new URL(req.url);
  try {
    const p = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    if (p[0] !== "v1") throw new ApiError(`no such endpoint ${url.pathname}`, 404);
    const route = match(req.method, p.slice(1));
    if (!route) throw new ApiError(`no such endpoint ${req.method} ${url.pathname}`, 404);
    const out = await route.handler(d, {
      params: route.params,
      query: url.searchParams,
      async body() {
        try {
          return req.body ? await req.json() : {};
        } catch {
          throw new ApiError("request body is not JSON");
        }
      },
    });
    return Response.json(out ?? null);
  } catch (e) {
    const status = statusOf(e);
    if (status === undefined) {
      d.log(`internal error on ${req.method} ${url.pathname}: ${e instanceof Error ? e.stack : e}`);
    }
    return Response.json({ message: e instanceof Error ? e.message : String(e) }, { status: status ?? 500 });
  }
}
