// Running commands for the namespace lab (cli/lab/lab.ts): one bounded runner, a handle on
// long-running processes, and the one poll loop (waitFor) that tests, benchmarks and the demo share.

/** The repository root (the lab runs cli/main.ts from the source tree, as `npm run demo` does). */
export const ROOT = new URL("../../", import.meta.url).pathname;
/** The Deno of node_modules/.bin, which every lab process runs under. */
export const DENO = `${ROOT}node_modules/.bin/deno`;
/** The weft CLI's entry point. */
export const MAIN = `${ROOT}cli/main.ts`;
/**
 * Environment of every process the lab starts. Deno checks for a newer release in the background
 * of `deno run` (TLS roots, resolv.conf, a connection to dl.deno.land): a data plane must not send
 * anything its operator did not ask for, and a test must not count those reads.
 */
export const LAB_ENV = { DENO_NO_UPDATE_CHECK: "1" };
/** How long run() lets a command take before it kills it, ms. */
export const RUN_TIMEOUT_MS = 20000;

export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Kill the command (SIGKILL) after this many ms; default RUN_TIMEOUT_MS (run) or 30000 (sh). */
  timeoutMs?: number;
  /** Throw when it exits non-zero; default false (run) or true (sh). */
  check?: boolean;
  /** The working directory; default ROOT (run) or this process's (sh). */
  cwd?: string;
  /** Variables set over LAB_ENV (and this process's environment), e.g. WEFT_HOST. */
  env?: Record<string, string>;
}

/**
 * Runs a command to completion with LAB_ENV, bounded in time.
 * @throws Error `CMD failed (CODE): STDERR` when `check` is set and it exits non-zero.
 */
export async function run(
  cmd: string[],
  { timeoutMs = RUN_TIMEOUT_MS, check = false, cwd = ROOT, env }: RunOptions = {},
): Promise<Output> {
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    env: { ...LAB_ENV, ...env },
    stdout: "piped",
    stderr: "piped",
    cwd,
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, timeoutMs);
  const out = await child.output();
  clearTimeout(timer);
  const r = {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
  if (check && r.code !== 0) {
    throw new Error(`${cmd.join(" ")} failed (${r.code}): ${r.stderr.trim()}${r.stdout}`);
  }
  return r;
}

/**
 * run() for set-up steps, which must work: checked unless `check: false`, 30 s, in this process's
 * working directory (the demo runs tshark on a relative file name there).
 * @throws Error as run() does.
 */
export function sh(
  cmd: string[],
  { timeoutMs = 30000, check = true, cwd, env }: RunOptions = {},
): Promise<Output> {
  return run(cmd, { timeoutMs, check, cwd: cwd ?? Deno.cwd(), env });
}

export function isRoot(): boolean {
  return Deno.uid() === 0;
}

/** `w` and four hex digits: short enough for interface names built from it (IFNAMSIZ 16). */
export function randomPrefix(): string {
  return `w${crypto.getRandomValues(new Uint16Array(1))[0].toString(16).padStart(4, "0")}`;
}

/** A long-running child with its output collected (Lab.spawn()). */
export class Process {
  readonly stdout: Promise<string>;
  readonly stderr: Promise<string>;
  readonly status: Promise<Deno.CommandStatus>;
  private exited = false;

  constructor(readonly name: string, readonly child: Deno.ChildProcess) {
    const text = (s: ReadableStream<Uint8Array>) => new Response(s).text();
    this.stdout = text(child.stdout);
    this.stderr = text(child.stderr);
    this.status = child.status.then((s) => {
      this.exited = true;
      return s;
    });
  }

  get pid(): number {
    return this.child.pid;
  }

  get running(): boolean {
    return !this.exited;
  }

  signal(sig: Deno.Signal): void {
    if (this.exited) return;
    try {
      this.child.kill(sig);
    } catch { /* exited meanwhile */ }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit status. */
  async stop(graceMs = 5000): Promise<Deno.CommandStatus> {
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    const s = await this.status;
    clearTimeout(timer);
    return s;
  }
}

/** Thrown from a waitFor() probe to stop waiting at once (the process that would answer has died). */
export class GaveUp extends Error {}

/**
 * Polls `f` every `stepMs` until it returns a truthy value, which it resolves with; a throw from `f`
 * counts as "not yet" and is reported if time runs out, except GaveUp, which ends the wait.
 * @throws GaveUp from `f`, as it is.
 * @throws Error `timed out after MS ms waiting for WHAT[: last error]`.
 */
export async function waitFor<T>(
  what: string,
  f: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 15000,
  stepMs = 100,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await f();
      if (v) return v as T;
    } catch (e) {
      if (e instanceof GaveUp) throw e;
      last = e;
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
}
