// The core's bump allocator (assembly/layout.ts) starts at __heap_base, which is also where the
// GC runtime that as-pect needs keeps its TLSF root and objects; and when the runtime grows
// memory it takes the pages right after the bump pointer, where the next table would go. A
// table laid over either corrupts the runtime, and the runtime's allocations then overwrite the
// table (seen here as a neighbour-table spec that never ended).
//
// So specs call `beforeLayout()` right before every layout function. If the runtime owns memory
// past the bump pointer, it lets the allocator's next region cover all of it, with those bytes
// saved and put back, so the table lands past the runtime's last page. TLSF only ever adds the
// pages it grows itself, so it never hands out a table's bytes afterwards.
//
//  __heap_base ─ runtime ─┬─ table ─ table ─ runtime (grown later) ─┬─ table …
//                 skipped ┘                                 skipped ┘

import { allocate, memoryUsed } from "../../../assembly/layout";

export function beforeLayout(): void {
  heap.free(heap.alloc(16)); // make sure the runtime has set up its root before we measure
  let top = memoryUsed();
  let start = top != 0 ? top : (__heap_base + 63) & ~63; // where layout.ts's next region begins
  let end = <usize>memory.size() << 16;
  if (end <= start) return;
  let size = end - start;
  // Save those bytes in fresh pages past the end; allocate() zeroes its region, then we restore.
  if (memory.grow(<i32>((size + 0xffff) >>> 16)) < 0) unreachable();
  memory.copy(end, start, size);
  if (allocate(size) != start) unreachable();
  memory.copy(start, end, size);
  if (memoryUsed() != end) unreachable(); // the next region starts on the runtime-free side
}
