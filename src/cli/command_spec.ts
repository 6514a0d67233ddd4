/**
 * The command line described as data: commands, their arguments and options, as the parser
 * (`argv.ts`) reads them and the help (`help.ts`) shows them.
 *
 * @module
 */

/** An option, written as in the help: `--name <name>`, `--daemon`, `-V, --version`. */
export interface OptionSpec {
  /** Flags and value placeholder, e.g. `--format <format>`. */
  flags: string;
  /** One line for the help. */
  description: string;
  /** The command fails unless it is given. */
  mandatory?: boolean;
  /** The only values accepted. */
  choices?: readonly string[];
  /** The value when it is not given. */
  default?: string;
  /** Each use adds its value to a list. */
  repeatable?: boolean;
  /** Prints this text and ends the parse (`--version`). */
  prints?: string;
}

/** A positional argument: `[message]`, `<id>`, `[ids...]`. */
export interface ArgSpec {
  /** Its form in the usage line. */
  usage: string;
  /** One line for the help. */
  description: string;
  /** The only values it takes (offered by shell completion). */
  choices?: readonly string[];
}

/** What a command's action receives: its arguments in order, and the merged flags. */
export type Action = (
  args: (string | string[] | undefined)[],
  flags: Record<string, unknown>,
) => Promise<void>;

/** A command: either an action with arguments, or a group of subcommands. */
export interface CommandSpec {
  /** Its name on the command line. */
  name: string;
  /** One line for the help. */
  description: string;
  /** Positional arguments, in order. */
  args?: ArgSpec[];
  /** Its own options (a parent's options are recognised too). */
  options?: OptionSpec[];
  /** Subcommands (for a group). */
  commands?: CommandSpec[];
  /** What it does (for a command that is not a group). */
  action?: Action;
}

/** A parsed option spec. */
export interface Flag {
  /** The spec. */
  spec: OptionSpec;
  /** `-V`, if any. */
  short?: string;
  /** `--version`. */
  long: string;
  /** The key in the flags object (`--path-or-url` → `pathOrUrl`). */
  key: string;
  /** It takes a value (`<x>`). */
  takesValue: boolean;
}

/** Splits an option's flags into its parts. */
export function flagOf(spec: OptionSpec): Flag {
  const parts = spec.flags.split(/[ ,|]+/);
  const short = parts.find((p) => /^-[^-]$/.test(p));
  const long = parts.find((p) => p.startsWith("--")) ?? short!;
  const key = long.replace(/^--?/, "").replace(/-(.)/g, (_, c: string) => c.toUpperCase());
  return { spec, short, long, key, takesValue: /<[^>]+>/.test(spec.flags) };
}

/** The built-in help option of every command. */
export const HELP_OPTION: OptionSpec = {
  flags: "-h, --help",
  description: "display help for command",
};

/** The implicit `help [command]` of every group. */
export const HELP_COMMAND: CommandSpec = {
  name: "help",
  description: "display help for command",
  args: [{ usage: "[command]", description: "" }],
};

/** An argument's name: `[ids...]` → `ids`. */
export function argName(a: ArgSpec): string {
  return a.usage.slice(1, -1).replace(/\.\.\.$/, "");
}
