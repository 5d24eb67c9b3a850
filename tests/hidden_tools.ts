// A PATH from which some tools are hidden: a temporary directory with a symlink to every
// executable of the current PATH (the first of each name, as a shell would find it) except the
// hidden ones. What a machine without those Debian packages looks like to a spawned process,
// without uninstalling anything on a machine other runs share.

export interface HiddenPath {
  /** The directory to use as PATH. */
  dir: string;
  /** Puts an executable script named `name` into the directory (e.g. a fake apt-get). */
  stub(name: string, script: string): string;
  close(): void;
}

export function pathWithout(hidden: string[], path = Deno.env.get("PATH") ?? ""): HiddenPath {
  // On tmpfs when there is one: a thousand symlinks on a busy disk take seconds.
  const dir = Deno.makeTempDirSync({ prefix: "weft-path-", dir: tmpfs() });
  const seen = new Set(hidden);
  for (const d of path.split(":")) {
    if (!d) continue;
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(d)];
    } catch {
      continue; // a PATH entry that does not exist
    }
    for (const e of entries) {
      if (seen.has(e.name) || e.isDirectory) continue;
      seen.add(e.name);
      Deno.symlinkSync(`${d}/${e.name}`, `${dir}/${e.name}`);
    }
  }
  return {
    dir,
    stub(name, script) {
      const file = `${dir}/${name}`;
      try {
        Deno.removeSync(file);
      } catch { /* not linked */ }
      Deno.writeTextFileSync(file, `#!/bin/sh\n${script}\n`, { mode: 0o755 });
      return file;
    },
    close() {
      Deno.removeSync(dir, { recursive: true });
    },
  };
}

function tmpfs(): string | undefined {
  try {
    return Deno.statSync("/dev/shm").isDirectory ? "/dev/shm" : undefined;
  } catch {
    return undefined;
  }
}
