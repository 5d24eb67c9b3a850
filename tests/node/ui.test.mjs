// `weft ui` in a real browser: Debian's Chromium, headless, driven by playwright-core (which
// downloads no browser). The page is served by the CLI as a user runs it; a fixture is picked in
// its file input; what the page shows is checked against tshark (Wireshark 4.0) reading the same
// capture, and the download against what `weft pcap decap` writes. A screenshot lands in the
// test's temporary folder (and at $WEFT_UI_SCREENSHOT when set: docs/ui.png is taken this way).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { readPcap } from "../../build/weft-core.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const FIXTURES = fileURLToPath(new URL("../../../shared/fixtures/", import.meta.url));
const OUTER = join(FIXTURES, "kernel-vxlan-vni42/outer.pcap");
const PORT_8472 = join(FIXTURES, "tcpdump-tests/vxlan_port_8472.pcap");
const DENO = join(ROOT, "node_modules/.bin/deno");
const ENV = { ...process.env, DENO_NO_UPDATE_CHECK: "1" };
const CHROMIUM = {
  executablePath: "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
  ],
};
/** Bounds for a loaded machine: the server's start, the browser's start, one capture's analysis. */
const TIMEOUT_MS = 60_000;
/** Outer Ethernet (14) + IPv4 (20) + UDP (8) + VXLAN (8): where the inner frame starts in OUTER. */
const INNER_OFFSET = 50;
/** UDP header + VXLAN header: the outer UDP length minus this is the inner frame's. */
const UDP_VXLAN_LEN = 16;

let dir, server, url, browser;

before(async () => {
  // Say what is missing rather than fail on a spawn error (.ci/run installs both from Debian).
  assert.ok(
    existsSync(CHROMIUM.executablePath),
    "the browser test needs Debian's chromium (apt-get install chromium)",
  );
  assert.equal(
    spawnSync("tshark", ["--version"]).status,
    0,
    "the browser test needs tshark (apt-get install tshark)",
  );
  dir = mkdtempSync(join(tmpdir(), "weft-ui-"));
  server = spawn(DENO, ["run", "-A", "cli/main.ts", "ui", "--port", "0"], { cwd: ROOT, env: ENV });
  url = await new Promise((resolve, reject) => {
    let out = "", err = "";
    const timer = setTimeout(
      () => reject(new Error(`weft ui printed no URL in ${TIMEOUT_MS} ms: ${err}`)),
      TIMEOUT_MS,
    );
    server.stdout.on("data", (d) => {
      out += d;
      const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[0]);
      }
    });
    server.stderr.on("data", (d) => (err += d));
    server.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`weft ui exited (${code}) before listening: ${err}`));
    });
  });
  browser = await chromium.launch({ ...CHROMIUM, timeout: TIMEOUT_MS });
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server.once("exit", resolve));
    server.kill("SIGTERM");
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A fresh page with `file` picked; resolves once the page says "done" or "error". */
async function openCapture(file) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 }, acceptDownloads: true });
  const problems = [];
  page.on("pageerror", (e) => problems.push(e.message));
  page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
  // The capture stays in the browser: the page asks for its own three files and nothing else.
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  await page.goto(url, { timeout: TIMEOUT_MS });
  await page.setInputFiles("#file", file);
  await settled(page);
  return { page, problems, requests };
}

async function settled(page) {
  await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state), null, {
    timeout: TIMEOUT_MS,
  });
}

const cells = (page, table) =>
  page.$$eval(`#${table} tbody tr`, (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));

/** tshark's decode of every VXLAN packet: for fields with an outer and an inner value, the inner. */
function tsharkVxlan(file, extra = []) {
  const fields = [
    "frame.number",
    "frame.time_relative",
    "vxlan.vni",
    "eth.src",
    "eth.dst",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "arp.src.proto_ipv4",
    "arp.dst.proto_ipv4",
    "udp.length",
    "_ws.col.Protocol",
  ];
  const out = execFileSync("tshark", [
    "-r",
    file,
    ...extra,
    "-Y",
    "vxlan.flag_i==1",
    "-T",
    "fields",
    ...fields.flatMap((f) => ["-e", f]),
  ], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  const inner = (v) => v.split(",").at(-1);
  return out.trimEnd().split("\n").map((line) => {
    const [number, time, vni, esrc, edst, isrc, idst, i6src, i6dst, asrc, adst, udpLength, proto] = line
      .split("\t");
    const v4 = isrc.includes(",");
    return {
      number: Number(number),
      time: Number(time),
      vni: Number(vni),
      vtep: isrc.split(",")[0],
      srcMac: inner(esrc),
      dstMac: inner(edst),
      src: v4 ? inner(isrc) : i6src || asrc,
      dst: v4 ? inner(idst) : i6dst || adst,
      length: Number(udpLength.split(",")[0]) - UDP_VXLAN_LEN,
      protocol: proto,
    };
  });
}

/** `weft pcap decap` as a user runs it: its summary lines and the file it writes. */
function cliDecap(file, port = 4789, mtu = 1500) {
  const out = join(dir, `cli-${port}-${mtu}-${file.split("/").at(-1)}.pcap`);
  const args = ["pcap", "decap", "--port", String(port), "--mtu", String(mtu), file, out];
  const stdout = execFileSync(DENO, ["run", "-A", "cli/main.ts", ...args], {
    cwd: ROOT,
    env: ENV,
    encoding: "utf8",
  });
  return {
    lines: stdout.trimEnd().split("\n").filter((l) => !l.startsWith("wrote ")),
    bytes: readFileSync(out),
  };
}

test("the page decapsulates the kernel capture as tshark decodes it and weft pcap decap writes it", async () => {
  const expected = tsharkVxlan(OUTER);
  assert.equal(expected.length, 63, "tshark finds the 63 VXLAN packets of the README");
  const cli = cliDecap(OUTER);
  const { page, problems, requests } = await openCapture(OUTER);
  try {
    assert.equal(await page.getAttribute("body", "data-state"), "done", await page.textContent("#status"));

    // The per-VNI summary: VNI 42, every VXLAN packet decapsulated, none dropped; the CLI's lines.
    assert.deepEqual(await cells(page, "summary"), [["42", String(expected.length), "0", ""]]);
    assert.deepEqual((await page.textContent("#lines")).split("\n"), cli.lines);

    // The frame table, row for row against tshark; one row's every field spelt out.
    const rows = await cells(page, "frames");
    assert.equal(rows.length, expected.length);
    rows.forEach((r, i) => {
      const e = expected[i];
      const [number, time, vni, srcMac, dstMac, src, dst, protocol, length] = r;
      assert.deepEqual(
        { number: Number(number), vni: Number(vni), srcMac, dstMac, src, dst, length: Number(length) },
        {
          number: e.number,
          vni: e.vni,
          srcMac: e.srcMac,
          dstMac: e.dstMac,
          src: e.src,
          dst: e.dst,
          length: e.length,
        },
        `frame ${e.number}`,
      );
      assert.ok(
        Math.abs(Number(time) - e.time) < 1.5e-6,
        `frame ${e.number}: time ${time}, tshark ${e.time}`,
      );
      // Wireshark names the IGMP version (IGMPv3); the page, as the IP header does, the protocol.
      if (e.protocol.startsWith("IGMP")) assert.equal(protocol, "IGMP", `frame ${e.number}`);
      else assert.equal(protocol, e.protocol, `frame ${e.number}`);
    });
    const ping = expected.find((e) => e.protocol === "ICMP" && e.vtep === "198.18.0.1");
    assert.ok(ping, "tshark finds an ICMP packet from h1");
    assert.deepEqual(rows[expected.indexOf(ping)].slice(2), [
      "42",
      "02:42:0a:00:00:01",
      "02:42:0a:00:00:02",
      "10.0.0.1",
      "10.0.0.2",
      "ICMP",
      String(ping.length),
    ]);

    // The FDB: each unicast inner source MAC behind the outer source of its last packet, its age
    // the whole seconds from that packet to the capture's last one (every packet here is VXLAN).
    const learnt = new Map();
    for (const e of expected) {
      if ((parseInt(e.srcMac.slice(0, 2), 16) & 1) === 0) learnt.set(e.srcMac, e);
    }
    const end = Math.floor(expected.at(-1).time);
    assert.deepEqual(
      await cells(page, "fdb"),
      [...learnt].sort(([a], [b]) => a.localeCompare(b))
        .map(([mac, e]) => ["42", mac, `vtep ${e.vtep}`, "learned", `${end - Math.floor(e.time)}s`]),
    );

    // The download: byte for byte what the CLI writes, and each record the outer packet's payload.
    const [download] = await Promise.all([
      page.waitForEvent("download", { timeout: TIMEOUT_MS }),
      page.click("#download"),
    ]);
    assert.equal(download.suggestedFilename(), "outer-decap.pcap");
    const saved = join(dir, "page-decap.pcap");
    await download.saveAs(saved);
    const bytes = readFileSync(saved);
    assert.ok(
      bytes.equals(cli.bytes),
      `the download (${bytes.length} B) is what weft pcap decap wrote (${cli.bytes.length} B)`,
    );
    const outer = readPcap(readFileSync(OUTER)).packets;
    const records = readPcap(bytes).packets;
    assert.equal(records.length, expected.length);
    records.forEach((r, i) => {
      const p = outer[expected[i].number - 1];
      assert.deepEqual(Buffer.from(r.data), Buffer.from(p.data.subarray(INNER_OFFSET)), `record ${i + 1}`);
      assert.ok(Math.abs(r.time - p.time) < 1e-6, `record ${i + 1}: time`);
    });

    const shot = join(dir, "ui.png");
    await page.screenshot({ path: shot, fullPage: false });
    assert.ok(readFileSync(shot).subarray(1, 4).toString() === "PNG", "a PNG screenshot");
    if (process.env.WEFT_UI_SCREENSHOT) copyFileSync(shot, process.env.WEFT_UI_SCREENSHOT);
    assert.deepEqual(problems, [], "no script errors on the page");
    assert.deepEqual(
      requests.filter((r) => !r.startsWith("blob:")).sort(),
      [url, `${url}weft-core.mjs`, `${url}weft-ui.js`],
      "no request but the page's own files (the download is a blob: URL)",
    );
  } finally {
    await page.close();
  }
});

test("the page's UDP port: port 8472 traffic is not VXLAN at 4789 and decapsulates at 8472", async () => {
  const expected = tsharkVxlan(PORT_8472, ["-d", "udp.port==8472,vxlan"]);
  const { page, problems } = await openCapture(PORT_8472);
  try {
    assert.deepEqual(await cells(page, "summary"), [[
      "none (not VXLAN or malformed)",
      "0",
      "10",
      "not_vxlan 10",
    ]]);
    assert.deepEqual((await page.textContent("#lines")).split("\n"), cliDecap(PORT_8472).lines);
    assert.equal((await cells(page, "frames")).length, 0);
    await page.fill("#port", "8472");
    await page.evaluate(() => (document.body.dataset.state = "busy"));
    await page.dispatchEvent("#port", "change");
    await settled(page);
    assert.deepEqual(await cells(page, "summary"), [["100", String(expected.length), "0", ""]]);
    assert.deepEqual((await page.textContent("#lines")).split("\n"), cliDecap(PORT_8472, 8472).lines);
    const rows = await cells(page, "frames");
    assert.deepEqual(
      rows.map((r) => [Number(r[0]), r[3], r[4]]),
      expected.map((e) => [e.number, e.srcMac, e.dstMac]),
    );
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
  }
});

test("pcapng (µs and ns) and Linux cooked (SLL, SLL2) captures: what tshark decodes, what weft pcap decap writes", async () => {
  const files = [
    "field-cases/pcapng/capture-us.pcapng",
    "field-cases/pcapng/capture-ns.pcapng",
    "field-cases/sll2-any/any-sll.pcap",
    "field-cases/sll2-any/any-sll2.pcap",
  ];
  for (const name of files) {
    const file = join(FIXTURES, name);
    const expected = tsharkVxlan(file);
    assert.ok(expected.length > 0, `tshark finds VXLAN in ${name}`);
    const cli = cliDecap(file);
    const { page, problems } = await openCapture(file);
    try {
      assert.equal(await page.getAttribute("body", "data-state"), "done", await page.textContent("#status"));
      assert.match(await page.textContent("#status"), name.endsWith("ng") ? /\(pcapng\)/ : /\(pcap\)/);
      assert.deepEqual((await page.textContent("#lines")).split("\n"), cli.lines, name);
      const summary = await cells(page, "summary");
      assert.deepEqual(summary, [["42", String(expected.length), "0", ""]], name);
      assert.deepEqual(
        (await cells(page, "frames")).map((r) => [Number(r[0]), r[2], r[3], r[4], r[5], r[6], r[7], r[8]]),
        expected.map((
          e,
        ) => [e.number, String(e.vni), e.srcMac, e.dstMac, e.src, e.dst, e.protocol, String(e.length)]),
        name,
      );
      const [download] = await Promise.all([
        page.waitForEvent("download", { timeout: TIMEOUT_MS }),
        page.click("#download"),
      ]);
      const saved = join(dir, `page-${name.split("/").at(-1)}`);
      await download.saveAs(saved);
      assert.ok(readFileSync(saved).equals(cli.bytes), `${name}: the download is what weft pcap decap wrote`);
      assert.deepEqual(problems, [], name);
    } finally {
      await page.close();
    }
  }
});

test("drop reasons and the MTU input: a GSO super-frame is over_mtu at 1500 and passes at 65000", async () => {
  const file = join(FIXTURES, "tcpdump-tests/gso-ipv4-vxlan-ipv4.pcap");
  const { page, problems } = await openCapture(file);
  try {
    assert.deepEqual(await cells(page, "summary"), [["5001", "0", "1", "over_mtu 1"]]);
    assert.deepEqual((await page.textContent("#lines")).split("\n"), cliDecap(file).lines);
    assert.equal((await cells(page, "frames")).length, 0);
    await page.fill("#mtu", "65000");
    await page.evaluate(() => (document.body.dataset.state = "busy"));
    await page.dispatchEvent("#mtu", "change");
    await settled(page);
    assert.deepEqual(await cells(page, "summary"), [["5001", "1", "0", ""]]);
    assert.deepEqual((await page.textContent("#lines")).split("\n"), cliDecap(file, 4789, 65000).lines);
    const [expected] = tsharkVxlan(file);
    const [row] = await cells(page, "frames");
    assert.deepEqual(
      [Number(row[0]), row[3], row[4], row[5], row[6], row[7], Number(row[8])],
      [
        expected.number,
        expected.srcMac,
        expected.dstMac,
        expected.src,
        expected.dst,
        expected.protocol,
        expected.length,
      ],
    );
    await page.fill("#mtu", "9");
    await page.dispatchEvent("#mtu", "change");
    await settled(page);
    assert.equal(await page.textContent("#status"), 'error: MTU "9": expected an integer in 68..65000');
    assert.equal(await page.isHidden("#download"), true);
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
  }
});

test("outer IPv4 fragments: the page reassembles them as weft pcap decap does and numbers the frame as tshark", async () => {
  const file = join(FIXTURES, "field-cases/outer-fragments/outer-ipv4-fragments.pcap");
  const expected = tsharkVxlan(file);
  assert.equal(expected.length, 1, "tshark reassembles one VXLAN datagram");
  const cli = cliDecap(file);
  assert.ok(cli.lines.includes("outer fragments: 2 reassembled into 1 datagrams"), cli.lines.join("; "));
  const { page, problems } = await openCapture(file);
  try {
    assert.deepEqual((await page.textContent("#lines")).split("\n"), cli.lines);
    assert.deepEqual(
      (await cells(page, "frames")).map((r) => [Number(r[0]), r[3], r[5], r[6], r[7], Number(r[8])]),
      expected.map((e) => [e.number, e.srcMac, e.src, e.dst, e.protocol, e.length]),
    );
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
  }
});

test("a capture dropped on the page is read as a picked one: tcpdump's vxlan.pcap, VNI 100", async () => {
  const file = join(FIXTURES, "tcpdump-tests/vxlan.pcap");
  const expected = tsharkVxlan(file);
  const page = await browser.newPage();
  try {
    await page.goto(url, { timeout: TIMEOUT_MS });
    // What a drag from the file manager delivers: a DataTransfer holding a File.
    const data = await page.evaluateHandle((bytes) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(bytes)], "vxlan.pcap"));
      return dt;
    }, [...readFileSync(file)]);
    await page.dispatchEvent("#drop", "dragover", { dataTransfer: data });
    assert.equal(await page.getAttribute("#drop", "class"), "over");
    await page.dispatchEvent("#drop", "drop", { dataTransfer: data });
    await settled(page);
    assert.match(await page.textContent("#status"), /^vxlan\.pcap \(pcap\): /);
    assert.deepEqual(await cells(page, "summary"), [["100", String(expected.length), "0", ""]]);
    assert.deepEqual((await page.textContent("#lines")).split("\n"), cliDecap(file).lines);
    assert.deepEqual(
      (await cells(page, "frames")).map((r) => [Number(r[0]), r[3], r[4], r[5], r[6], r[8]]),
      expected.map((e) => [e.number, e.srcMac, e.dstMac, e.src, e.dst, String(e.length)]),
    );
  } finally {
    await page.close();
  }
});

test("the page refuses a file that is not a capture with one error line and shows nothing", async () => {
  const readme = join(FIXTURES, "kernel-vxlan-vni42/README.md");
  const { page } = await openCapture(readme);
  try {
    assert.equal(await page.getAttribute("body", "data-state"), "error");
    assert.match(await page.textContent("#status"), /^error: README\.md: not a capture: neither pcap nor pcapng \(first bytes 0x/);
    assert.equal(await page.$$eval("table tr", (r) => r.length), 0);
    assert.equal(await page.isHidden("#download"), true);
  } finally {
    await page.close();
  }
});

test("weft ui refuses a bad --port with one error line and exit code 2", () => {
  for (
    const [args, message] of [
      [["--port", "http"], /^error: invalid --port "http": expected an integer in 0\.\.65535\n$/],
      [["--port", "70000"], /^error: invalid --port "70000": expected an integer in 0\.\.65535\n$/],
      [["--listen", "0.0.0.0"], /^error: Unknown option '--listen'.*; run "weft ui --help"\n$/],
    ]
  ) {
    const r = spawnSync(DENO, ["run", "-A", "cli/main.ts", "ui", ...args], {
      cwd: ROOT,
      env: ENV,
      encoding: "utf8",
      timeout: TIMEOUT_MS,
    });
    assert.equal(r.status, 2, args.join(" "));
    assert.match(r.stderr, message);
    assert.equal(r.stdout, "");
  }
});
