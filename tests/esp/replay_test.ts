// cli/esp/replay.ts: RFC 4303 §3.4.3 anti-replay with 64-bit sequence numbers (Appendix A2).
import assert from "node:assert/strict";
import { REPLAY_WINDOW, ReplayWindow } from "../../cli/esp/replay.ts";

const TWO32 = 0x1_0000_0000;

Deno.test("replay window: holds at least 1024 datagrams; exactly REPLAY_WINDOW behind the top pass", () => {
  assert.ok(REPLAY_WINDOW >= 1024);
  const w = new ReplayWindow();
  const top = 3 * REPLAY_WINDOW + 17;
  w.accept(top);
  assert.equal(w.fresh(top), false);
  assert.equal(w.fresh(top - REPLAY_WINDOW + 1), true, "the oldest number the window still holds");
  assert.equal(w.fresh(top - REPLAY_WINDOW), false, "one older: dropped unseen");
  assert.equal(w.fresh(0), false, "sequence 0 is never sent");
  assert.equal(w.fresh(top + 1), true);
});

Deno.test("replay window: every number accepted once, in any order within the window", () => {
  const w = new ReplayWindow();
  const order = Array.from({ length: 3000 }, (_, i) => i + 1);
  // Shuffle inside blocks smaller than the window: reordering a network may do.
  for (let b = 0; b < order.length; b += 500) {
    for (let i = b + 499; i > b; i--) {
      const j = b + Math.floor(Math.random() * (i - b + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
  }
  for (const s of order) {
    assert.equal(w.fresh(s), true, `seq ${s}`);
    w.accept(s);
    assert.equal(w.fresh(s), false, `seq ${s} again`);
  }
  for (let s = 1; s <= 3000; s++) assert.equal(w.fresh(s), false);
});

Deno.test("replay window: a jump forward forgets the bits the window slid past", () => {
  const w = new ReplayWindow();
  for (let s = 1; s <= 100; s++) w.accept(s);
  w.accept(100 + REPLAY_WINDOW - 5);
  // 96…100 are still inside the window and were seen; the numbers sharing bits with 101…
  // (s + REPLAY_WINDOW) must read as unseen.
  for (let s = 96; s <= 100; s++) assert.equal(w.fresh(s), false);
  for (let s = 101; s < 100 + REPLAY_WINDOW - 5; s += 97) assert.equal(w.fresh(s), true, `seq ${s}`);
  w.accept(10 * REPLAY_WINDOW);
  assert.equal(w.fresh(10 * REPLAY_WINDOW - 1), true);
});

Deno.test("replay window: high 32 bits inferred as RFC 4303 Appendix A2.2 does", () => {
  const w = new ReplayWindow();
  assert.equal(w.infer(1), 1);
  assert.ok(w.infer(TWO32 - 1) < 1, "below the window at the start: a replay");
  w.accept(5 * TWO32 + 10); // window spans the subspace boundary
  assert.equal(w.infer(9), 5 * TWO32 + 9);
  assert.equal(w.infer(TWO32 - 2), 4 * TWO32 + TWO32 - 2);
  assert.equal(w.infer(20), 5 * TWO32 + 20);
  w.accept(5 * TWO32 + 100000); // window within one subspace
  assert.equal(w.infer(100000 - REPLAY_WINDOW + 1), 5 * TWO32 + 100000 - REPLAY_WINDOW + 1);
  assert.equal(w.infer(5), 6 * TWO32 + 5, "below the window: the next subspace");
});
