// weft: VXLAN overlay networks for containers, with a WebAssembly data plane.
// `deno run -A --unstable-net cli/main.ts <command> …`; one file per command in cli/commands/.

import { error, UsageError } from "./errors.ts";

type Command = (args: string[]) => Promise<number | void>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  pcap: {
    summary: "run captures through the core: pcap decap IN OUT | pcap encap --vni N --src A --dst B IN OUT",
    load: async () => (await import("./commands/pcap.ts")).main,
  },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `Usage: weft <command> [options]\n\nCommands:\n${lines.join("\n")}\n`;
}

if (import.meta.main) {
  const [name, ...rest] = Deno.args;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    console.log(usage());
    Deno.exit(name ? 0 : 2);
  }
  const command = COMMANDS[name];
  if (!command) error(`unknown command "${name}"; run "weft help" for the list`);
  try {
    const code = await (await command.load())(rest);
    Deno.exit(code ?? 0);
  } catch (e) {
    if (e instanceof UsageError) error(e.message, 2);
    throw e;
  }
}
