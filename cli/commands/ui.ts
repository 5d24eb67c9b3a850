// `weft ui`: serves the capture page (cli/ui/) on 127.0.0.1 only. The server hands out three
// static files; the capture the user opens never leaves the browser, where the Wasm core runs.

import { parseArgs } from "node:util";
import { UsageError } from "../errors.ts";

/** Default TCP port of the page (any free port will do; this one is easy to remember next to 4789). */
export const DEFAULT_UI_PORT = 7489;

export const USAGE = `Usage:
  weft ui [--port N]

Serves a page on http://127.0.0.1:N/ (default N ${DEFAULT_UI_PORT}) that runs a capture (pcap, pcapng) through
the Wasm core in the browser: the summary per VNI with drop reasons, the decapsulated frames, the
FDB the switch learnt, and the decapsulated capture to download (what "weft pcap decap" writes).
Only this host can reach it. --port 0 picks a free port. Ctrl-C stops it.`;

const ROOT = new URL("../../", import.meta.url);
/** URL path → file and media type. Nothing else is served. */
const FILES: Record<string, { file: URL; type: string }> = {
  "/": { file: new URL("cli/ui/index.html", ROOT), type: "text/html; charset=utf-8" },
  "/weft-ui.js": { file: new URL("build/weft-ui.js", ROOT), type: "text/javascript; charset=utf-8" },
  "/weft-core.mjs": { file: new URL("build/weft-core.mjs", ROOT), type: "text/javascript; charset=utf-8" },
};
/** The page loads only its own files; 'wasm-unsafe-eval' lets it compile the core. */
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'";

export async function main(args: string[]): Promise<number> {
  let values: { port?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: { port: { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
    }));
  } catch (e) {
    throw new UsageError(`${(e as Error).message.split("\n")[0]}; run "weft ui --help"`);
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const port = values.port === undefined ? DEFAULT_UI_PORT : portNumber(values.port);
  for (const { file } of Object.values(FILES)) {
    try {
      await Deno.stat(file);
    } catch {
      throw new UsageError(`${file.pathname} is missing: run "npm run build" first`);
    }
  }
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      hostname: "127.0.0.1",
      port,
      onListen: (a) => console.log(`weft ui: http://127.0.0.1:${a.port}/ (Ctrl-C stops it)`),
    }, serveFile);
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) {
      throw new UsageError(`cannot listen on 127.0.0.1:${port}: address in use; pick another with --port`);
    }
    throw new UsageError(`cannot listen on 127.0.0.1:${port}: ${(e as Error).message}`);
  }
  await server.finished;
  return 0;
}

async function serveFile(request: Request): Promise<Response> {
  const path = new URL(request.url).pathname;
  // Browsers ask for an icon unasked; the page has none, and a 404 would read as a broken page.
  if (path === "/favicon.ico") return new Response(null, { status: 204 });
  const entry = FILES[path];
  if (!entry) return new Response("not found\n", { status: 404 });
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
  }
  try {
    const body = await Deno.readFile(entry.file);
    return new Response(request.method === "HEAD" ? null : body, {
      headers: { "content-type": entry.type, "content-security-policy": CSP, "cache-control": "no-store" },
    });
  } catch {
    return new Response(`${entry.file.pathname} is missing: run "npm run build"\n`, { status: 500 });
  }
}

function portNumber(text: string): number {
  const v = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(v) || v > 65535) {
    throw new UsageError(`invalid --port "${text}": expected an integer in 0..65535`);
  }
  return v;
}
