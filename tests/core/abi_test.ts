// The core's ABI (assembly/abi.ts, assembly/counters.ts) and the binding's copy (cli/core/abi.ts,
// cli/core/counters.ts) agree: every layout length, field offset, flag, error code and counter
// position. Each check is also shown failing on a deliberately changed copy.
import assert from "node:assert/strict";
import { coreModule } from "../../cli/core/load.ts";
import {
  ABI,
  abiDifferences,
  AbiMismatchError,
  checkAbi,
  E_NOT_FOUND,
  RX,
  RX_DESC_LEN,
  TX,
  TX_ENTRY_LEN,
} from "../../cli/core/abi.ts";
import { CoreError, WeftCore } from "../../cli/core/mod.ts";
import {
  DROP_REASONS,
  LATE_COUNTERS,
  LINK_COUNTERS,
  verdictOf,
  VNI_COUNTERS,
} from "../../cli/core/counters.ts";
import { coreCounterNames, counterDifferences } from "../../build/counters_check.mjs";
import { eth } from "./frames.ts";

const COUNTERS_TS = new URL("../../assembly/counters.ts", import.meta.url);

async function coreExports(): Promise<Record<string, unknown>> {
  const instance = await WebAssembly.instantiate(await coreModule(), {});
  return instance.exports as Record<string, unknown>;
}

const bindingCounters = {
  vni: VNI_COUNTERS,
  drop: DROP_REASONS.map(([name]) => name),
  late: LATE_COUNTERS,
  link: LINK_COUNTERS,
};

Deno.test("every ABI value of the binding equals the global the Wasm core exports", async () => {
  const exports = await coreExports();
  assert.deepEqual(abiDifferences(exports), []);
  // And the other way round: no global of the core goes unchecked by the binding.
  const globals = Object.keys(exports).filter((k) => exports[k] instanceof WebAssembly.Global);
  assert.deepEqual(globals.filter((k) => !(k in ABI)), []);
  assert.ok(globals.length >= 40, `only ${globals.length} ABI globals exported`);
});

Deno.test("RX and TX field offsets lie inside their records and do not overlap", () => {
  // Field widths as drawn in assembly/pipeline/burst.ts.
  const rx: [number, number][] = [
    [RX.PTR, 4],
    [RX.LEN, 4],
    [RX.PORT, 2],
    [RX.PEER_PORT, 2],
    [RX.VERDICT, 2],
    [RX.FLAGS, 2],
    [RX.PEER, 16],
    [RX.GSO_SIZE, 2],
    [RX.TOS, 1],
  ];
  const tx: [number, number][] = [
    [TX.PTR, 4],
    [TX.LEN, 4],
    [TX.TARGET, 4],
    [TX.SRC_PORT, 2],
    [TX.RX_INDEX, 2],
    [TX.GSO_SIZE, 2],
    [TX.FLAGS, 2],
    [TX.VNET, 10],
    [TX.TOS, 1],
  ];
  for (const [fields, len] of [[rx, RX_DESC_LEN], [tx, TX_ENTRY_LEN]] as const) {
    const sorted = [...fields].sort((a, b) => a[0] - b[0]);
    sorted.forEach(([off, width], i) => {
      assert.equal(off % Math.min(width, 4), 0, `field at ${off} misaligned`);
      assert.ok(off + width <= (sorted[i + 1]?.[0] ?? len), `field at ${off} overlaps the next`);
    });
  }
});

Deno.test("a core whose layout, flag or error code differs is refused at load, naming the field", async () => {
  const exports = await coreExports();
  const changed = {
    ...exports,
    RX_DESC_LEN: new WebAssembly.Global({ value: "i32" }, 40),
    E_NOT_FOUND: new WebAssembly.Global({ value: "i32" }, -7),
  };
  assert.throws(() => checkAbi(changed), (e: unknown) => {
    assert.ok(e instanceof AbiMismatchError);
    assert.deepEqual(e.differences, [
      "RX_DESC_LEN: core 40, binding 48",
      "E_NOT_FOUND: core -7, binding -5",
    ]);
    return true;
  });
  // A module without the ABI globals (an empty one, as a stale build would be) never loads.
  const empty = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
  assert.throws(() => WeftCore.createSync(empty), AbiMismatchError);
});

Deno.test("the binding's counter names follow the core's counter order", async () => {
  const core = coreCounterNames(await Deno.readTextFile(COUNTERS_TS));
  assert.deepEqual(counterDifferences(core, bindingCounters), []);
  assert.equal(core.vni.length, VNI_COUNTERS.length);
  assert.equal(core.drop.length, DROP_REASONS.length);
  assert.equal(core.late.length, LATE_COUNTERS.length);
  assert.ok(core.late.length > 0, "the late counters (after the drop reasons) are read too");
});

Deno.test("a late counter (after the drop reasons) the binding does not name is found", async () => {
  const source = await Deno.readTextFile(COUNTERS_TS);
  const last = LATE_COUNTERS.at(-1)!.toUpperCase();
  // A counter added at the block's end in the core only, BLOCK_COUNTERS grown to hold it.
  const added = source
    .replace(
      /(@inline export const BLOCK_COUNTERS: u32 = )[^;]+;/,
      `@inline export const LATE_NEW: u32 = ${last} + 1;\n$1LATE_NEW + 1;`,
    );
  assert.deepEqual(counterDifferences(coreCounterNames(added), bindingCounters), [
    `late counter ${LATE_COUNTERS.length}: core late_new, binding (none)`,
  ]);
  // Without growing BLOCK_COUNTERS, the core's own block would be too short: refused.
  const unsized = source.replace(
    /(@inline export const BLOCK_COUNTERS: u32 = )/,
    `@inline export const LATE_NEW: u32 = ${last} + 1;\n$1`,
  );
  assert.throws(() => coreCounterNames(unsized), /BLOCK_COUNTERS is \d+, but there are \d+ counters/);
});

Deno.test("a reordered counter in the core is found by the counter check", async () => {
  // Swap the indices of FDB_HIT and FDB_MISS, as an edit of assembly/counters.ts might.
  const source = (await Deno.readTextFile(COUNTERS_TS))
    .replace(/(FDB_HIT: u32 = )(\d+)/, "$1__MISS__")
    .replace(/(FDB_MISS: u32 = )(\d+)/, (_, p, v) => `${p}${Number(v) - 1}`)
    .replace("__MISS__", String(VNI_COUNTERS.indexOf("fdb_miss")));
  assert.deepEqual(counterDifferences(coreCounterNames(source), bindingCounters), [
    `vni counter ${VNI_COUNTERS.indexOf("fdb_hit")}: core fdb_miss, binding fdb_hit`,
  ]);
  // A gap (a counter removed without renumbering) is refused outright.
  assert.throws(
    () => coreCounterNames(source.replace(/RUNT: u32 = 1;/, "RUNT: u32 = 99;")),
    /gap or duplicate/,
  );
});

Deno.test("the core counts a drop under the name and verdict the binding gives it", async () => {
  const core = WeftCore.createSync(await coreModule());
  core.addVni(42);
  core.attachPort(0, 42);
  core.load(0, new Uint8Array(10), 0);
  core.process(1, 1);
  assert.equal(core.verdict(0), verdictOf("runt"));
  assert.equal(core.counters(42).dropped.runt, 1);
  core.load(0, eth("02:42:0a:00:00:02", "02:42:0a:00:00:01"), 7); // port 7: not attached
  core.process(1, 1);
  assert.equal(core.verdict(0), verdictOf("unknown_port"));
  assert.equal(core.counters().dropped.unknown_port, 1);
  assert.throws(() => core.counters(99), (e: unknown) => e instanceof CoreError && e.code === E_NOT_FOUND);
});
