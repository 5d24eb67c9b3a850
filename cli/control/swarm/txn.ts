// Writes to the swarm's store from a manager: refused while the store cannot be reached (a
// manager that wrote on regardless would diverge from the others), and compare-and-swap retries
// for the writes that must not race (names, subnets, VNIs, addresses), as etcd clients do.

import { SwarmError } from "./errors.ts";
import { type Cond, type Op, StoreUnavailableError, type SwarmState } from "./state.ts";

/** Attempts of a conditional write that lost a race before giving up. */
export const CAS_ATTEMPTS = 20;

/**
 * Refuses writes when the store cannot be reached (rather than diverge from it).
 * @throws StoreUnavailableError naming why (SwarmState.unhealthy()).
 */
export function assertWritable(state: SwarmState): void {
  const why = state.unhealthy();
  if (why) {
    throw new StoreUnavailableError(
      `this manager cannot reach its cluster store, so it takes no changes: ${why}`,
    );
  }
}

/**
 * One store transaction: `ops` if every condition holds (etcd's Txn compare/then).
 * @returns false when a condition failed (another manager wrote first); nothing is written then.
 * @throws StoreUnavailableError (assertWritable) or the backend's error.
 */
export async function write(state: SwarmState, conds: Cond[], ops: Op[]): Promise<boolean> {
  assertWritable(state);
  return await state.txn(conds, ops);
}

/**
 * A conditional write retried against the refreshed mirror until it wins or `attempt` throws:
 * `attempt` reads the mirror and returns the conditions, the operations and the result to give
 * back when they are written. A lost race waits 20 ms + up to 30 ms × attempt (jitter) for the
 * winner's write to reach the mirror.
 * @throws SwarmError (503) after CAS_ATTEMPTS lost races; whatever `attempt` throws.
 */
export async function cas<T>(
  state: SwarmState,
  attempt: () => { conds: Cond[]; ops: Op[]; result: T },
): Promise<T> {
  for (let i = 0; i < CAS_ATTEMPTS; i++) {
    const { conds, ops, result } = attempt();
    if (await write(state, conds, ops)) return result;
    // Lost to another manager: its write reaches our mirror shortly.
    await new Promise((r) => setTimeout(r, 20 + Math.random() * 30 * (i + 1)));
  }
  throw new SwarmError("the cluster store is too busy: the change lost every race; try again", 503);
}
