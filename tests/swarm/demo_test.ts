// `npm run demo` (weft demo), the README's first command, run as CI runs it: its transcript's key
// lines asserted, and nothing of it left behind. Needs root (namespaces, TAPs).

import assert from "node:assert/strict";
import { isRoot, run, weft } from "../../cli/lab/mod.ts";

Deno.test({
  name: "weft demo: swarm of two, overlay, containers, a ping across in VXLAN, cleaned up",
  ignore: !isRoot(),
  async fn() {
    const r = await weft(["demo"], 150_000);
    const out = r.stdout;
    assert.equal(r.code, 0, `weft demo exited ${r.code}:\n${out}\n${r.stderr}`);
    const prefix = /--name (\S+)-c1 /.exec(out)?.[1];
    assert.ok(prefix, `the transcript names its containers:\n${out}`);
    for (
      const line of [
        /^node1\$ weft swarm init --advertise-addr 198\.18\.0\.1 /m,
        /^Swarm initialized: current node \([a-z0-9]{25}\) is now a manager\.$/m,
        /^This node joined a swarm as a worker\.$/m,
        /^\S+ \*?\s+node1\s+Ready\s+Active\s+Leader$/m,
        /^\S+\s+node2\s+Ready\s+Active\s*$/m,
        /^[a-z0-9]{12}\s+uber-net\s+overlay\s+swarm$/m,
        /^3 packets transmitted, 3 received, 0% packet loss/m,
        /Virtual eXtensible Local Area Network/,
        /VXLAN Network Identifier \(VNI\): 4096/,
        /^# cleaned up: daemons stopped, namespaces deleted\.$/m,
      ]
    ) assert.match(out, line);
    const left = (await run(["ip", "netns", "list"])).stdout.split("\n").filter((l) => l.startsWith(prefix));
    assert.deepEqual(left, [], "no namespace of the demo left");
  },
});
