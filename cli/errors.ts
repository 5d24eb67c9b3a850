// How the CLI fails: one line "error: …" on stderr and an exit code, never a stack trace for
// user mistakes. Exit 2 for bad input or environment (usage, permissions, names taken), 1 for
// failures while running.

export class UsageError extends Error {
  override name = "UsageError";
}

export function error(message: string, code = 2): never {
  console.error(`error: ${message}`);
  Deno.exit(code);
}

/**
 * A refusal of the daemon's HTTP API, on both sides of its socket: the daemon throws it and
 * answers `{ message }` with `status`; the client (`api()`) throws it again from that answer.
 * Statuses follow Docker's errdefs: 400 bad parameter (the default), 404 not found, 409 conflict,
 * 500 failure while running, 502 a peer answered badly, 503 unavailable (not a manager, store
 * down); 0 on the client side means the daemon could not be reached at all.
 */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(message: string, readonly status = 400) {
    super(message);
  }
}
