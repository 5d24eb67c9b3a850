// switch/fdb.ts: linear probing with backward-shift deletion. A 16-bucket table (layoutFdb(4),
// load limit 14) makes collisions and wraparound easy to arrange.
import {
  bucket, entryKey, entryStamp, entryTarget, find, insert, layoutFdb, loadLimit, makeKey, mask, removeAt,
  tablePtr, used,
} from "../../assembly/switch/fdb";
import { beforeLayout } from "./support/heap";

/** The home bucket, computed as fdb.ts does (Fibonacci hashing, top 4 bits for 16 buckets). */
function homeOf(key: u64): u32 {
  return <u32>((key * 0x9e3779b97f4a7c15) >>> 60);
}

function indexOf(e: usize): u32 {
  return <u32>((e - tablePtr) >>> 4);
}

/** `n` distinct VNI-slot-0 keys whose home is `home`, skipping the first `skip` of them. */
function keysAt(home: u32, n: i32, skip: i32 = 0): u64[] {
  let out = new Array<u64>();
  for (let mac: u64 = 2; out.length < n; mac += 2) { // even: valid unicast sources
    let k = makeKey(0, mac);
    if (homeOf(k) != home) continue;
    if (skip > 0) { skip--; continue; }
    out.push(k);
  }
  return out;
}

function fresh(): void {
  beforeLayout();
  expect(layoutFdb(4)).toBe(true);
}

/** Every key in `live` is found, at or after its home; every key in `gone` is not. */
function expectTable(live: u64[], gone: u64[], label: string): void {
  for (let i = 0; i < live.length; i++) {
    let e = find(live[i]);
    expect(e).not.toBe(0, label + ": live key " + i.toString() + " lost");
    if (e != 0) {
      expect(entryKey(e)).toBe(live[i]);
      expect(entryTarget(e)).toBe(<u32>(live[i] & 0xffff), label + ": target travelled with its key");
    }
  }
  for (let i = 0; i < gone.length; i++) {
    expect(find(gone[i])).toBe(0, label + ": removed key " + i.toString() + " still found");
  }
  expect(used).toBe(<u32>live.length, label + ": used");
}

function add(k: u64): usize {
  return insert(k, <u32>(k & 0xffff), 1000);
}

function removeKey(k: u64): void {
  let e = find(k);
  expect(e).not.toBe(0);
  if (e != 0) removeAt(e);
}

describe("fdb", () => {
  test("layoutFdb(4) gives 16 buckets and a load limit of 14 (7/8)", () => {
    fresh();
    expect(mask).toBe(15);
    expect(loadLimit).toBe(14);
    expect(used).toBe(0);
    for (let i: u32 = 0; i < 16; i++) expect(entryKey(bucket(i))).toBe(0, "bucket " + i.toString() + " empty");
  });

  test("makeKey() keeps the MAC in the low 48 bits and VNI slot + 1 above, so slot 0 is not empty", () => {
    expect(makeKey(0, 0x0100000a4202)).toBe(0x0001_0100000a4202);
    expect(makeKey(3, 0x0100000a4202)).toBe(0x0004_0100000a4202);
    expect(makeKey(0, 0)).not.toBe(0, "an all-zero MAC in slot 0 is still a key");
  });

  test("insert() puts a key in its home bucket, and find() returns it with target and stamp", () => {
    fresh();
    let k = makeKey(1, 0x0100000a4202);
    let e = insert(k, 0x80000007, 0x80000000 | 42);
    expect(e).not.toBe(0);
    expect(indexOf(e)).toBe(homeOf(k), "the hash these specs assume is the table's");
    expect(find(k)).toBe(e);
    expect(entryTarget(e)).toBe(0x80000007);
    expect(entryStamp(e)).toBe(0x80000000 | 42);
    expect(find(makeKey(2, 0x0100000a4202))).toBe(0, "same MAC, other VNI: another key");
    expect(used).toBe(1);
  });

  test("colliding keys take the following buckets in order and all stay findable", () => {
    fresh();
    let ks = keysAt(5, 5);
    for (let i = 0; i < ks.length; i++) {
      let e = add(ks[i]);
      expect(indexOf(e)).toBe(<u32>(5 + i), "linear probe");
    }
    expectTable(ks, [], "after inserts");
  });

  test("removeAt() keeps colliding entries reachable, whichever of a cluster goes first", () => {
    // A cluster at 3..8: three keys of home 3 interleaved with keys of homes 4 and 6, so the
    // shift must move some entries and leave others (an entry never moves above its home).
    let a = keysAt(3, 3);
    let b = keysAt(4, 1);
    let c = keysAt(6, 2);
    let order: u64[] = [a[0], b[0], a[1], c[0], a[2], c[1]];
    for (let first = 0; first < order.length; first++) {
      for (let second = 0; second < order.length; second++) {
        if (second == first) continue;
        fresh();
        for (let i = 0; i < order.length; i++) add(order[i]);
        let live = order.slice(0);
        let gone = new Array<u64>();
        let label = "remove #" + first.toString() + " then #" + second.toString();
        removeKey(order[first]);
        gone.push(order[first]);
        live.splice(live.indexOf(order[first]), 1);
        expectTable(live, gone, label + " (one)");
        removeKey(order[second]);
        gone.push(order[second]);
        live.splice(live.indexOf(order[second]), 1);
        expectTable(live, gone, label + " (two)");
      }
    }
  });

  test("removeAt() shifts back across the table's end (wraparound)", () => {
    // Homes 14, 15, 15, 0, 14 → buckets 14, 15, 0, 1, 2: the chain wraps.
    let k14 = keysAt(14, 2);
    let k15 = keysAt(15, 2);
    let k0 = keysAt(0, 1);
    let order: u64[] = [k14[0], k15[0], k15[1], k0[0], k14[1]];
    for (let first = 0; first < order.length; first++) {
      fresh();
      for (let i = 0; i < order.length; i++) add(order[i]);
      expect(indexOf(find(k14[1]))).toBe(2, "the last key of home 14 wrapped to bucket 2");
      let live = order.slice(0);
      let gone = new Array<u64>();
      // Remove starting at `first`, then every other one in table order.
      for (let n = 0; n < order.length; n++) {
        let k = order[(first + n) % order.length];
        removeKey(k);
        gone.push(k);
        live.splice(live.indexOf(k), 1);
        expectTable(live, gone, "wrap: start " + first.toString() + ", step " + n.toString());
      }
      for (let i: u32 = 0; i < 16; i++) expect(entryKey(bucket(i))).toBe(0, "empty again");
    }
  });

  test("removeAt() of a wrapped entry's predecessor moves it back to the table's end", () => {
    fresh();
    let k15 = keysAt(15, 2);
    add(k15[0]);
    add(k15[1]);
    expect(indexOf(find(k15[1]))).toBe(0, "wrapped");
    removeKey(k15[0]);
    expect(indexOf(find(k15[1]))).toBe(15, "back home");
    expect(entryKey(bucket(0))).toBe(0);
  });

  test("insert() refuses past the load limit, and used counts inserts and removals", () => {
    fresh();
    let ks = new Array<u64>();
    for (let mac: u64 = 2; ks.length < 15; mac += 2) ks.push(makeKey(0, mac));
    for (let i = 0; i < 14; i++) {
      expect(add(ks[i])).not.toBe(0, "insert " + i.toString());
      expect(used).toBe(<u32>(i + 1));
    }
    expect(add(ks[14])).toBe(0, "the 15th of 16 buckets is refused");
    expect(used).toBe(14);
    expect(find(ks[14])).toBe(0);
    removeKey(ks[3]);
    expect(used).toBe(13);
    expect(add(ks[14])).not.toBe(0, "room again after a removal");
    expectTable(ks.slice(0, 3).concat(ks.slice(4)), [ks[3]], "full table");
  });

  test("random inserts and removals never lose a key (property, 2000 steps)", () => {
    fresh();
    let pool = new Array<u64>();
    for (let mac: u64 = 2; pool.length < 40; mac += 2) pool.push(makeKey(<i32>(mac % 3), mac));
    let live = new Array<u64>();
    let gone = new Array<u64>();
    let x: u32 = 0xdecafbad;
    for (let step = 0; step < 2000; step++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5; // xorshift32
      let k = pool[<i32>(x % <u32>pool.length)];
      let at = live.indexOf(k);
      if (at >= 0) {
        removeKey(k);
        live.splice(at, 1);
        gone.push(k);
      } else if (used < loadLimit) {
        expect(add(k)).not.toBe(0);
        live.push(k);
        let g = gone.indexOf(k);
        if (g >= 0) gone.splice(g, 1);
      }
      if (step % 50 == 0 || step == 1999) expectTable(live, gone, "step " + step.toString());
    }
    // Every entry sits in its home bucket or after it with no empty bucket in between.
    for (let i: u32 = 0; i < 16; i++) {
      let k = entryKey(bucket(i));
      if (k == 0) continue;
      for (let j = homeOf(k); j != i; j = (j + 1) & 15) {
        expect(entryKey(bucket(j))).not.toBe(0, "gap in the probe chain of bucket " + i.toString());
      }
    }
  });
});
