// switch/neigh.ts: (VNI slot, address) → MAC for ARP/ND suppression; open addressing with
// backward-shift deletion, 16 buckets here (layoutNeigh(4), full at 14).
//
// The table keeps its entry count across layoutNeigh() calls (init runs once in the core), so
// every test here leaves the table empty again.
import { memoryUsed } from "../../assembly/layout";
import { NEIGH_MAC, find, flushSlot, layoutNeigh, put, remove } from "../../assembly/switch/neigh";
import { beforeLayout } from "./support/heap";

let base: usize = 0;

function fresh(): void {
  beforeLayout();
  base = memoryUsed(); // the next region layout.ts hands out: this table
  expect(layoutNeigh(4)).toBe(true);
}

function cleanUp(): void {
  for (let s = 0; s < 4; s++) flushSlot(s);
}

/** fd00::n:n (n in bytes 8..11 and 12..15) in a scratch buffer; put() copies it. */
function addr(n: u32): usize {
  let p = memory.data(16);
  store<u64>(p, bswap<u64>(0xfd00000000000000));
  store<u32>(p, bswap<u32>(n), 8);
  store<u32>(p, bswap<u32>(n), 12);
  return p;
}

/** ::ffff:10.0.n/256.n%256, how the core stores an IPv4 neighbour. */
function v4(n: u32): usize {
  let p = memory.data(16);
  store<u64>(p, 0);
  store<u32>(p, bswap<u32>(0xffff), 8);
  store<u32>(p, bswap<u32>(0x0a000000 | n), 12);
  return p;
}

/** A MAC 02:00:00:00:s:n in a scratch buffer. */
function mac(slot: i32, n: u32): usize {
  let p = memory.data(8);
  store<u32>(p, 0x02);
  store<u8>(p, <u8>slot, 4);
  store<u8>(p, <u8>n, 5);
  return p;
}

/** Home bucket of an address: where it lands in the empty table (which it leaves empty). */
function homeOf(slot: i32, a: usize): u32 {
  expect(put(slot, a, mac(slot, 0))).toBe(true);
  let h = indexOf(find(slot, a));
  remove(slot, a);
  return h;
}

function indexOf(e: usize): u32 {
  return <u32>((e - base) / 32);
}

/** The first `count` addresses fd00::n:n of `slot` whose home is `home` (call on an empty table). */
function withHome(slot: i32, home: u32, count: i32): u32[] {
  let out = new Array<u32>();
  for (let n: u32 = 1; out.length < count && n < 10000; n++) if (homeOf(slot, addr(n)) == home) out.push(n);
  expect(out.length).toBe(count, "addresses with home " + home.toString());
  return out;
}

function macAt(e: usize): u64 {
  return (<u64>load<u16>(e, NEIGH_MAC + 4) << 32) | <u64>load<u32>(e, NEIGH_MAC);
}

function macKeyOf(slot: i32, n: u32): u64 {
  let p = mac(slot, n);
  return (<u64>load<u16>(p, 4) << 32) | <u64>load<u32>(p);
}

function expectFound(slot: i32, ns: u32[], label: string): void {
  for (let i = 0; i < ns.length; i++) {
    let e = find(slot, addr(ns[i]));
    expect(e).not.toBe(0, label + ": slot " + slot.toString() + " address " + ns[i].toString() + " lost");
    if (e != 0) expect(macAt(e)).toBe(macKeyOf(slot, ns[i]), label + ": MAC travelled with its address");
  }
}

function expectGone(slot: i32, ns: u32[], label: string): void {
  for (let i = 0; i < ns.length; i++) {
    expect(find(slot, addr(ns[i]))).toBe(0, label + ": address " + ns[i].toString() + " still found");
  }
}

describe("neigh", () => {
  test("put() then find() returns the MAC; other slots and addresses miss", () => {
    fresh();
    expect(put(0, addr(2), mac(0, 2))).toBe(true);
    let e = find(0, addr(2));
    expect(e).not.toBe(0);
    expect(macAt(e)).toBe(macKeyOf(0, 2));
    expect(find(1, addr(2))).toBe(0, "same address in another VNI");
    expect(find(0, addr(3))).toBe(0);
    cleanUp();
  });

  test("put() on a known address updates the MAC in the same entry", () => {
    fresh();
    put(0, addr(2), mac(0, 2));
    let e = find(0, addr(2));
    expect(put(0, addr(2), mac(3, 99))).toBe(true);
    expect(find(0, addr(2))).toBe(e, "no second entry");
    expect(macAt(e)).toBe(macKeyOf(3, 99));
    cleanUp();
  });

  test("put() refuses a 15th address in 16 buckets, but still updates a known one", () => {
    fresh();
    for (let n: u32 = 1; n <= 14; n++) expect(put(0, addr(n), mac(0, n))).toBe(true, "put " + n.toString());
    expect(put(0, addr(15), mac(0, 15))).toBe(false);
    expect(put(2, addr(1), mac(2, 1))).toBe(false, "a new key in another slot counts too");
    expect(put(0, addr(7), mac(1, 7))).toBe(true, "an update needs no room");
    expect(remove(0, addr(7))).toBe(true);
    expect(put(0, addr(15), mac(0, 15))).toBe(true, "room after a removal");
    cleanUp();
  });

  test("remove() keeps colliding entries reachable, across the table's end too", () => {
    // Three addresses at home 15 and two at home 0: buckets 15, 0, 1, 2, 3, a chain that wraps.
    fresh();
    let h15 = withHome(0, 15, 3);
    let h0 = withHome(0, 0, 2);
    cleanUp();
    let all: u32[] = [h15[0], h0[0], h15[1], h0[1], h15[2]];
    for (let first = 0; first < all.length; first++) {
      fresh();
      for (let i = 0; i < all.length; i++) put(0, addr(all[i]), mac(0, all[i]));
      expect(indexOf(find(0, addr(h15[2])))).toBe(3, "the last of home 15 wrapped to bucket 3");
      let live = all.slice(0);
      let gone = new Array<u32>();
      for (let n = 0; n < all.length; n++) {
        let a = all[(first + n * 2) % all.length]; // a stride of 2 visits all five
        expect(remove(0, addr(a))).toBe(true);
        live.splice(live.indexOf(a), 1);
        gone.push(a);
        let label = "start " + first.toString() + ", step " + n.toString();
        expectFound(0, live, label);
        expectGone(0, gone, label);
      }
      cleanUp();
    }
  });

  test("remove() of an absent address is false and changes nothing", () => {
    fresh();
    put(0, addr(1), mac(0, 1));
    expect(remove(0, addr(2))).toBe(false);
    expect(remove(1, addr(1))).toBe(false, "same address, other slot");
    expectFound(0, [1], "after");
    cleanUp();
  });

  test("flushSlot() drops every entry of one VNI slot and keeps the others findable", () => {
    fresh();
    // 13 entries in 16 buckets, three slots interleaved, so chains mix slots.
    let a: u32[] = [1, 2, 3, 4, 5];
    let b: u32[] = [1, 2, 3, 4];
    let c: u32[] = [6, 7, 8, 9];
    for (let i = 0; i < 5; i++) {
      if (i < a.length) put(0, addr(a[i]), mac(0, a[i]));
      if (i < b.length) put(1, addr(b[i]), mac(1, b[i]));
      if (i < c.length) put(2, addr(c[i]), mac(2, c[i]));
    }
    flushSlot(1);
    expectGone(1, b, "flushed");
    expectFound(0, a, "slot 0 kept");
    expectFound(2, c, "slot 2 kept");
    // The flush freed exactly b's four entries: 13 - 4 + 5 = 14 fits, a 15th does not.
    for (let n: u32 = 20; n < 25; n++) expect(put(3, addr(n), mac(3, n))).toBe(true);
    expect(put(3, addr(25), mac(3, 25))).toBe(false);
    cleanUp();
    expectGone(0, a, "all flushed");
  });

  test("random puts, removes and flushes never lose an entry (property, 2000 steps)", () => {
    fresh();
    let live = new Array<u32>(); // slot * 1000 + n
    let count = 0;
    let x: u32 = 0x5eed1234;
    for (let step = 0; step < 2000; step++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      let slot = <i32>(x % 3);
      let n = (x >>> 8) % 12 + 1;
      let id = <u32>slot * 1000 + n;
      let at = live.indexOf(id);
      if ((x >>> 20) % 97 == 0) {
        flushSlot(slot);
        let keep = new Array<u32>();
        for (let i = 0; i < live.length; i++) if (<i32>(live[i] / 1000) != slot) keep.push(live[i]);
        live = keep;
      } else if (at >= 0) {
        expect(remove(slot, addr(n))).toBe(true);
        live.splice(at, 1);
      } else {
        let ok = put(slot, addr(n), mac(slot, n));
        expect(ok).toBe(live.length < 14, "put succeeds exactly while below 14 entries");
        if (ok) live.push(id);
      }
      count++;
      if (step % 40 == 0 || step == 1999) {
        for (let s = 0; s < 3; s++) {
          for (let k: u32 = 1; k <= 12; k++) {
            let isLive = live.includes(<u32>s * 1000 + k);
            let e = find(s, addr(k));
            expect(e != 0).toBe(isLive, "step " + step.toString() + ": slot " + s.toString() + " address " + k.toString());
            if (e != 0) expect(macAt(e)).toBe(macKeyOf(s, k));
          }
        }
      }
    }
    expect(count).toBe(2000);
    cleanUp();
  });

  test("home buckets spread IPv4 neighbours: 10.0.0.1-16 get at least 8 of 16 buckets", () => {
    // ::ffff:10.0.0.n differ only in the last bytes of the address. A table whose home ignored
    // them would put a whole overlay subnet on one probe chain: every ARP lookup a linear scan.
    fresh();
    let seen = new Array<bool>(16);
    let distinct = 0;
    for (let n: u32 = 1; n <= 16; n++) {
      let h = homeOf(0, v4(n));
      if (!seen[h]) { seen[h] = true; distinct++; }
    }
    expect(distinct).toBeGreaterThanOrEqual(8, "distinct home buckets of 10.0.0.1-16");
    cleanUp();
  });

  test("home buckets spread IPv6 neighbours: fd00::1-16 get at least 8 of 16 buckets", () => {
    fresh();
    let a = memory.data(16);
    let seen = new Array<bool>(16);
    let distinct = 0;
    for (let n: u32 = 1; n <= 16; n++) {
      store<u64>(a, bswap<u64>(0xfd00000000000000));
      store<u64>(a, bswap<u64>(<u64>n), 8);
      let h = homeOf(0, a);
      if (!seen[h]) { seen[h] = true; distinct++; }
    }
    expect(distinct).toBeGreaterThanOrEqual(8, "distinct home buckets of fd00::1-16");
    cleanUp();
  });

  test("home buckets depend on the VNI slot, too", () => {
    fresh();
    let seen = new Array<bool>(16);
    let distinct = 0;
    for (let s = 0; s < 16; s++) {
      let h = homeOf(s, addr(1));
      if (!seen[h]) { seen[h] = true; distinct++; }
    }
    expect(distinct).toBeGreaterThanOrEqual(8, "distinct home buckets of one address in 16 slots");
    for (let s = 0; s < 16; s++) flushSlot(s);
  });
});
