// VXLAN network identifiers for overlay networks, handed out as Docker's overlay driver does
// (libnetwork drivers/overlay/ovmanager: vxlanIDStart = 4096): the lowest free VNI from FIRST_VNI
// up, so the VNIs below it stay free for hand-made tunnels (`weft vtep --vni`).

import { FIRST_VNI, VNI_MAX } from "../../defaults.ts";

/** No VNI left in the allocator's range. */
export class VniExhaustedError extends Error {
  override name = "VniExhaustedError";
}

/**
 * The VNI allocator of a swarm. It keeps no state of its own: what is taken is the store's
 * (every network's `vni` and the `vni/<n>` claims another manager's write holds), passed in on
 * each call, so managers sharing a store agree once their writes are conditioned on the claim.
 */
export class VniAllocator {
  /** `first`..`last`: the range handed out (default FIRST_VNI..VNI_MAX, 24-bit, RFC 7348 §5). */
  constructor(readonly first = FIRST_VNI, readonly last = VNI_MAX) {
    if (
      !(Number.isInteger(first) && Number.isInteger(last) && 0 <= first && first <= last && last <= VNI_MAX)
    ) {
      throw new RangeError(`invalid VNI range ${first}..${last}: expected 0 <= first <= last <= ${VNI_MAX}`);
    }
  }

  /**
   * The lowest VNI of the range for which `taken` is false.
   * @throws VniExhaustedError when every VNI of the range is taken.
   */
  next(taken: (vni: number) => boolean): number {
    for (let vni = this.first; vni <= this.last; vni++) if (!taken(vni)) return vni;
    throw new VniExhaustedError(`no free VNI left in ${this.first}..${this.last}: remove a network first`);
  }
}
