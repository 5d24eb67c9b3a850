// What every benchmark records beside its figures: when, where, and how loaded the machine was
// (this project's VM is shared; a figure means little without the load it was taken under).

/** /proc/loadavg's 1, 5 and 15 minute averages, as printed there ("0.52 0.58 0.59"). */
export function loadavg(): string {
  return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
}

/** The context of a run: date, kernel, CPUs, Deno, the git commit, load average at start. */
export function runContext(): Record<string, unknown> {
  let commit = "unknown";
  try {
    const r = new Deno.Command("git", {
      args: ["rev-parse", "--short", "HEAD"],
      stdout: "piped",
      stderr: "null",
    })
      .outputSync();
    if (r.success) commit = new TextDecoder().decode(r.stdout).trim();
  } catch { /* no git */ }
  return {
    date: new Date().toISOString(),
    kernel: Deno.osRelease(),
    cpus: navigator.hardwareConcurrency,
    deno: Deno.version.deno,
    commit,
    loadavgStart: loadavg(),
  };
}

/** Writes `report` (with `context` and the load average at its end) as JSON to `path`. */
export function writeReport(path: string, context: Record<string, unknown>, report: Record<string, unknown>) {
  const body = { ...context, loadavgEnd: loadavg(), ...report };
  Deno.writeTextFileSync(path, JSON.stringify(body, null, 2) + "\n");
  console.log(`JSON written to ${path}`);
}
