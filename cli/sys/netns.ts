// Opening a socket inside another network namespace without a child process: setns(2) moves only
// the calling thread, and a socket belongs for life to the namespace it was created in (the
// kernel stores it in struct sock at socket(2) time). So the thread steps into the namespace,
// creates the socket through a synchronous Deno op, and steps back before any other JavaScript
// runs on it: no await happens in between, so nothing else can observe the borrowed namespace.
// Deno's other threads (tokio's, the data-plane worker) never move. Receiving and sending later
// do not depend on the thread's namespace (epoll sees the fd, wherever it was made).
//
// This is what Docker's daemon does for its embedded DNS (libnetwork's resolver runs
// `sb.execFunc` on an OS thread locked into the sandbox's namespace to bind 127.0.0.11).

import { check } from "./errno.ts";
import { CLONE_NEWNET, cString, libc, O_CLOEXEC, O_RDONLY } from "./libc.ts";

const NETNS_DIR = "/run/netns";

function openNs(path: string, what: string): number {
  return check(libc().open(cString(path), O_RDONLY | O_CLOEXEC, 0), "open", `cannot open ${what} (${path})`);
}

/**
 * Runs `f` with this thread in network namespace `ns` (a name under /run/netns, ip-netns(8)),
 * then moves the thread back to the namespace it was in. `f` must be synchronous: a Promise it
 * returns would resolve after the thread moved back.
 * @throws SysError when the namespace cannot be opened or entered (nothing changed then). A
 * failure to move back is a broken invariant: the thread would create every later socket in the
 * container, so the process exits rather than go on there.
 */
export function withNetns<T>(ns: string, f: () => T): T {
  const lib = libc();
  const home = openNs("/proc/thread-self/ns/net", "this thread's network namespace");
  try {
    const target = openNs(`${NETNS_DIR}/${ns}`, `network namespace ${ns}`);
    try {
      check(lib.setns(target, CLONE_NEWNET), "setns", `cannot enter network namespace ${ns}`);
    } finally {
      lib.close(target);
    }
    try {
      const out = f();
      if (out instanceof Promise) throw new TypeError("withNetns() takes a synchronous function");
      return out;
    } finally {
      if (lib.setns(home, CLONE_NEWNET) !== 0) {
        console.error(`weft: cannot return from network namespace ${ns} (setns failed); exiting`);
        Deno.exit(70);
      }
    }
  } finally {
    lib.close(home);
  }
}
