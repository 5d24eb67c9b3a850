// Command-line options, parsed one way for every command: node:util parseArgs in strict mode, and
// a mistake (an unknown option, a missing value) becomes a UsageError that carries the usage text.

import { parseArgs } from "node:util";
import { UsageError } from "./errors.ts";

/** parseArgs' option table: `{ name: { type, short?, multiple?, default? } }`. */
export type OptionTable = Record<
  string,
  { type: "string" | "boolean"; short?: string; multiple?: boolean; default?: string | boolean }
>;

/**
 * Parses `args` strictly against `options`.
 * @param usage appended to the error message after `sep` (default a new line)
 * @param o.positionals whether positional arguments are allowed (default false: one is an error)
 * @throws UsageError for an unknown option, a missing value, or an unwanted positional
 */
export function parseOptions(
  args: string[],
  options: OptionTable,
  usage: string,
  o: { positionals?: boolean; sep?: string } = {},
): { values: Record<string, any>; positionals: string[] } {
  try {
    return parseArgs({ args, strict: true, allowPositionals: o.positionals ?? false, options });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}${o.sep ?? "\n"}${usage}`);
  }
}
