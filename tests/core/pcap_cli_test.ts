// `weft pcap decap|encap` end to end: the CLI as a user runs it, on the shared captures, with
// tshark (Wireshark 4.0) as an independent decoder of what it writes.

import assert from "node:assert/strict";
import { formatMac, readPcap } from "../../cli/core/mod.ts";
import { loadCore } from "../../cli/core/load.ts";
import { hasTool, tsharkFields, weftPcap as weft, withTemp } from "../harness.ts";

const FIXTURES = new URL("../../../shared/fixtures/", import.meta.url);
const OUTER = new URL("kernel-vxlan-vni42/outer.pcap", FIXTURES).pathname;
const INNER = new URL("kernel-vxlan-vni42/inner.pcap", FIXTURES).pathname;
/** `weft pcap encap` as the kernel capture's VTEPs: VNI 42, 198.18.0.1 → 198.18.0.2. */
const ENCAP_42 = ["encap", "--vni", "42", "--src", "198.18.0.1", "--dst", "198.18.0.2"];
const TCPDUMP = new URL("tcpdump-tests/", FIXTURES).pathname;

const NO_TSHARK = !hasTool("tshark");
/** tshark's fields of every packet. */
const tshark = (file: string, fields: string[], args: string[] = []) => tsharkFields(file, fields, { args });

/** One line "error: …" on stderr, nothing on stdout, exit 2. */
function assertUsageError(r: { code: number; stdout: string; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line: ${r.stderr}`);
  assert.match(lines[0], /^error: /);
  assert.match(lines[0], pattern);
  assert.equal(r.stdout, "");
}

Deno.test("pcap decap writes the 63 inner frames of the kernel capture with their timestamps", async () => {
  await withTemp(async (dir) => {
    const out = `${dir}/inner.pcap`;
    const r = await weft("decap", OUTER, out);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^vni 42: 63 decapsulated, 0 dropped$/m);
    assert.doesNotMatch(r.stdout, /not VXLAN/);
    const outer = readPcap(await Deno.readFile(OUTER)).packets;
    const inner = readPcap(await Deno.readFile(out)).packets;
    assert.equal(inner.length, 63);
    inner.forEach((p, i) => {
      assert.ok(Math.abs(p.time - outer[i].time) < 1e-6, `frame ${i + 1}: original timestamp`);
      assert.deepEqual(p.data, outer[i].data.slice(50), `frame ${i + 1}: outer 50 bytes removed`);
    });
  });
});

Deno.test("pcap decap counts other ports as not VXLAN, and --port 8472 decapsulates them", async () => {
  await withTemp(async (dir) => {
    const file = `${TCPDUMP}/vxlan_port_8472.pcap`;
    const wrong = await weft("decap", file, `${dir}/a.pcap`);
    assert.equal(wrong.code, 0, wrong.stderr);
    assert.match(wrong.stdout, /^not VXLAN or malformed: 10 \(not_vxlan 10\)$/m);
    assert.equal(readPcap(await Deno.readFile(`${dir}/a.pcap`)).packets.length, 0);
    const right = await weft("decap", "--port", "8472", file, `${dir}/b.pcap`);
    assert.equal(right.code, 0, right.stderr);
    assert.match(right.stdout, /^vni 100: 10 decapsulated, 0 dropped$/m);
    assert.equal(readPcap(await Deno.readFile(`${dir}/b.pcap`)).packets.length, 10);
  });
});

for (const file of ["gso-ipv4-vxlan-ipv4.pcap", "gso-ipv6-vxlan-ipv6.pcap"]) {
  Deno.test(`pcap decap --mtu 1450 refuses the GSO super-frame of ${file} as over_mtu`, async () => {
    await withTemp(async (dir) => {
      const r = await weft("decap", "--mtu", "1450", `${TCPDUMP}/${file}`, `${dir}/out.pcap`);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^vni 5001: 0 decapsulated, 1 dropped \(over_mtu 1\)$/m);
      assert.equal(readPcap(await Deno.readFile(`${dir}/out.pcap`)).packets.length, 0);
    });
  });
}

Deno.test({
  name: "pcap encap output decodes in tshark as VXLAN 42 from 198.18.0.1 to 198.18.0.2:4789, good checksums",
  ignore: NO_TSHARK,
  fn: async () => {
    await withTemp(async (dir) => {
      const out = `${dir}/outer.pcap`;
      const r = await weft(...ENCAP_42, INNER, out);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^vni 42: 63 encapsulated, 0 dropped$/m);
      const input = readPcap(await Deno.readFile(INNER)).packets;
      const written = readPcap(await Deno.readFile(out)).packets;
      assert.equal(written.length, input.length);
      written.forEach((p, i) =>
        assert.ok(Math.abs(p.time - input[i].time) < 1e-6, `packet ${i + 1}: timestamp`)
      );

      const rows = await tshark(out, [
        "vxlan.vni",
        "vxlan.flags",
        "ip.src",
        "ip.dst",
        "udp.dstport",
        "udp.srcport",
        "eth.src",
        "ip.checksum.status",
      ], ["-o", "ip.check_checksum:TRUE"]);
      assert.equal(rows.length, input.length);
      // The core's own source port for each frame, switched for 198.18.0.2 in memory.
      const core = await loadCore({ burst: 64 });
      core.addVni(42, { learning: false, suppress: false });
      core.attachPort(0, 42);
      core.addFlood(42, core.addVtep("198.18.0.2"));
      input.forEach((p, i) => core.load(i, p.data, 0));
      const ports = new Array<number>(input.length);
      for (let t = 0, n = core.process(input.length, 1); t < n; t++) {
        ports[core.tx(t).rxIndex] = core.tx(t).srcPort;
      }
      rows.forEach(([vni, flags, src, dst, dport, sport, ethSrc, ipCheck], i) => {
        const at = `packet ${i + 1}`;
        const first = (v: string) => v.split(",")[0]; // outer; an inner IPv4 frame adds its own
        assert.equal(vni, "42", `${at}: vxlan.vni`);
        assert.equal(flags, "0x0800", `${at}: vxlan.flags (I set, all else zero)`);
        assert.equal(first(src), "198.18.0.1", `${at}: ip.src`);
        assert.equal(first(dst), "198.18.0.2", `${at}: ip.dst`);
        assert.equal(first(dport), "4789", `${at}: udp.dstport`);
        const port = Number(first(sport));
        assert.ok(port >= 32768 && port < 61000, `${at}: flow-hash source port ${port}`);
        assert.equal(port, ports[i], `${at}: exactly the core's source port for this frame`);
        const [outerMac, innerMac] = ethSrc.split(",");
        assert.equal(outerMac, "02:42:c6:12:00:01", `${at}: default outer MAC from 198.18.0.1`);
        assert.equal(innerMac, formatMac(input[i].data.subarray(6, 12)), `${at}: inner eth.src`);
        // tshark 4.0: 0 Bad, 1 Good, 2 Unverified.
        assert.equal(first(ipCheck), "1", `${at}: outer IPv4 header checksum is good`);
      });
    });
  },
});

Deno.test({
  name: "pcap encap over IPv6 with fixed ports and MACs: tshark finds a good UDP checksum",
  ignore: NO_TSHARK,
  fn: async () => {
    await withTemp(async (dir) => {
      const out = `${dir}/outer6.pcap`;
      const r = await weft(
        "encap",
        "--vni",
        "7",
        "--src",
        "[fd00::1]:5555",
        "--dst",
        "[fd00::2]:8472",
        "--src-mac",
        "02:00:00:00:00:0a",
        "--dst-mac",
        "02:00:00:00:00:0b",
        INNER,
        out,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^vni 7: 63 encapsulated, 0 dropped$/m);
      const rows = await tshark(out, [
        "ipv6.src",
        "ipv6.dst",
        "udp.srcport",
        "udp.dstport",
        "udp.checksum.status",
        "vxlan.vni",
        "eth.src",
        "eth.dst",
      ], ["-o", "udp.check_checksum:TRUE", "-d", "udp.port==8472,vxlan"]);
      assert.equal(rows.length, 63);
      for (const [src, dst, sport, dport, check, vni, ethSrc, ethDst] of rows) {
        const first = (v: string) => v.split(",")[0];
        assert.deepEqual([first(src), first(dst), first(sport), first(dport)], [
          "fd00::1",
          "fd00::2",
          "5555",
          "8472",
        ]);
        assert.equal(first(check), "1", "UDP checksum over IPv6 is mandatory and good");
        assert.equal(vni, "7");
        assert.equal(first(ethSrc), "02:00:00:00:00:0a");
        assert.equal(first(ethDst), "02:00:00:00:00:0b");
      }
    });
  },
});

Deno.test("pcap encap --mtu drops larger frames and counts them as over_mtu", async () => {
  await withTemp(async (dir) => {
    const r = await weft(...ENCAP_42, "--mtu", "1400", INNER, `${dir}/o.pcap`);
    assert.equal(r.code, 0, r.stderr);
    // The four 1400-byte pings (two echoes, two replies) carry 1428-byte IP packets.
    assert.match(r.stdout, /^vni 42: 59 encapsulated, 4 dropped \(over_mtu 4\)$/m);
    assert.equal(readPcap(await Deno.readFile(`${dir}/o.pcap`)).packets.length, 59);
  });
});

Deno.test("pcap without a subcommand prints its usage and exits 2", async () => {
  const r = await weft();
  assert.equal(r.code, 2);
  assert.match(r.stdout, /weft pcap decap/);
  assert.match(r.stdout, /weft pcap encap --vni N --src IP\[:PORT\] --dst IP\[:PORT\]/);
  assert.match(r.stdout, /1500/);
});

Deno.test("pcap errors: one line and exit 2 for missing, non-pcap, truncated input and link types not read", async () => {
  await withTemp(async (dir) => {
    assertUsageError(
      await weft("decap", `${dir}/missing.pcap`, `${dir}/o.pcap`),
      /cannot read .*missing\.pcap: no such file/,
    );

    await Deno.writeTextFile(`${dir}/notes.txt`, "these are notes, not a capture\n");
    assertUsageError(
      await weft("decap", `${dir}/notes.txt`, `${dir}/o.pcap`),
      /notes\.txt: not a capture: neither pcap nor pcapng/,
    );

    const head = (await Deno.readFile(OUTER)).subarray(0, 100);
    await Deno.writeFile(`${dir}/cut.pcap`, head);
    assertUsageError(
      await weft("decap", `${dir}/cut.pcap`, `${dir}/o.pcap`),
      /cut\.pcap: Truncated pcap file/,
    );
    assertUsageError(await weft(...ENCAP_42, `${dir}/cut.pcap`, `${dir}/o.pcap`), /Truncated pcap file/);

    const raw = new Uint8Array(24);
    const v = new DataView(raw.buffer);
    v.setUint32(0, 0xa1b2c3d4, true);
    v.setUint32(20, 101, true); // LINKTYPE_RAW: decap reads it, encap wants Ethernet frames
    await Deno.writeFile(`${dir}/raw.pcap`, raw);
    assertUsageError(await weft(...ENCAP_42, `${dir}/raw.pcap`, `${dir}/o.pcap`), /link type RAW \(101\) is not Ethernet/);
    v.setUint32(20, 147, true); // LINKTYPE_USER0
    await Deno.writeFile(`${dir}/user0.pcap`, raw);
    assertUsageError(
      await weft("decap", `${dir}/user0.pcap`, `${dir}/o.pcap`),
      /link type 147 is not one weft reads .*-i IFACE.*-y EN10MB/,
    );

    const outFiles = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.ok(!outFiles.includes("o.pcap"), "nothing written on error");
  });
});

Deno.test("pcap encap errors: bad VNI, bad address, mixed families, missing options", async () => {
  const base = ["--src", "198.18.0.1", "--dst", "198.18.0.2", INNER, "/nonexistent/out.pcap"];
  // VNI 0 is valid (RFC 7348, the kernel's `id 0`): tests/core/kernel_wire_test.ts runs it.
  for (const vni of ["16777216", "-1", "42x", "0x2a"]) {
    assertUsageError(await weft("encap", `--vni=${vni}`, ...base), /invalid --vni .*0\.\.16777215/);
  }
  assertUsageError(
    await weft(...ENCAP_42, "--df", "maybe", INNER, "o.pcap"),
    /invalid --df "maybe": expected unset, set or inherit/,
  );
  assertUsageError(
    await weft(...ENCAP_42, "--udpcsum", "--noudpcsum", INNER, "o.pcap"),
    /--udpcsum or --noudpcsum/,
  );
  assertUsageError(
    await weft("encap", "--vni", "42", "--src", "198.18.0", "--dst", "198.18.0.2", INNER, "o.pcap"),
    /invalid --src: Invalid IP address "198\.18\.0"/,
  );
  assertUsageError(
    await weft("encap", "--vni", "42", "--src", "198.18.0.1", "--dst", "fd00::2", INNER, "o.pcap"),
    /must both be IPv4 or both IPv6/,
  );
  assertUsageError(await weft(...ENCAP_42, "--dst-mac", "nope", INNER, "o.pcap"), /invalid --dst-mac/);
  assertUsageError(
    await weft("encap", "--src", "198.18.0.1", "--dst", "198.18.0.2", INNER, "o.pcap"),
    /needs --vni/,
  );
  assertUsageError(await weft("decap", "--frobnicate", OUTER, "o.pcap"), /unknown option --frobnicate/);
  assertUsageError(await weft("decap", OUTER), /expected IN\.pcap and OUT\.pcap/);
  assertUsageError(await weft("unwrap", OUTER, "o.pcap"), /unknown pcap subcommand "unwrap"/);
});
