// What the pipeline knows about the burst and the frame being switched. Dispatch (burst.ts) sets
// it before a frame's path starts; forwarding, flooding and the TX writer read it on that path.
// Module globals, not a record passed along: every field is read on the hot path of the frame it
// describes and of no other, and a global is a register-cheap `global.get` in Wasm.

/** process()'s clock in seconds, 31 bits (ageing compares `now - stamp`). */
export let now: u32 = 0;
/** The virtio_net_hdr of the frame being switched, copied out of the headroom it shares with
 *  the VXLAN header about to be written there (args scratch ARGS_VNET). 0 when the frame came
 *  without one, or once it goes on as a plain frame. */
export let vnet: usize = 0;
/** The local port the frame being switched came from (burst.ts fromLocal). */
export let ingressPort: u32 = 0;
/** Outer TOS and TX_INNER_DF (ecn.encapInfo) of the frame being encapsulated. */
export let txOuter: u32 = 0;
