// The embedded DNS server end to end, driven through the CLI: two weft hosts and a third namespace
// that stands in for "the host's resolver" (tests/dns/upstream.ts on 198.18.0.3, given to the
// daemons with --dns), so no query leaves the lab. Needs root.

import assert from "node:assert/strict";
import { DENO, type Host, isRoot, Lab, ROOT, sh, waitFor } from "../../cli/lab/mod.ts";
import { dnsLab } from "../dns/upstream.ts";
import { labTest } from "../harness.ts";

const ignore = !isRoot();
const PROBE = `${ROOT}tests/dns/probe.ts`;

async function getent(lab: Lab, h: Host, c: string, name: string) {
  return await lab.weft(h, ["exec", c, "--", "getent", "hosts", name], false);
}

async function probe(lab: Lab, h: Host, c: string, args: string[]) {
  const r = await lab.weft(h, ["exec", c, "--", DENO, "run", "-A", "--unstable-net", PROBE, ...args]);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

async function ipOf(lab: Lab, h: Host, c: string): Promise<string> {
  const cs = JSON.parse((await lab.weft(h, ["ps", "--format", "json"])).stdout);
  return cs.find((x: { name: string }) => x.name === c).ip;
}

labTest(
  "embedded DNS: names and aliases across hosts, scope per network, forwarding, FORMERR, removal, restart",
  { ignore },
  async (lab) => {
    const { hosts: [h1, h2], upstream } = await dnsLab(lab);
    await lab.weft(h1, ["network", "create", "-d", "overlay", "front"]);
    await lab.weft(h1, ["network", "create", "-d", "overlay", "back"]);
    const c1 = lab.c("c1"), c2 = lab.c("c2"), c3 = lab.c("c3");

    // Bad aliases are refused before anything is created.
    const bad = await lab.weft(h1, [
      "run",
      "-d",
      "--name",
      c1,
      "--network",
      "front",
      "--network-alias",
      "a b",
    ], false);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: invalid --network-alias "a b"/);
    assert.equal(JSON.parse((await lab.weft(h1, ["ps", "--format", "json"])).stdout).length, 0);

    await lab.weft(h1, ["run", "-d", "--name", c1, "--network", "front", "--", "sleep", "300"]);
    const tRun = Date.now();
    await lab.weft(h2, [
      "run",
      "-d",
      "--name",
      c2,
      "--network",
      "front",
      "--network-alias",
      "db",
      "--network-alias",
      "cache.internal",
    ]);
    await lab.weft(h2, ["run", "-d", "--name", c3, "--network", "back"]);
    const ip2 = await ipOf(lab, h2, c2);

    // resolv.conf as `weft exec`, `ip netns exec` and the container's own process see it.
    for (
      const r of [
        await lab.weft(h1, ["exec", c1, "--", "cat", "/etc/resolv.conf"]),
        await lab.inContainer(c1, ["cat", "/etc/resolv.conf"]),
      ]
    ) {
      assert.match(r.stdout, /^nameserver 127\.0\.0\.11$/m);
      assert.match(r.stdout, /^options ndots:0$/m);
    }
    const pid = JSON.parse((await lab.weft(h1, ["ps", "--format", "json"])).stdout)[0].pid;
    const own = await sh(["nsenter", `--mount=/proc/${pid}/ns/mnt`, "cat", "/etc/resolv.conf"]);
    assert.match(own.stdout, /^nameserver 127\.0\.0\.11$/m);

    // A name on another host, through the control plane.
    const first = await waitFor(
      "c2's name from c1",
      async () => {
        const r = await getent(lab, h1, c1, c2);
        return r.code === 0 && r.stdout;
      },
      20000,
      100,
    );
    console.log(
      `weft run c2 on node2 → its name resolves in c1 on node1 within ${Date.now() - tRun} ms (getent polls)`,
    );
    assert.deepEqual(first.trim().split(/\s+/), [ip2, c2]);
    // Aliases, any case; and the other way round, node2 → node1.
    assert.deepEqual((await getent(lab, h1, c1, "db")).stdout.trim().split(/\s+/), [ip2, "db"]);
    assert.equal((await getent(lab, h1, c1, "Cache.Internal")).stdout.trim().split(/\s+/)[0], ip2);
    assert.equal((await getent(lab, h1, c1, `${c2}.front`)).stdout.trim().split(/\s+/)[0], ip2);
    assert.equal((await getent(lab, h2, c2, c1)).stdout.trim().split(/\s+/)[0], await ipOf(lab, h1, c1));
    // c3 is on "back", which c1 does not share: not resolvable from c1 (NXDOMAIN from upstream).
    assert.equal((await getent(lab, h1, c1, c3)).code, 2);
    // Reverse: the address answers the container's name.
    assert.match(
      (await getent(lab, h1, c1, ip2)).stdout,
      new RegExp(`^${ip2.replace(/\./g, "\\.")}\\s+${c2}$`, "m"),
    );

    // An unused address of the shared subnet: NXDOMAIN here, not asked upstream (moby#50044).
    const unused = ip2.replace(/\.\d+$/, ".250");
    assert.equal((await getent(lab, h1, c1, unused)).code, 2);
    assert.ok(!upstream.asked.some((n) => n.startsWith("250.")), `${unused} was forwarded`);

    // Other names go to the (lab) upstream, from the daemon's namespace; container names never do.
    const out = await getent(lab, h1, c1, "outside.test");
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(out.stdout.trim().split(/\s+/), ["198.18.0.3", "outside.test"]);
    assert.ok(upstream.asked.includes("outside.test"));
    for (const mine of [c1, c2, "db"]) assert.ok(!upstream.asked.includes(mine), `${mine} was forwarded`);
    assert.equal((await getent(lab, h1, c1, "nowhere.test")).code, 2);

    // Garbage: FORMERR with its ID; 2000 random datagrams; the resolver still answers after.
    const g = await probe(lab, h1, c1, ["garbage"]);
    assert.deepEqual(g, { answered: true, id: 0xbeef, rcode: "FORMERR" });
    const f = await probe(lab, h1, c1, ["flood", "2000", c2]);
    assert.deepEqual(f, { sent: 2000, addresses: [ip2] });
    const dns = JSON.parse((await lab.weft(h1, ["stats", "--json"])).stdout).dns;
    assert.ok(dns.formerr >= 1 && dns.answered >= 4 && dns.forward >= 1, JSON.stringify(dns));
    assert.equal(
      dns.queries,
      Object.entries(dns).filter(([k]) => !["queries", "servfail", "drop_busy", "send_errors"].includes(k))
        .reduce((sum, [, v]) => sum + (v as number), 0),
      "every query has one outcome",
    );
    assert.match((await lab.weft(h1, ["stats"])).stdout, /^ {2}formerr +\d+ +undecodable/m);
    const t = await probe(lab, h1, c1, ["time", c2, "20"]);
    assert.deepEqual(t.addresses, [ip2]);
    assert.equal(t.lost, 0);

    // A removed container stops resolving within the convergence time; so does its alias.
    const tRm = Date.now();
    await lab.weft(h2, ["rm", "-f", c2]);
    await waitFor("c2's name to go", async () => (await getent(lab, h1, c1, c2)).code === 2, 15000, 100);
    console.log(`weft rm c2 on node2 → NXDOMAIN for it in c1 within ${Date.now() - tRm} ms`);
    assert.equal((await getent(lab, h1, c1, "db")).code, 2);

    // A daemon restart opens the listeners again.
    await lab.stopDaemon(h1);
    await lab.startDaemon(h1);
    await waitFor(
      "c1's own name after a restart",
      async () => {
        const r = await getent(lab, h1, c1, c1);
        return r.code === 0 && r.stdout.includes(c1);
      },
      15000,
      200,
    );
    await lab.weft(h1, ["rm", "-f", c1]);
    await lab.weft(h2, ["rm", "-f", c3]);
    for (const c of [c1, c2, c3]) {
      assert.throws(
        () => Deno.statSync(`/etc/netns/${c}`),
        Deno.errors.NotFound,
        `/etc/netns/${c} left behind`,
      );
    }
  },
);
