// switch/vtep.ts address index: how the ids spread over it. Its own module so that the table
// here is the first and only one (the VTEP count and lookup cache live for the module's life).
//
// The index is read directly: layoutVteps(64) lays out 64 records of 32 B, then the index of
// 128 u32 slots (id + 1, 0 = empty), as the header of vtep.ts describes.
import { memoryUsed } from "../../assembly/layout";
import { add, find, layoutVteps } from "../../assembly/switch/vtep";
import { beforeLayout } from "./support/heap";

/** ::ffff:a.b.c.d */
function v4(ip: u32): usize {
  let p = memory.data(16);
  store<u64>(p, 0);
  store<u32>(p, bswap<u32>(0xffff), 8);
  store<u32>(p, bswap<u32>(ip), 12);
  return p;
}

describe("vtep index", () => {
  test("spreads underlay addresses 198.18.0.1-16 over many probe runs, not one chain", () => {
    beforeLayout();
    let records = memoryUsed();
    expect(layoutVteps(64)).toBe(true);
    let index = records + 64 * 32;
    for (let i: u32 = 1; i <= 16; i++) expect(add(v4(0xc6120000 | i), 4789, 0)).toBe(<i32>i - 1);
    let occupied = 0;
    let runs = 0;
    for (let s = 0; s < 128; s++) {
      let here = load<u32>(index + s * 4) != 0;
      let before = load<u32>(index + ((s + 127) & 127) * 4) != 0;
      if (here) occupied++;
      if (here && !before) runs++;
    }
    expect(occupied).toBe(16, "the index layout these specs assume");
    // Random homes give 9-16 runs in 99.9 % of cases; one run means every address shares a
    // home and each lookup walks the whole chain.
    expect(runs).toBeGreaterThanOrEqual(8, "runs of occupied index slots");
    for (let i: u32 = 1; i <= 16; i++) expect(find(v4(0xc6120000 | i))).toBe(<i32>i - 1);
  });
});
