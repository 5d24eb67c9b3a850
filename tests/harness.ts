// What the Deno tests share beyond the lab itself (cli/lab/): labTest(), the Deno.test shell that
// always tears its lab down; tshark field extraction; a tcpdump capture that is listening before a
// test sends; `weft pcap` from the source tree; temporary directories; which tools are installed.

import assert from "node:assert/strict";
import { Lab, type LabOptions, type Output, type Process, run, waitFor, weft } from "../cli/lab/mod.ts";

/** How long a lab test may run before labTest() fails it and tears the lab down, ms. */
export const LAB_TEST_TIMEOUT_MS = 10 * 60_000;

export interface LabTestOptions extends Omit<Deno.TestDefinition, "name" | "fn"> {
  /** Options of the test's Lab. */
  lab?: LabOptions;
  /** Fails the test after this many ms; default LAB_TEST_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Runs when the test fails, before the lab is torn down (e.g. to print the daemons' logs). */
  onFailure?: (lab: Lab) => Promise<void>;
}

/**
 * A Deno test with a fresh Lab, closed afterwards however `fn` ends (passes, throws, times out);
 * `fn` also gets the test context (for steps).
 * Op and resource sanitizers are off: lab processes outlive the ops that started them by design.
 */
export function labTest(
  name: string,
  opts: LabTestOptions,
  fn: (lab: Lab, t: Deno.TestContext) => Promise<void>,
): void {
  const { lab: labOptions, timeoutMs = LAB_TEST_TIMEOUT_MS, onFailure, ...definition } = opts;
  Deno.test({
    sanitizeOps: false,
    sanitizeResources: false,
    ...definition,
    name,
    async fn(t) {
      const lab = new Lab(labOptions);
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await Promise.race([
          fn(lab, t),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`${name}: timed out after ${timeoutMs} ms`)),
              timeoutMs,
            );
          }),
        ]);
      } catch (e) {
        await onFailure?.(lab);
        throw e;
      } finally {
        clearTimeout(timer);
        await lab.close();
      }
    },
  });
}

/** Whether `tool --version` runs here. */
export function hasTool(tool: string): boolean {
  try {
    return new Deno.Command(tool, { args: ["--version"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

export interface TsharkOptions {
  /** A display filter (`-Y`). */
  filter?: string;
  /**
   * Which occurrence of a field a packet with several gives (`-E occurrence=`): "f" the first (the
   * outer header's), "l" the last (the innermost), "a" all, comma-separated (tshark's default).
   */
  occurrence?: "f" | "l" | "a";
  /** More tshark arguments before the field list (`-d …`, `-o …`). */
  args?: string[];
  /** Kill tshark after this many ms; default run()'s. */
  timeoutMs?: number;
}

/**
 * `tshark -r FILE -T fields -e F…`: one row per packet, one string per field ("" where absent);
 * no rows when no packet matches.
 * @throws AssertionError with tshark's stderr when it fails.
 */
export async function tsharkFields(
  file: string,
  fields: string[],
  opts: TsharkOptions = {},
): Promise<string[][]> {
  const r = await run([
    "tshark",
    "-r",
    file,
    ...(opts.filter ? ["-Y", opts.filter] : []),
    ...(opts.args ?? []),
    "-T",
    "fields",
    ...(opts.occurrence ? ["-E", `occurrence=${opts.occurrence}`] : []),
    ...fields.flatMap((f) => ["-e", f]),
  ], { timeoutMs: opts.timeoutMs });
  assert.equal(r.code, 0, `tshark -r ${file}: ${r.stderr}`);
  // Only the final newline goes: trimEnd() would also cut the last row's empty trailing fields.
  const text = r.stdout.replace(/\n$/, "");
  return text === "" ? [] : text.split("\n").map((l) => l.split("\t"));
}

/** A running tcpdump (capture()); stop() lets the last packets land, then ends it. */
export interface Capture {
  file: string;
  process: Process;
  stop(): Promise<void>;
}

/**
 * `tcpdump -i DEV -U -w FILE ARGS…` in namespace `ns`, resolved once it is listening (it has written
 * the file's 24-byte header). `args` are tcpdump options and the filter expression.
 */
export async function capture(
  lab: Lab,
  ns: string,
  dev: string,
  file: string,
  args: string[],
): Promise<Capture> {
  const process = lab.spawn(ns, ["tcpdump", "-i", dev, "-U", "-w", file, ...args]);
  await waitFor(`tcpdump on ${dev} in ${ns}`, async () => (await Deno.stat(file)).size >= 24, 10000)
    .catch(() => {/* a capture that never starts shows in what the test then reads */});
  return {
    file,
    process,
    async stop() {
      // tcpdump -U writes each packet as it comes: wait until the file has not grown for 300 ms
      // (at most 3 s), so packets still on their way under load are not cut off.
      let last = -1, still = 0;
      await waitFor(
        "the capture to settle",
        async () => {
          const { size } = await Deno.stat(file);
          still = size === last ? still + 1 : 0;
          last = size;
          return still >= 3;
        },
        3000,
        100,
      ).catch(() => {/* still growing: stop anyway */});
      // SIGINT: tcpdump flushes and exits; SIGTERM (and SIGKILL) only if it does not.
      process.signal("SIGINT");
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([process.status, new Promise((r) => timer = setTimeout(r, 3000))]);
      clearTimeout(timer);
      await process.stop(1000);
    },
  };
}

/** `weft pcap ARGS…` from the source tree, as a user runs it. */
export function weftPcap(...args: string[]): Promise<Output> {
  return weft(["pcap", ...args], 60000);
}

/** A temporary directory for `fn`, removed afterwards. */
export async function withTemp(fn: (dir: string) => Promise<void>, prefix = "weft-test-"): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
