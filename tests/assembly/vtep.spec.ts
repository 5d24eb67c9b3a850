// switch/vtep.ts: remote VTEPs get small, stable ids; the address index finds them again.
//
// vtepCount and find()'s one-entry cache live for the module's life (init runs once), so these
// specs share one table of 16 and use fresh addresses per test; the "full" spec runs last.
import { VTEP_IN_USE, VTEP_STATIC, add, find, layoutVteps, maxVteps, record, vtepCount, vtepFlags, vtepPort } from "../../assembly/switch/vtep";
import { beforeLayout } from "./support/heap";

let ready = false;

function setup(): void {
  if (ready) return;
  ready = true;
  beforeLayout();
  expect(layoutVteps(16)).toBe(true);
}

/** ::ffff:198.18.x.y, IPv4-mapped as the core stores underlay IPv4 addresses. */
function v4(x: u32, y: u32): usize {
  let p = memory.data(16);
  store<u64>(p, 0);
  store<u32>(p, bswap<u32>(0xffff), 8);
  store<u32>(p, bswap<u32>(0xc6120000 | (x << 8) | y), 12);
  return p;
}

/** 2001:db8::n — differs from every v4() address in the first 8 bytes too. */
function v6(n: u32): usize {
  let p = memory.data(16);
  store<u64>(p, bswap<u64>(0x20010db800000000));
  store<u64>(p, bswap<u64>(<u64>n), 8);
  return p;
}

function addressIs(id: i32, a: usize): bool {
  let r = record(<u32>id);
  return load<u64>(r) == load<u64>(a) && load<u64>(r, 8) == load<u64>(a, 8);
}

describe("vtep", () => {
  test("add() numbers new addresses 0, 1, 2 and returns the same id for the same address", () => {
    setup();
    expect(add(v4(0, 2), 4789, 0)).toBe(0);
    expect(add(v4(0, 3), 4789, 0)).toBe(1);
    expect(add(v6(1), 4789, 0)).toBe(2);
    expect(add(v4(0, 2), 4789, 0)).toBe(0, "known address");
    expect(add(v6(1), 8472, 0)).toBe(2, "known address, another port");
    expect(vtepCount).toBe(3);
    expect(vtepFlags(0) & VTEP_IN_USE).toBe(VTEP_IN_USE);
    expect(vtepPort(2)).toBe(4789, "a learned re-add does not move the port");
  });

  test("find() returns each address's id, through the cache and around it, and -1 for strangers", () => {
    setup();
    let a = add(v4(1, 1), 4789, 0);
    let b = add(v4(1, 2), 4789, 0);
    expect(find(v4(1, 1))).toBe(a);
    expect(find(v4(1, 1))).toBe(a, "cached");
    expect(find(v4(1, 2))).toBe(b);
    expect(find(v4(1, 1))).toBe(a, "after another lookup");
    expect(find(v4(1, 3))).toBe(-1);
    expect(find(v6(0x0101))).toBe(-1, "same low bytes, other high bytes");
    expect(find(v4(1, 2))).toBe(b, "a miss leaves the others alone");
  });

  test("add() with VTEP_STATIC on a learned address sets the port and the static flag", () => {
    setup();
    let id = add(v4(2, 1), 4789, 0);
    expect(vtepFlags(id) & VTEP_STATIC).toBe(0);
    expect(add(v4(2, 1), 8472, VTEP_STATIC)).toBe(id);
    expect(vtepPort(id)).toBe(8472);
    expect(vtepFlags(id)).toBe(VTEP_IN_USE | VTEP_STATIC);
    expect(add(v4(2, 1), 4789, 0)).toBe(id);
    expect(vtepPort(id)).toBe(8472, "learning does not undo the configured port");
    expect(vtepFlags(id) & VTEP_STATIC).toBe(VTEP_STATIC);
  });

  test("ids are stable: after more adds every earlier id still names its address", () => {
    setup();
    let first = <i32>vtepCount;
    let ids = new Array<i32>();
    for (let y: u32 = 1; y <= 5; y++) ids.push(add(v4(3, y), <u16>(5000 + y), 0));
    for (let i = 0; i < 5; i++) expect(ids[i]).toBe(first + i, "next free id");
    for (let y: u32 = 1; y <= 5; y++) {
      let id = find(v4(3, y));
      expect(id).toBe(ids[y - 1], "find " + y.toString());
      expect(addressIs(id, v4(3, y))).toBe(true, "record " + id.toString() + " holds its address");
      expect(vtepPort(id)).toBe(<u16>(5000 + y));
    }
    expect(find(v4(0, 2))).toBe(0, "the first id of all");
    expect(find(v6(1))).toBe(2);
  });

  test("add() returns -1 once maxVteps ids are handed out, and still finds the old ones", () => {
    setup();
    expect(maxVteps).toBe(16);
    let y: u32 = 1;
    while (vtepCount < maxVteps) {
      expect(add(v4(4, y), 4789, 0)).toBe(<i32>vtepCount - 1);
      y++;
    }
    expect(add(v4(4, y), 4789, 0)).toBe(-1, "full");
    expect(find(v4(4, y))).toBe(-1, "and not half-added");
    for (let k: u32 = 1; k < y; k++) expect(find(v4(4, k))).toBeGreaterThanOrEqual(0, "still there: " + k.toString());
    expect(add(v4(0, 3), 4789, 0)).toBe(1, "a known address is no new id");
  });
});
