// `weft exec C -- CMD…`: runs CMD in container C with this terminal's stdio, as `docker exec`
// does. The daemon names the container's process; CMD enters that process's network and mount
// namespaces (nsenter, util-linux) through /proc/PID/ns, so it works from any mount or network
// namespace of the host: the /run/netns/C file is only a name in the daemon's mount namespace.

import { ApiError, UsageError } from "../errors.ts";
import { api } from "../control/daemon/client.ts";

const USAGE = "Usage: weft exec [-H unix:///path] NAME [--] CMD [ARG…]";

export async function main(args: string[]): Promise<number> {
  let host: string | undefined;
  const a = [...args];
  while (a[0] === "-H" || a[0] === "--host" || a[0] === "-it" || a[0] === "-i" || a[0] === "-t") {
    if (a[0] === "-H" || a[0] === "--host") host = a.splice(0, 2)[1];
    else a.shift();
  }
  const name = a.shift();
  if (a[0] === "--") a.shift();
  if (!name || !a.length) throw new UsageError(USAGE);
  const c = await api(host, "GET", `/containers/${encodeURIComponent(name)}`);
  if (!c.pid) throw new ApiError(`container ${name} is not running`, 409);
  // -w: the working directory of the container's process (/), as Docker's default WorkingDir.
  const child = new Deno.Command("nsenter", {
    args: ["-t", String(c.pid), "-n", "-m", "-w", "--", ...a],
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  });
  let st;
  try {
    st = await child.spawn().status;
  } catch (e) {
    throw new ApiError(`cannot run nsenter (util-linux): ${e instanceof Error ? e.message : e}`, 500);
  }
  return st.code;
}
