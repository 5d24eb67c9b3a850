// The error a manager answers a request with: an HTTP-like status the daemon's API passes on.

/**
 * A refused swarm operation: bad input (400), bad credentials (401), not the caller's (403),
 * not found (404), a conflict with the swarm's state (409), a store too busy to win a write (503).
 * The message is the one line the client prints.
 */
export class SwarmError extends Error {
  override name = "SwarmError";
  /** `status`: the HTTP status the daemon's API answers with (default 400). */
  constructor(message: string, readonly status = 400) {
    super(message);
  }
}
