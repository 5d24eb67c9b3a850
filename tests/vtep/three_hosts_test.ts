// Three weft VTEPs on one underlay bridge, each with the two others as flood list: unknown
// unicast goes to both peers, learned unicast only to the right one, a moved MAC is relearned,
// learned entries age out (--ageing 2).

import assert from "node:assert/strict";
import { hostsOnBridge, macOf, type Vtep, vtepFor } from "../../cli/lab/mod.ts";
import { labTest } from "../harness.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** tx_frames the vtep sent to each peer address, by "addr:port". */
async function txByPeer(v: Vtep): Promise<Record<string, number>> {
  const s = await v.stats();
  return Object.fromEntries(s.vteps.map((x: any) => [x.name, x.tx_frames]));
}

labTest("three VTEPs: flood unknown unicast, unicast after learning, MAC move, ageing", {}, async (lab) => {
  const { hosts: [h1, h2, h3], containers: [c1, c2, c3] } = await hostsOnBridge(lab, 3);
  const tap = (i: number) => `${lab.prefix}t${i}`;
  const all = ["198.18.0.1", "198.18.0.2", "198.18.0.3"];
  const vteps: Vtep[] = [];
  for (const [i, h, c] of [[1, h1, c1], [2, h2, c2], [3, h3, c3]] as const) {
    const [first, ...more] = all.filter((_, j) => j !== i - 1);
    const extra = [...more.flatMap((a) => ["--peer", a]), "--ageing", "2"];
    vteps.push(await vtepFor(lab, h, c, `t${i}`, `10.0.0.${i}/24`, all[i - 1], first, extra));
  }
  const v1 = vteps[0];
  const to2 = "198.18.0.2:4789", to3 = "198.18.0.3:4789";

  // Unknown unicast: a neighbour whose MAC no VTEP has seen is flooded to both peers.
  await lab.exec(c1, [
    "ip",
    "neigh",
    "replace",
    "10.0.0.99",
    "lladdr",
    "02:00:00:00:00:99",
    "dev",
    tap(1),
  ], { check: true });
  const a = await txByPeer(v1);
  await lab.exec(c1, ["ping", "-c", "3", "-i", "0.1", "-W", "1", "10.0.0.99"]);
  const b = await txByPeer(v1);
  assert.ok(b[to2] - a[to2] >= 3 && b[to3] - a[to3] >= 3, `flooded to both: ${JSON.stringify({ a, b })}`);

  // Learned unicast: while c1 pings c2, h1 sends to h2 only.
  const ping = lab.spawn(c1, ["ping", "-c", "25", "-i", "0.1", "-W", "1", "10.0.0.2"]);
  await sleep(700);
  const c = await txByPeer(v1);
  await sleep(1000);
  const d = await txByPeer(v1);
  assert.equal((await ping.status).code, 0, "c1 → c2 ping");
  assert.ok(d[to2] - c[to2] >= 5, `unicast reaches h2: ${JSON.stringify({ c, d })}`);
  assert.equal(d[to3] - c[to3], 0, `nothing for c2 reaches h3: ${JSON.stringify({ c, d })}`);

  // Move: c2's MAC shows up behind h3; h1 relearns it there.
  const m2 = macOf((await lab.exec(c2, ["ip", "link", "show", tap(2)], { check: true })).stdout);
  await lab.exec(c2, ["ip", "link", "set", tap(2), "down"], { check: true });
  await lab.exec(c3, ["ip", "link", "set", tap(3), "address", m2], { check: true });
  const p31 = await lab.exec(c3, ["ping", "-c", "2", "-i", "0.2", "-W", "1", "10.0.0.1"]);
  assert.equal(p31.code, 0, `c3 (with c2's MAC) → c1: ${p31.stdout}`);
  const fdb = await v1.fdb();
  const e = fdb.entries.find((x: any) => x.mac === m2);
  assert.equal(e?.where, to3, `${m2} relearned behind h3: ${JSON.stringify(fdb.entries)}`);
  assert.ok((await v1.stats()).vnis[0].counters.fdb_move >= 1, "the move is counted");

  // Ageing: c3 falls silent, and the learned entry is gone within ageing + the 1 s sweep.
  await lab.exec(c3, ["ip", "link", "set", tap(3), "down"], { check: true });
  const silent = Date.now();
  let gone = false;
  while (!gone && Date.now() - silent < 6000) {
    await sleep(500);
    gone = !(await v1.fdb()).entries.some((x: any) => x.mac === m2);
  }
  assert.ok(gone, `${m2} aged out within 6 s`);
  assert.ok((await v1.stats()).vnis[0].counters.fdb_aged >= 1, "ageing is counted");
});
