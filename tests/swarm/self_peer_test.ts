// The daemon's data-plane diff never programs this node's own VTEP address as a peer (issue 11,
// item 10): a flood list or an endpoint record that names it is skipped with one log line.

import assert from "node:assert/strict";
import { VtepReconciler } from "../../cli/control/daemon/vtep_reconciler.ts";
import type { DpOp } from "../../cli/dataplane/protocol.ts";

/** The diff's output, without a worker: ops are recorded instead of applied. */
class Recording extends VtepReconciler {
  applied: DpOp[] = [];
  logged: string[] = [];
  constructor(own: string) {
    super(false);
    // What start() sets from --advertise-addr / --data-path-addr.
    (this as unknown as { ownAddress: string }).ownAddress = own;
    this.log = (m) => this.logged.push(m);
  }
  override ops(ops: DpOp[]): Promise<void> {
    this.applied.push(...ops);
    return Promise.resolve();
  }
}

Deno.test("daemon: its own address in a flood list or an endpoint record is skipped, logged once", async () => {
  const dp = new Recording("198.18.0.1");
  const want = {
    vni: 4096,
    mtu: 1450,
    floods: ["198.18.0.2", "198.18.0.1"],
    remotes: [
      { mac: "02:42:0a:00:00:02", ip: "10.0.0.2", addr: "198.18.0.2" },
      { mac: "02:42:0a:00:00:09", ip: "10.0.0.9", addr: "198.18.0.1" },
    ],
  };
  await dp.reconcile(4096, want);
  await dp.reconcile(4096, want);
  const peers = dp.applied.flatMap((o) => "addr" in o ? [o.addr] : []);
  assert.deepEqual(peers, ["198.18.0.2", "198.18.0.2"], "one flood.add and one remote.add, both for h2");
  assert.equal(dp.logged.length, 1, dp.logged.join("\n"));
  assert.match(
    dp.logged[0],
    /VNI 4096: not adding 198\.18\.0\.1 as a peer: it is this node's own VTEP address/,
  );
});
