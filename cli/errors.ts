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
