// `weft exec C -- CMD…`: runs CMD in container C's namespace, here, with this terminal's stdio.

import { UsageError } from "../errors.ts";
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
  const st = await new Deno.Command("ip", {
    args: ["netns", "exec", c.name, ...a],
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  })
    .spawn().status;
  return st.code;
}
