// Driving tests/offload/peer.ts (the in-namespace half) from a test or a benchmark: run it to
// completion or in the background, read its one JSON line, wait for its socket.

import { DENO, Lab, run, waitFor } from "../../cli/lab/mod.ts";

const PEER = "tests/offload/peer.ts";
export const MTU = 1450;
export const VNI = 42;
export const u8 = () => crypto.getRandomValues(new Uint8Array(1))[0];

export async function peer(lab: Lab, ns: string, args: string[], timeoutMs = 20000) {
  const r = await lab.exec(ns, [DENO, "run", "-A", PEER, ...args], { timeoutMs });
  if (r.code !== 0) throw new Error(`peer ${args[0]} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

export function spawnPeer(lab: Lab, ns: string, args: string[]) {
  return lab.spawn(ns, [DENO, "run", "-A", PEER, ...args], `peer ${args[0]}`);
}

export async function finished(p: ReturnType<typeof spawnPeer>) {
  const s = await p.status;
  const text = await p.stdout;
  if (s.code !== 0) throw new Error(`${p.name} failed (${s.code}): ${await p.stderr}`);
  return JSON.parse(text.trim().split("\n").pop()!);
}

/** Polls until `cmd` succeeds and prints something (a socket bound, a device moved in), at most `ms`. */
export async function until(cmd: string[], ms = 10000): Promise<void> {
  await waitFor(cmd.join(" "), async () => {
    const r = await run(cmd);
    return r.code === 0 && r.stdout.trim() !== "";
  }, ms);
}

export const boundUdp = (ns: string, port: number) =>
  until(["ip", "netns", "exec", ns, "ss", "-Hlun", `sport = :${port}`]);

/** Two namespaces on a veth: 198.18.N.1/24 and 198.18.N.2/24 (N random per run). */
export async function underlay(lab: Lab) {
  const net = `198.18.${u8()}`;
  const a = await lab.netns("a"), b = await lab.netns("b");
  await lab.veth(a, `${lab.prefix}u1`, `${net}.1/24`, b, `${lab.prefix}u2`, `${net}.2/24`);
  return { a, b, A: `${net}.1`, B: `${net}.2` };
}
