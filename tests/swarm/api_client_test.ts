// The one unix-socket HTTP client (cli/control/client.ts) under its two callers, without root:
// the daemon's api() and a vtep's controlGet(), against a Deno.serve on a temporary socket.

import assert from "node:assert/strict";
import { api } from "../../cli/control/daemon/client.ts";
import { ControlError, controlGet, UnixConnectError, unixRequest } from "../../cli/control/client.ts";
import { ApiError } from "../../cli/errors.ts";

async function withServer(f: (sock: string) => Promise<void>) {
  const dir = Deno.makeTempDirSync();
  const sock = `${dir}/api.sock`;
  const server = Deno.serve({ path: sock, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/v1/echo") {
      return Response.json({ method: req.method, body: req.body ? await req.json() : null, q: url.search });
    }
    if (url.pathname === "/v1/taken") return Response.json({ message: "name taken" }, { status: 409 });
    if (url.pathname === "/fdb") return Response.json({ used: 1 });
    return Response.json({ error: "no route" }, { status: 404 });
  });
  try {
    await f(sock);
  } finally {
    await server.shutdown();
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("api(): JSON there and back over the socket; a refusal is an ApiError with the daemon's status", async () => {
  await withServer(async (sock) => {
    const r = await api(`unix://${sock}`, "POST", "/echo?force=1", { name: "web" });
    assert.deepEqual(r, { method: "POST", body: { name: "web" }, q: "?force=1" });
    await assert.rejects(
      api(sock, "DELETE", "/taken"),
      (e) => e instanceof ApiError && e.status === 409 && e.message === "name taken",
    );
  });
});

Deno.test("api() and controlGet(): nothing at the socket says so, naming the socket", async () => {
  const sock = `${Deno.makeTempDirSync()}/none.sock`;
  await assert.rejects(
    unixRequest(sock, "GET", "/x"),
    (e) => e instanceof UnixConnectError && e.why === "no such socket",
  );
  await assert.rejects(
    api(`unix://${sock}`, "GET", "/info"),
    (e) =>
      e instanceof ApiError && e.status === 0 &&
      e.message.startsWith(`cannot connect to the weft daemon at unix://${sock}`),
  );
  await assert.rejects(
    controlGet(sock, "/fdb"),
    (e) =>
      e instanceof ControlError && e.message.includes(`cannot reach the vtep at ${sock}: no such socket`),
  );
});

Deno.test("controlGet(): the vtep's answer, or its { error } as a ControlError", async () => {
  await withServer(async (sock) => {
    assert.deepEqual(await controlGet(sock, "/fdb"), { used: 1 });
    await assert.rejects(
      controlGet(sock, "/nope"),
      (e) => e instanceof ControlError && e.message === `vtep at ${sock}: no route`,
    );
  });
});
