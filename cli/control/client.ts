// Client of the vtep's control socket (`weft fdb`, `weft stats`): one HTTP/1.1 GET over the unix
// socket, written by hand so it needs nothing beyond Deno.connect.

import { UsageError } from "../errors.ts";

export class ControlError extends UsageError {
  override name = "ControlError";
}

export async function controlGet<T>(path: string, route: string): Promise<T> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch (cause) {
    const why = cause instanceof Deno.errors.NotFound
      ? "no such socket"
      : cause instanceof Deno.errors.ConnectionRefused
      ? "nothing listens there"
      : (cause as Error).message;
    throw new ControlError(
      `cannot reach the vtep at ${path}: ${why} — is "weft vtep --control ${path}" running?`,
      {
        cause,
      },
    );
  }
  try {
    await conn.write(
      new TextEncoder().encode(`GET ${route} HTTP/1.1\r\nHost: weft\r\nConnection: close\r\n\r\n`),
    );
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    const all = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
    let off = 0;
    for (const c of chunks) all.set(c, (off += c.length) - c.length);
    const text = new TextDecoder().decode(all);
    const split = text.indexOf("\r\n\r\n");
    const head = text.slice(0, split);
    let body = text.slice(split + 4);
    if (/^transfer-encoding:\s*chunked/im.test(head)) body = dechunk(body);
    const status = Number(/^HTTP\/1\.[01] (\d+)/.exec(head)?.[1] ?? 0);
    const data = JSON.parse(body);
    if (status !== 200) throw new ControlError(`vtep at ${path}: ${data.error ?? `HTTP ${status}`}`);
    return data as T;
  } finally {
    try {
      conn.close();
    } catch { /* closed by the peer */ }
  }
}

function dechunk(body: string): string {
  let out = "";
  let i = 0;
  for (;;) {
    const eol = body.indexOf("\r\n", i);
    const size = parseInt(body.slice(i, eol), 16);
    if (!size) return out;
    out += body.slice(eol + 2, eol + 2 + size);
    i = eol + 2 + size + 2;
  }
}
