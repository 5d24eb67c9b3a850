// The core's counter order, read from its own list (assembly/counters.ts), for the build and
// tests/core/abi_test.ts to compare with the names the binding prints (cli/core/counters.ts).
// A counter's name is its constant's, lower-cased, without the DROP_/LINK_ prefix: RX_FRAMES is
// "rx_frames", DROP_RUNT "runt", LINK_DROPS "drops". Order is by value, not by line, so a
// renumbered constant counts as a reorder.
//
// A VNI block holds the named counters (0 .. DROP_BASE-1), one per drop reason (DROP_BASE +
// reason), then the late counters, added after the drop reasons so that the block only grows at
// its end (PMTU_ICMP = DROP_BASE + DROP_REASONS, …, up to BLOCK_COUNTERS). Late counters are
// written as sums of the constants above them, so values here are evaluated, not only read.

/** Block sizes and bases: constants of counters.ts that are not counters. */
const NOT_COUNTERS = new Set(["DROP_BASE", "DROP_REASONS", "BLOCK_COUNTERS", "BLOCK_BYTES", "LINK_COUNTERS", "LINK_BYTES"]);

/**
 * Constants of the form `@inline export const NAME: u32 = EXPR;`, where EXPR is an integer
 * literal, a constant defined above it, or a sum of products of those (`PMTU_ICMP + 1`,
 * `DROP_BASE + DROP_REASONS`, `LINK_COUNTERS * 8`).
 */
function constants(source) {
  const values = new Map();
  const out = [];
  for (const m of source.matchAll(/@inline\s+export\s+const\s+([A-Z0-9_]+)\s*:\s*u32\s*=\s*([^;]+);/g)) {
    const [, name, expr] = m;
    const value = expr.split("+").reduce((sum, term) =>
      sum + term.split("*").reduce((product, factor) => {
        const f = factor.trim();
        if (/^(0x[0-9a-f]+|\d+)$/i.test(f)) return product * Number(f);
        if (values.has(f)) return product * values.get(f);
        throw new Error(`assembly/counters.ts: ${name} = ${expr.trim()}: cannot read "${f}" (a literal or a constant above it)`);
      }, 1), 0);
    values.set(name, value);
    out.push({ name, value });
  }
  return { list: out, values };
}

function ordered(list, what, first = 0) {
  const byValue = [...list].sort((a, b) => a.value - b.value);
  byValue.forEach((c, i) => {
    if (c.value !== first + i) {
      throw new Error(`assembly/counters.ts: ${what} ${c.name} is ${c.value}, expected ${first + i} (gap or duplicate)`);
    }
  });
  return byValue;
}

function size(values, name, expected, what) {
  if (!values.has(name)) throw new Error(`assembly/counters.ts: no ${name}`);
  if (values.get(name) !== expected) {
    throw new Error(`assembly/counters.ts: ${name} is ${values.get(name)}, but there are ${expected} ${what}`);
  }
}

/**
 * The four counter lists of assembly/counters.ts, in the core's order.
 * @param {string} source the text of assembly/counters.ts
 * @returns {{ vni: string[], drop: string[], late: string[], link: string[] }}
 * @throws {Error} when a list has a gap or a duplicate index, or a block size (DROP_BASE,
 *   DROP_REASONS, BLOCK_COUNTERS, LINK_COUNTERS) does not cover its list.
 */
export function coreCounterNames(source) {
  const { list, values } = constants(source);
  const counters = list.filter((c) => !NOT_COUNTERS.has(c.name));
  const drop = counters.filter((c) => c.name.startsWith("DROP_"));
  const link = counters.filter((c) => c.name.startsWith("LINK_"));
  const block = counters.filter((c) => !c.name.startsWith("DROP_") && !c.name.startsWith("LINK_"));
  const base = values.get("DROP_BASE") ?? 0;
  const vni = block.filter((c) => c.value < base);
  const late = block.filter((c) => c.value >= base);
  const result = {
    vni: ordered(vni, "counter").map((c) => c.name.toLowerCase()),
    drop: ordered(drop, "drop reason").map((c) => c.name.slice(5).toLowerCase()),
    late: ordered(late, "late counter", base + (values.get("DROP_REASONS") ?? 0)).map((c) => c.name.toLowerCase()),
    link: ordered(link, "link counter").map((c) => c.name.slice(5).toLowerCase()),
  };
  size(values, "DROP_BASE", result.vni.length, "named counters");
  size(values, "DROP_REASONS", result.drop.length, "drop reasons");
  size(values, "BLOCK_COUNTERS", base + result.drop.length + result.late.length, "counters in a VNI block");
  size(values, "LINK_COUNTERS", result.link.length, "link counters");
  return result;
}

/**
 * Where the binding's names differ from the core's, one line per list that differs; empty when
 * they agree.
 * @param {{ vni: string[], drop: string[], late: string[], link: string[] }} core from coreCounterNames
 * @param {{ vni: readonly string[], drop: readonly string[], late: readonly string[], link: readonly string[] }} binding
 */
export function counterDifferences(core, binding) {
  const out = [];
  for (const key of ["vni", "drop", "late", "link"]) {
    const a = core[key] ?? [], b = binding[key] ?? [];
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) {
      if (a[i] !== b[i]) {
        out.push(`${key} counter ${i}: core ${a[i] ?? "(none)"}, binding ${b[i] ?? "(none)"}`);
        break;
      }
    }
  }
  return out;
}
