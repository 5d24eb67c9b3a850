// `weft run -d --name C --network NAME [--ip IP] [-- CMD…]`: a container (network namespace C)
// on an overlay network, with eth0 on the daemon's switch.

import { UsageError } from "../errors.ts";
import { api, parseCommand } from "../control/daemon/client.ts";
import { validAlias } from "../dns/names.ts";

const USAGE = `Usage: weft run -d --name NAME --network NETWORK [--ip IP] [--ip6 IPV6] [-- CMD [ARG…]]
  The container is a network namespace NAME: "ip netns exec NAME …" and "weft exec NAME -- …" work.
  -d is implied: containers always run detached, CMD's output goes to the daemon's log dir.
  --network-alias ALIAS (repeatable): another name for it. Its /etc/resolv.conf points at 127.0.0.11,
  which answers NAME and every ALIAS to the containers on NETWORK, on every host, and forwards
  other names to the host's resolvers.`;

export async function main(args: string[]): Promise<number> {
  const dd = args.indexOf("--");
  const own = dd >= 0 ? args.slice(0, dd) : args;
  let cmd = dd >= 0 ? args.slice(dd + 1) : [];
  const { values: v, positionals } = parseCommand(own, {
    detach: { type: "boolean", short: "d" },
    name: { type: "string" },
    "network-alias": { type: "string", multiple: true },
    network: { type: "string" },
    net: { type: "string" },
    ip: { type: "string" },
    ip6: { type: "string" },
  }, USAGE);
  // `weft run -d --name c1 --network n alpine sleep 1d`: an image name has no meaning here; the rest is CMD.
  if (!cmd.length && positionals.length > 1) cmd = positionals.slice(1);
  const network = v.network ?? v.net;
  if (!v.name) throw new UsageError(`--name is required\n${USAGE}`);
  if (!network) throw new UsageError(`--network is required\n${USAGE}`);
  const aliases: string[] = v["network-alias"] ?? [];
  const bad = aliases.find((a) => !validAlias(a));
  if (bad !== undefined) {
    throw new UsageError(`invalid --network-alias "${bad}": a hostname (letters, digits, "_", "-", dots)`);
  }
  const c = await api(v.host, "POST", "/containers", { name: v.name, network, ip: v.ip, ip6: v.ip6, cmd, aliases });
  console.log(c.endpointId);
  return 0;
}
