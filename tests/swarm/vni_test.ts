// The swarm's VNI allocator (cli/control/swarm/vni.ts): Docker's overlay driver order.

import assert from "node:assert/strict";
import { VniAllocator, VniExhaustedError } from "../../cli/control/swarm/vni.ts";
import { FIRST_VNI, VNI_MAX } from "../../cli/defaults.ts";

Deno.test("vni: the first network gets FIRST_VNI (4096, as Docker's vxlanIDStart)", () => {
  const a = new VniAllocator();
  assert.equal(FIRST_VNI, 4096);
  assert.equal(a.next(() => false), 4096);
});

Deno.test("vni: the lowest free VNI from FIRST_VNI up, so a removed network's VNI is reused", () => {
  const taken = new Set([4096, 4097, 4099]);
  assert.equal(new VniAllocator().next((v) => taken.has(v)), 4098);
  taken.add(4098);
  assert.equal(new VniAllocator().next((v) => taken.has(v)), 4100);
});

Deno.test("vni: a full range throws VniExhaustedError; the range must fit 24 bits", () => {
  const a = new VniAllocator(10, 12);
  assert.equal(a.next((v) => v < 12), 12, "the last VNI of the range is handed out");
  assert.throws(() => a.next(() => true), VniExhaustedError);
  assert.throws(() => a.next(() => true), /no free VNI left in 10\.\.12/);
  assert.throws(() => new VniAllocator(5, 4), RangeError);
  assert.throws(() => new VniAllocator(0, VNI_MAX + 1), RangeError);
  assert.equal(new VniAllocator(VNI_MAX, VNI_MAX).next(() => false), VNI_MAX);
});
