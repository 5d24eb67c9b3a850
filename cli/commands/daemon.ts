// `weft daemon [--state-dir DIR] [--host unix:///run/weft/weft.sock] [--hostname NAME]`: the
// per-host daemon. Run it in the host's network namespace (the underlay one); every other
// command talks to it over the socket.

import { UsageError } from "../errors.ts";
import { parseOptions } from "../args.ts";
import { Daemon } from "../control/daemon/daemon.ts";
import { DEFAULT_HOST, DEFAULT_STATE_DIR, socketPath } from "../control/daemon/client.ts";
import { parseUpstream } from "../dns/server.ts";

const USAGE =
  `Usage: weft daemon [--state-dir DIR] [-H|--host unix:///run/weft/weft.sock] [--hostname NAME] [--no-offload]
                   [--gwbridge-subnet 172.18.0.0/16] [--nft-table NAME] [--dns IP[:PORT]]…
  Two daemons on one machine need their own --state-dir and --host.
  --gwbridge-subnet: weft_gwbridge's subnet (containers' eth1, the way out, masqueraded).
  --nft-table: this instance's nftables table (default weft_ and a hash of --state-dir).
  --dns: where containers' DNS queries for other than container names go (repeatable); default:
  the nameservers of this host's /etc/resolv.conf, asked from the daemon's network namespace.`;

export async function main(args: string[]): Promise<number> {
  const { values } = parseOptions(args, {
    "state-dir": { type: "string", default: DEFAULT_STATE_DIR },
    host: { type: "string", short: "H", default: Deno.env.get("WEFT_HOST") ?? DEFAULT_HOST },
    hostname: { type: "string", default: Deno.hostname() },
    dns: { type: "string", multiple: true },
    help: { type: "boolean", short: "h" },
    "no-offload": { type: "boolean" },
    "gwbridge-subnet": { type: "string" },
    "nft-table": { type: "string" },
  }, USAGE);
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (Deno.uid() !== 0) {
    throw new UsageError("weft daemon needs root (TAP devices, network namespaces): run it with sudo");
  }
  const table = values["nft-table"];
  if (table !== undefined && !/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(table)) {
    throw new UsageError(
      `invalid --nft-table "${table}": a letter, then letters, digits, "_" or "-", up to 64`,
    );
  }
  const dns = (values.dns as string[] ?? []).map((text) => {
    const u = parseUpstream(text);
    if (!u) throw new UsageError(`invalid --dns "${text}": expected an IP address, IP:PORT or [IPv6]:PORT`);
    return u;
  });
  let d: Daemon;
  try {
    d = new Daemon({
      stateDir: values["state-dir"]!,
      socket: socketPath(values.host),
      hostname: values.hostname!,
      offload: !values["no-offload"],
      gwbridgeSubnet: values["gwbridge-subnet"],
      nftTable: table,
      dns,
    });
  } catch (e) {
    throw new UsageError(`invalid --gwbridge-subnet: ${e instanceof Error ? e.message : e}`);
  }
  try {
    await d.start();
  } catch (e) {
    await d.shutdown().catch(() => {});
    throw new UsageError(`cannot start the daemon: ${e instanceof Error ? e.message : e}`);
  }
  await new Promise<void>((resolve) => {
    for (const s of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(s, () => resolve());
  });
  d.log("shutting down");
  await d.shutdown();
  return 0;
}
