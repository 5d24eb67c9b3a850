// Managers on etcd without namespaces: one etcd member on loopback (random ports, data in a temp
// dir), managers and agents over loopback TLS. Conditional writes under races, deltas instead of
// snapshots, resuming from a revision, a full resync after compaction, and an unreachable store.
// Needs Debian's etcd-server (CI installs it).

import assert from "node:assert/strict";
import { newAnnouncement } from "../../cli/esp/keys.ts";
import { Agent, type Credentials, join } from "../../cli/control/swarm/agent.ts";
import { Manager } from "../../cli/control/swarm/manager.ts";
import { EtcdState } from "../../cli/control/swarm/state.ts";
import { Etcd, EtcdError, parseClusterStore } from "../../cli/control/swarm/etcd.ts";
import { waitFor } from "../../cli/lab/mod.ts";

/** A condition as waitFor() takes it. */
const ok = <T>(v: T) => Promise.resolve(v);

const hasEtcd =
  (await new Deno.Command("sh", { args: ["-c", "command -v etcd"], stdout: "null" }).output()).code === 0;
if (!hasEtcd) throw new Error("tests/swarm/etcd_test.ts needs etcd: apt-get install etcd-server");

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const p = (l.addr as Deno.NetAddr).port;
  l.close();
  return p;
}

/** One etcd member on 127.0.0.1 (with TLS files: https and client certificates); kill() is kill -9. */
async function startEtcd(dir: string, tls?: { ca: string; cert: string; key: string; files: string[] }) {
  const client = freePort(), peer = freePort();
  const url = `etcd://127.0.0.1:${client}`;
  const scheme = tls ? "https" : "http";
  const tlsArgs = tls
    ? [
      "--cert-file",
      tls.files[0],
      "--key-file",
      tls.files[1],
      "--trusted-ca-file",
      tls.files[2],
      "--client-cert-auth",
    ]
    : [];
  const proc = new Deno.Command("etcd", {
    args: [
      ...tlsArgs,
      "--name",
      "t",
      "--data-dir",
      `${dir}/etcd`,
      "--listen-client-urls",
      `${scheme}://127.0.0.1:${client}`,
      "--advertise-client-urls",
      `${scheme}://127.0.0.1:${client}`,
      "--listen-peer-urls",
      `http://127.0.0.1:${peer}`,
      "--initial-advertise-peer-urls",
      `http://127.0.0.1:${peer}`,
      "--initial-cluster",
      `t=http://127.0.0.1:${peer}`,
      "--listen-metrics-urls",
      `http://127.0.0.1:${freePort()}`,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const etcd = new Etcd(parseClusterStore(url, tls));
  await waitFor("etcd up", async () => (await etcd.range("/x/"), true), 20000, 100);
  etcd.close();
  return {
    url,
    client,
    async kill() {
      try {
        proc.kill("SIGKILL");
      } catch { /* gone */ }
      await proc.status;
    },
  };
}

const init = (port: number, addr: string) => ({
  advertiseAddr: addr,
  listenAddr: addr,
  listenPort: port,
  dataPathPort: 4789,
  pool: "10.0.0.0/8",
  poolMaskLength: 24,
  hostname: `m-${addr}`,
});

Deno.test("--cluster-store: etcd://HOST:PORT,… and clear errors for anything else", () => {
  assert.deepEqual(parseClusterStore("etcd://198.18.0.1:2379,h2,198.18.0.3:32379").endpoints, [
    "http://198.18.0.1:2379",
    "http://h2:2379",
    "http://198.18.0.3:32379",
  ]);
  assert.deepEqual(parseClusterStore("etcd://h:2379", { ca: "x" }).endpoints, ["https://h:2379"]);
  for (
    const bad of ["", "http://h:2379", "etcd://", "etcd://h:99999", "etcd://h:2379/path", "etcd://a b:1"]
  ) {
    assert.throws(() => parseClusterStore(bad), EtcdError, bad);
  }
  assert.throws(() => parseClusterStore("etcd://h", { cert: "c" }), /go together/);
});

Deno.test({
  name:
    "two managers on one etcd: races for names and addresses have one winner; nodes get deltas, resume, resync",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "weft-etcd-" });
    const etcd = await startEtcd(dir);
    const store = parseClusterStore(etcd.url);
    const p1 = freePort(), p2 = freePort();
    const m1 = await Manager.init(dir, init(p1, "127.0.0.11"), new EtcdState(store));
    m1.storeConfig = { url: etcd.url };
    m1.log = () => {};
    m1.start();
    let m2: Manager | undefined, m2b: Manager | undefined;
    const agents: Agent[] = [];
    try {
      // A manager joins with the manager token; a worker token makes a worker.
      const mj = await join(m1.token("manager"), { host: "127.0.0.11", port: p1 }, {
        hostname: "m2",
        addr: "127.0.0.12",
        listen: `127.0.0.12:${p2}`,
      });
      assert.equal(mj.role, "manager");
      m2 = await Manager.open(new EtcdState(store), mj.nodeId);
      m2.log = () => {};
      m2.start();
      await assert.rejects(
        join(m1.token("worker").replace(/-[0-9a-z]{25}$/, "-" + "b".repeat(25)), {
          host: "127.0.0.12",
          port: p2,
        }, {
          hostname: "x",
          addr: "127.0.0.30",
        }),
        /invalid join token: its secret is not this swarm's/,
      );

      // The same name on both managers at once: exactly one network.
      const same = await Promise.allSettled([
        m1.createNetwork({ name: "n" }),
        m2.createNetwork({ name: "n" }),
      ]);
      assert.equal(same.filter((r) => r.status === "fulfilled").length, 1);
      assert.match(
        String((same.find((r) => r.status === "rejected") as PromiseRejectedResult).reason),
        /already exists/,
      );
      // Ten networks from two managers at once: ten subnets, ten VNIs.
      const many = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? m1 : m2!).createNetwork({ name: `r${i}` })),
      );
      assert.equal(new Set(many.map((n) => n.subnet)).size, 10);
      assert.equal(new Set(many.map((n) => n.vni)).size, 10);

      // Two workers, one through each manager; each records what it is told.
      const creds: Credentials[] = [];
      for (const [i, port] of [[1, p1], [2, p2]]) {
        const c = await join(m1.token("worker"), { host: `127.0.0.1${i}`, port }, {
          hostname: `w${i}`,
          addr: `127.0.0.2${i}`,
        });
        creds.push(c as Credentials);
      }
      const start = (c: Credentials, cached?: Agent["state"]) => {
        const a = new Agent(c, cached);
        a.log = () => {};
        a.start();
        agents.push(a);
        return a;
      };
      const [w1, w2] = [start(creds[0]), start(creds[1])];
      await waitFor(
        "both agents connected",
        () => ok(w1.connected && w2.connected && !!w1.state && !!w2.state),
      );
      // A network created through one manager is usable at once through the other (which syncs
      // its mirror before it says "not found").
      for (let i = 0; i < 5; i++) {
        await m1.createNetwork({ name: `fresh${i}` });
        const r = await w2.rpc<any>("endpoint.create", { network: `fresh${i}`, container: `z${i}` });
        await w2.rpc("endpoint.delete", { id: r.endpoint.id });
      }
      // Its last endpoint there gone, the node no longer hears of those networks (lazy extension).
      await waitFor("w2 without the fresh networks", () => ok(w2.state!.networks.length === 0));

      // Twenty endpoints on "n" from both workers at once: twenty addresses, none twice.
      const eps = await Promise.all(
        Array.from(
          { length: 20 },
          (_, i) => (i % 2 ? w1 : w2).rpc<any>("endpoint.create", { network: "n", container: `c${i}` }),
        ),
      );
      const ips = eps.map((e) => e.endpoint.ip);
      assert.equal(new Set(ips).size, 20, `addresses: ${ips.join(" ")}`);
      await waitFor("w1 has all 20", () => ok(w1.state!.endpoints.length === 20));
      await waitFor("w2 has all 20", () => ok(w2.state!.endpoints.length === 20));
      assert.equal(w1.received.snapshots, 1, "one snapshot at connect, deltas after");
      assert.ok(w1.received.deltas >= 1); // batched: a burst of changes can be one delta

      // One more endpoint: the managers send a delta to each node on the network, sized by one
      // endpoint, not by the network's twenty.
      const before = m1.bytesSent + m2.bytesSent;
      const d1 = w1.received.deltas;
      await w1.rpc("endpoint.create", { network: "n", container: "one-more" });
      await waitFor("w2 sees it", () => ok(w2.state!.endpoints.length === 21));
      await waitFor("w1 sees it", () => ok(w1.state!.endpoints.length === 21));
      const bytes = m1.bytesSent + m2.bytesSent - before;
      assert.ok(bytes < 2 * 400, `bytes for one endpoint to two nodes: ${bytes}`);
      assert.equal(w1.received.deltas, d1 + 1);

      // w2 goes away; changes happen; it comes back from its cached state: only what changed.
      w2.stop();
      const cached = structuredClone(w2.state!);
      const gone = eps[1].endpoint.id;
      await w1.rpc("endpoint.delete", { id: gone });
      await w1.rpc("endpoint.create", { network: "n", container: "while-away" });
      const w2b = start(creds[1], cached);
      await waitFor(
        "w2 resumed",
        () => ok(w2b.connected && w2b.state!.endpoints.length === 21 && w2b.received.deltas > 0),
      );
      assert.equal(w2b.received.snapshots, 0, "resumed from its revision: no full snapshot");
      assert.ok(!w2b.state!.endpoints.some((e) => e.id === gone), "the deletion reached it");
      assert.ok(w2b.state!.endpoints.some((e) => e.container === "while-away"));
      const truth = m1.snapshotFor(creds[1].nodeId).endpoints.map((e) => e.id).sort();
      assert.deepEqual(w2b.state!.endpoints.map((e) => e.id).sort(), truth);

      // Compaction past a node's revision, then every manager restarts: a full resync.
      w2b.stop();
      const old = structuredClone(w2b.state!);
      await w1.rpc("endpoint.create", { network: "n", container: "after-compaction" });
      const client = new Etcd(store);
      const rev = (await client.range("/weft/")).revision;
      const res = await fetch(`http://127.0.0.1:${etcd.client}/v3/kv/compaction`, {
        method: "POST",
        body: JSON.stringify({ revision: String(rev), physical: true }),
      });
      await res.body?.cancel();
      client.close();
      await m2.stop();
      m2b = await Manager.open(new EtcdState(store), mj.nodeId);
      m2b.log = () => {};
      m2b.start();
      const w2c = start(creds[1], old);
      await waitFor("w2 resynced in full", () => ok(w2c.connected && w2c.received.snapshots === 1), 15000);
      assert.ok(w2c.state!.endpoints.some((e) => e.container === "after-compaction"));

      // Docker's network options live in the network record in etcd; IPv6 addresses are claimed
      // by CAS like IPv4 ones: twelve endpoints from both workers through both managers at once,
      // twelve IPv4 and twelve IPv6 addresses, none twice, all in the --ip-range.
      const v6 = await m2b!.createNetwork({
        name: "dual",
        subnet: ["10.77.0.0/24", "fd00:77::/64"],
        gateway: ["10.77.0.254", "fd00:77::fe"],
        ipRange: ["10.77.0.64/26", "fd00:77::100/120"],
        ipv6: true,
        internal: true,
        attachable: true,
        mtu: 1400,
        labels: { team: "net" },
      });
      const dual = await Promise.all(
        Array.from(
          { length: 12 },
          (_, i) =>
            (i % 2 ? w1 : w2c).rpc<any>("endpoint.create", {
              network: "dual",
              container: `d${i}`,
              aliases: [`alias${i}`],
            }),
        ),
      );
      const v4s = dual.map((e) => e.endpoint.ip), v6s = dual.map((e) => e.endpoint.ip6);
      assert.equal(new Set(v4s).size, 12, `IPv4: ${v4s.join(" ")}`);
      assert.equal(new Set(v6s).size, 12, `IPv6: ${v6s.join(" ")}`);
      for (const a of v4s) assert.match(a, /^10\.77\.0\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])$/);
      for (const a of v6s) assert.match(a, /^fd00:77::1[0-9a-f]{2}$/);
      assert.deepEqual(dual[3].endpoint.aliases, ["alias3"]);
      // A wanted IPv6 address another endpoint holds: refused, through either manager.
      await assert.rejects(
        w2c.rpc("endpoint.create", { network: "dual", container: "dup", ip6: v6s[0] }),
        /already in use/,
      );
      await waitFor("w1 has the network's options", () => {
        const n = w1.state!.networks.find((x) => x.id === v6.id);
        return ok(
          n?.subnet6 === "fd00:77::/64" && n.gateway6 === "fd00:77::fe" && n.ipRange === "10.77.0.64/26" &&
            n.internal === true && n.mtuOption === 1400 && n.labels?.team === "net",
        );
      });
      await waitFor(
        "w2 has the endpoints' ip6 and aliases",
        () => ok(w2c.state!.endpoints.filter((e) => e.network === v6.id && e.ip6 && e.aliases?.length).length === 12),
      );
      // Deleted: its IPv6 claim goes too, so the address can be had again.
      await w1.rpc("endpoint.delete", { id: dual[1].endpoint.id });
      const again = await w1.rpc<any>("endpoint.create", { network: "dual", container: "again", ip6: v6s[1] });
      assert.equal(again.endpoint.ip6, v6s[1]);

      // Encrypted networks: the key ring is a record in etcd, written with the network; it and the
      // SAs nodes announce reach only the nodes with endpoints on it, in deltas, through either
      // manager; a rotation (the leader's) reaches them the same way and drops the old SAs.
      const enc = await m1.createNetwork({ name: "secret", encrypted: true });
      assert.equal(enc.encrypted, true);
      assert.ok(m2b!.keys.ring(enc.id) || (await m2b!.state.sync(), m2b!.keys.ring(enc.id)), "m2b has the ring");
      await w1.rpc("endpoint.create", { network: "secret", container: "s1" });
      await waitFor("w1 has the ring", () => ok(w1.state!.keys?.[enc.id]?.[0]?.gen === 1));
      assert.equal(w2c.state!.keys?.[enc.id], undefined, "a node without endpoints has no key");
      const sa1 = newAnnouncement(enc.id, creds[0].nodeId, 1);
      await w1.rpc("sa.announce", { ...sa1 });
      await assert.rejects(w2c.rpc("sa.announce", { ...newAnnouncement(enc.id, creds[1].nodeId, 1) }), /no endpoint/);
      await w2c.rpc("endpoint.create", { network: "secret", container: "s2" });
      await waitFor(
        "w2 has the ring and w1's SA",
        () => ok(w2c.state!.keys?.[enc.id]?.length === 1 && w2c.state!.sas?.some((a) => a.spi === sa1.spi)),
      );
      await w2c.rpc("sa.announce", { ...newAnnouncement(enc.id, creds[1].nodeId, 1) });
      await waitFor("w1 has w2's SA", () => ok(w1.state!.sas?.filter((a) => a.network === enc.id).length === 2));
      const t0 = Date.parse(m1.keys.ring(enc.id)![0].createdAt);
      assert.equal(await m2b!.rotateKeys(t0 + 13 * 3600 * 1000), true);
      await waitFor("w1 has generation 2", () => ok(w1.state!.keys?.[enc.id]?.map((k) => k.gen).join() === "1,2"));
      await waitFor("w2 has generation 2", () => ok(w2c.state!.keys?.[enc.id]?.map((k) => k.gen).join() === "1,2"));
      assert.equal(await m1.rotateKeys(t0 + 26 * 3600 * 1000), true);
      await waitFor(
        "generation 1's SAs gone from w1",
        () => ok(w1.state!.keys?.[enc.id]?.map((k) => k.gen).join() === "2,3" && !w1.state!.sas?.some((a) => a.network === enc.id)),
      );

      // etcd dies: the managers say so and take no changes.
      await etcd.kill();
      await waitFor("m1 knows", () => ok(m1.state.unhealthy() !== undefined), 10000);
      await assert.rejects(
        m1.createNetwork({ name: "nope" }),
        /this manager cannot reach its cluster store, so it takes no changes: cannot reach the cluster store etcd:\/\/127\.0\.0\.1:\d+/,
      );
      assert.equal(m1.nodes().find((n) => n.id === m1.localNodeId)!.managerStatus, "Unreachable");
    } finally {
      for (const a of agents) a.stop();
      await m2b?.stop().catch(() => {});
      await m2?.stop().catch(() => {});
      await m1.stop().catch(() => {});
      await etcd.kill();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** openssl: a CA, and a certificate for 127.0.0.1 signed by it (server and client use). */
async function pki(dir: string) {
  const run = async (args: string[]) => {
    const r = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" }).output();
    if (r.code !== 0) throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(r.stderr)}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await run([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "1",
    "-subj",
    "/CN=weft-test-ca",
  ]);
  await run(["req", ...ec, "-keyout", "etcd.key", "-out", "etcd.csr", "-subj", "/CN=127.0.0.1"]);
  Deno.writeTextFileSync(
    `${dir}/ext.cnf`,
    "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
  );
  await run([
    "x509",
    "-req",
    "-in",
    "etcd.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "etcd.pem",
    "-days",
    "1",
    "-extfile",
    "ext.cnf",
  ]);
  const read = (f: string) => Deno.readTextFileSync(`${dir}/${f}`);
  return {
    ca: read("ca.pem"),
    cert: read("etcd.pem"),
    key: read("etcd.key"),
    files: [`${dir}/etcd.pem`, `${dir}/etcd.key`, `${dir}/ca.pem`],
  };
}

Deno.test({
  name: "--cluster-store-ca/-cert/-key: a manager on an etcd that speaks TLS and wants client certificates",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "weft-etcd-tls-" });
    const tls = await pki(dir);
    const etcd = await startEtcd(dir, tls);
    let m: Manager | undefined;
    try {
      const store = parseClusterStore(etcd.url, tls);
      assert.match(store.endpoints[0], /^https:/);
      // Without a client certificate the member refuses the handshake: nothing is written.
      const anonymous = new Etcd(parseClusterStore(etcd.url, { ca: tls.ca }));
      await assert.rejects(anonymous.range("/weft/"), /cannot reach the cluster store/);
      anonymous.close();
      m = await Manager.init(dir, init(freePort(), "127.0.0.31"), new EtcdState(store));
      const net = await m.createNetwork({ name: "over-tls" });
      const check = new Etcd(store);
      const kv = await check.get(`/weft/network/${net.id}`);
      check.close();
      assert.equal(JSON.parse(kv!.value).name, "over-tls");
    } finally {
      await m?.stop().catch(() => {});
      await etcd.kill();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
