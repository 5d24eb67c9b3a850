// The error a manager answers a request with: an ApiError whose status the daemon's API passes on.

import { ApiError } from "../../errors.ts";

/**
 * A refused swarm operation: bad input (400), bad credentials (401), not the caller's (403),
 * not found (404), a conflict with the swarm's state (409), a store too busy to win a write (503).
 * The message is the one line the client prints. An ApiError, so the daemon's one error → status
 * mapping (routes.ts `statusOf`) covers it; its own class lets callers tell the manager's
 * refusals from the daemon's.
 */
export class SwarmError extends ApiError {
  override name = "SwarmError";
  /** `status`: the HTTP status the daemon's API answers with (default 400). */
  constructor(message: string, status = 400) {
    super(message, status);
  }
}
