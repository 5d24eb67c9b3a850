// switch/vni.ts: switch instances by VNI, their port sets and flood lists.
import {
  MAX_PORTS_PER_VNI, addFlood, addPort, addVni, ageingOf, clearVni, floodAt, floodCount, flagsOf, layoutVnis,
  learnMaxOf, mtuOf, portAt, portCount, removeFlood, removePort, slotOf, vniOf,
} from "../../assembly/switch/vni";
import { beforeLayout } from "./support/heap";

function fresh(count: u32): void {
  beforeLayout();
  expect(layoutVnis(count)).toBe(true);
  // slotOf() keeps a one-entry cache across layouts; a clear on a fresh table drops it.
  clearVni(0);
}

function ports(slot: i32): u32[] {
  let out = new Array<u32>();
  for (let i: u32 = 0; i < portCount(slot); i++) out.push(portAt(slot, i));
  out.sort();
  return out;
}

function flood(slot: i32): u32[] {
  let out = new Array<u32>();
  for (let i: u32 = 0; i < floodCount(slot); i++) out.push(floodAt(slot, i));
  out.sort();
  return out;
}

describe("vni", () => {
  test("addVni() hands out slots in order and stores the settings", () => {
    fresh(4);
    expect(addVni(42, 1450, 100, 300, 3)).toBe(0);
    expect(addVni(4242, 9000, 0, 60, 1)).toBe(1);
    expect(vniOf(0)).toBe(42);
    expect(mtuOf(0)).toBe(1450);
    expect(learnMaxOf(0)).toBe(100);
    expect(ageingOf(0)).toBe(300);
    expect(flagsOf(0)).toBe(3);
    expect(vniOf(1)).toBe(4242);
    expect(mtuOf(1)).toBe(9000);
  });

  test("addVni() for a known VNI updates it in place and keeps its ports", () => {
    fresh(4);
    let s = addVni(42, 1450, 100, 300, 3);
    addPort(s, 7);
    expect(addVni(42, 1400, 5, 10, 0)).toBe(s, "same slot");
    expect(mtuOf(s)).toBe(1400);
    expect(learnMaxOf(s)).toBe(5);
    expect(flagsOf(s)).toBe(0);
    expect(portCount(s)).toBe(1, "ports survive a settings update");
  });

  test("slotOf() finds each VNI, repeatedly (through its cache), and -1 for unknown ones", () => {
    fresh(4);
    addVni(10, 1450, 0, 300, 0);
    addVni(20, 1450, 0, 300, 0);
    addVni(0xffffff, 1450, 0, 300, 0);
    expect(slotOf(20)).toBe(1);
    expect(slotOf(20)).toBe(1, "cached");
    expect(slotOf(10)).toBe(0);
    expect(slotOf(0xffffff)).toBe(2);
    expect(slotOf(30)).toBe(-1);
    expect(slotOf(10)).toBe(0, "a miss does not spoil the cache");
  });

  test("clearVni() forgets the VNI, even the cached one, and frees its slot for reuse", () => {
    fresh(2);
    addVni(10, 1450, 0, 300, 0);
    addVni(20, 1450, 0, 300, 0);
    expect(slotOf(10)).toBe(0);
    clearVni(0);
    expect(slotOf(10)).toBe(-1, "cache dropped");
    expect(addVni(30, 1450, 0, 300, 0)).toBe(0, "the freed slot");
    expect(slotOf(30)).toBe(0);
    expect(slotOf(20)).toBe(1);
  });

  test("addVni() returns -1 when every slot is taken", () => {
    fresh(2);
    expect(addVni(10, 1450, 0, 300, 0)).toBe(0);
    expect(addVni(20, 1450, 0, 300, 0)).toBe(1);
    expect(addVni(30, 1450, 0, 300, 0)).toBe(-1);
    expect(addVni(20, 1500, 0, 300, 0)).toBe(1, "updating a known VNI still works when full");
  });

  test("slotOf(0) is -1: an empty slot is not VNI 0", () => {
    // VNI 0 is never configured (index.ts vniAdd refuses it), but a VXLAN header can carry it:
    // burst.ts fromUnderlay looks up slotOf(vni(ptr)) for every datagram. Regression for 6cecd61.
    fresh(4);
    addVni(42, 1450, 0, 300, 0);
    expect(slotOf(0)).toBe(-1, "with free slots left");
    clearVni(0);
    expect(slotOf(0)).toBe(-1, "after a VNI was removed");
  });

  test("VNI 0 is a VNI: once added it has a slot, and removing it frees the slot again", () => {
    // RFC 7348 reserves no VNI and the kernel takes `id 0`; a free record is marked by a flag,
    // not by the value 0.
    fresh(2);
    addVni(42, 1450, 0, 300, 0);
    let s = addVni(0, 1450, 0, 300, 3);
    expect(s).toBe(1);
    expect(slotOf(0)).toBe(1);
    expect(flagsOf(1)).toBe(3, "the in-use mark never shows in flagsOf()");
    clearVni(1);
    expect(slotOf(0)).toBe(-1);
    expect(addVni(7, 1450, 0, 300, 0)).toBe(1, "the freed slot is reused");
  });

  test("addPort() is a set: a duplicate succeeds once and is stored once", () => {
    fresh(2);
    let s = addVni(42, 1450, 0, 300, 0);
    expect(addPort(s, 3)).toBe(true);
    expect(addPort(s, 5)).toBe(true);
    expect(addPort(s, 3)).toBe(true, "already there");
    expect(portCount(s)).toBe(2);
    expect(ports(s)).toStrictEqual([3, 5]);
  });

  test("removePort() moves the last port into the hole and refuses absent ports", () => {
    fresh(2);
    let s = addVni(42, 1450, 0, 300, 0);
    for (let p: u32 = 1; p <= 5; p++) addPort(s, p);
    expect(removePort(s, 2)).toBe(true);
    expect(portAt(s, 1)).toBe(5, "last moved into the hole");
    expect(ports(s)).toStrictEqual([1, 3, 4, 5]);
    expect(removePort(s, 2)).toBe(false, "already gone");
    expect(removePort(s, 5)).toBe(true);
    expect(removePort(s, 1)).toBe(true);
    expect(ports(s)).toStrictEqual([3, 4]);
    expect(removePort(s, 4)).toBe(true, "the last one");
    expect(removePort(s, 3)).toBe(true);
    expect(portCount(s)).toBe(0);
    expect(removePort(s, 3)).toBe(false, "empty set");
  });

  test("addPort() refuses past MAX_PORTS_PER_VNI but still accepts a port it has", () => {
    fresh(2);
    let s = addVni(42, 1450, 0, 300, 0);
    for (let p: u32 = 0; p < MAX_PORTS_PER_VNI; p++) expect(addPort(s, p)).toBe(true);
    expect(addPort(s, 9999)).toBe(false);
    expect(addPort(s, 17)).toBe(true, "a member, not a new one");
    expect(portCount(s)).toBe(MAX_PORTS_PER_VNI);
  });

  test("addFlood()/removeFlood() are sets per slot, independent of ports and of other slots", () => {
    fresh(2);
    let a = addVni(42, 1450, 0, 300, 0);
    let b = addVni(43, 1450, 0, 300, 0);
    expect(addFlood(a, 0)).toBe(true, "vtep id 0 is a real id");
    expect(addFlood(a, 7)).toBe(true);
    expect(addFlood(a, 7)).toBe(true, "duplicate");
    expect(addFlood(b, 7)).toBe(true);
    addPort(a, 7);
    expect(flood(a)).toStrictEqual([0, 7]);
    expect(flood(b)).toStrictEqual([7]);
    expect(removeFlood(a, 7)).toBe(true);
    expect(removeFlood(a, 7)).toBe(false, "only stored once");
    expect(flood(a)).toStrictEqual([0]);
    expect(flood(b)).toStrictEqual([7], "the other slot's list is untouched");
    expect(ports(a)).toStrictEqual([7], "the port set is untouched");
    expect(removeFlood(a, 0)).toBe(true);
    expect(floodCount(a)).toBe(0);
  });
});
