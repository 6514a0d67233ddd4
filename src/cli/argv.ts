/**
 * The command-line parser: a tree of commands described as data, and the parse of `argv`
 * against it. It follows Commander 14's rules and words (which hookhost used before), so the
 * command line behaves as it did: options may come before or after the command that owns them,
 * a parent's options are recognised anywhere, `--opt=value` works, `--` ends the options, and
 * errors and help read the same. It replaced Commander because loading Commander's CommonJS
 * through Node compatibility took a short command like `send` ~40 ms of its ~60 ms.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import {
  type Action,
  argName,
  type CommandSpec,
  type Flag,
  flagOf,
  HELP_COMMAND,
} from "./command_spec.ts";
import { formatHelp, suggestSimilar } from "./help.ts";

/** The outcome of a parse: an action to run, or text to print (help, version). */
export type Parsed =
  | {
    kind: "action";
    action: Action;
    args: (string | string[] | undefined)[];
    flags: Record<string, unknown>;
  }
  | { kind: "print"; text: string; stream: "stdout" | "stderr"; exitCode: number };

/** How wide help is wrapped, for the stream it goes to. */
export type HelpWidth = (stream: "stdout" | "stderr") => number;

const isHelp = (arg: string) => arg === "-h" || arg === "--help";
const maybeOption = (arg: string) => arg.length > 1 && arg[0] === "-";
const negativeNumber = (arg: string) => /^-(\d+|\d*\.\d+)(e[+-]?\d+)?$/.test(arg);

/** One level of the parse: a command, the path to it, and the values of its options. */
interface Level {
  cmd: CommandSpec;
  path: CommandSpec[];
  flags: Flag[];
  values: Record<string, unknown>;
  parent?: Level;
}

class Printed {
  constructor(readonly parsed: Parsed) {}
}

/**
 * Parses `argv` (the arguments after the program name) against `root`. Throws a
 * {@linkcode UsageError} (exit 2) worded as Commander words it; help and `--version` come back as
 * text to print.
 */
export function parseArgv(
  root: CommandSpec,
  argv: string[],
  options: { helpWidth?: HelpWidth } = {},
): Parsed {
  const width = options.helpWidth ?? (() => 80);
  try {
    return parseLevel(level(root, []), [], argv, width);
  } catch (e) {
    if (e instanceof Printed) return e.parsed;
    throw e;
  }
}

function level(cmd: CommandSpec, path: CommandSpec[], parent?: Level): Level {
  const flags = (cmd.options ?? []).map(flagOf);
  const values: Record<string, unknown> = {};
  for (const f of flags) if (f.spec.default !== undefined) values[f.key] = f.spec.default;
  return { cmd, path: [...path, cmd], flags, values, parent };
}

function help(l: Level, stream: "stdout" | "stderr", width: HelpWidth): Printed {
  const text = formatHelp(l.path, width(stream));
  return new Printed({ kind: "print", text, stream, exitCode: stream === "stdout" ? 0 : 1 });
}

function parseLevel(l: Level, operands: string[], unknown: string[], width: HelpWidth): Parsed {
  const parsed = parseOptions(l, unknown);
  operands = [...operands, ...parsed.operands];
  unknown = parsed.unknown;
  const args = [...operands, ...unknown];
  const commands = l.cmd.commands ?? [];
  const sub = commands.find((c) => c.name === operands[0]);
  if (sub) return parseLevel(level(sub, l.path, l), operands.slice(1), unknown, width);
  const group = commands.length > 0 && !l.cmd.action;
  if (group && operands[0] === HELP_COMMAND.name) {
    // `help` alone is this group's help; `help NAME` that command's, or this one's as an error.
    if (operands[1] === undefined) throw help(l, "stdout", width);
    const target = commands.find((c) => c.name === operands[1]);
    throw target ? help(level(target, l.path, l), "stdout", width) : help(l, "stderr", width);
  }
  if (group && args.length === 0) throw help(l, "stderr", width);
  if (unknown.some(isHelp)) throw help(l, "stdout", width);
  for (let at: Level | undefined = l; at; at = at.parent) {
    for (const f of at.flags) {
      if (f.spec.mandatory && at.values[f.key] === undefined) {
        throw new UsageError(`required option '${f.spec.flags}' not specified`, "missing_option");
      }
    }
  }
  if (!l.cmd.action) {
    if (operands.length) throw unknownCommand(l, operands[0]);
    if (unknown.length) throw unknownOption(l, unknown[0]);
    throw help(l, "stderr", width);
  }
  if (unknown.length) throw unknownOption(l, unknown[0]);
  const flags: Record<string, unknown> = {};
  for (let at: Level | undefined = l; at; at = at.parent) Object.assign(flags, at.values);
  return { kind: "action", action: l.cmd.action, args: positionals(l.cmd, args), flags };
}

/** Takes the options this level knows out of `args`; the rest are operands and unknown. */
function parseOptions(l: Level, args: string[]): { operands: string[]; unknown: string[] } {
  const operands: string[] = [];
  const unknown: string[] = [];
  let dest = operands;
  const find = (arg: string) => l.flags.find((f) => f.long === arg || f.short === arg);
  let group: string | undefined;
  let i = 0;
  while (i < args.length || group !== undefined) {
    const arg = group ?? args[i++];
    group = undefined;
    if (arg === "--") {
      if (dest === unknown) dest.push(arg);
      dest.push(...args.slice(i));
      break;
    }
    if (maybeOption(arg)) {
      const f = find(arg);
      if (f) {
        if (f.takesValue) {
          const value = args[i++];
          if (value === undefined) {
            throw new UsageError(
              `option '${f.spec.flags}' argument missing`,
              "option_missing_argument",
            );
          }
          set(l, f, value);
        } else set(l, f, true);
        continue;
      }
    }
    if (arg.length > 2 && arg[0] === "-" && arg[1] !== "-") {
      const f = find(`-${arg[1]}`);
      if (f) {
        if (f.takesValue) set(l, f, arg.slice(2));
        else {
          set(l, f, true);
          group = `-${arg.slice(2)}`;
        }
        continue;
      }
    }
    if (/^--[^=]+=/.test(arg)) {
      const at = arg.indexOf("=");
      const f = find(arg.slice(0, at));
      if (f?.takesValue) {
        set(l, f, arg.slice(at + 1));
        continue;
      }
    }
    const leaf = !(l.cmd.commands?.length);
    if (dest === operands && maybeOption(arg) && !(leaf && negativeNumber(arg))) dest = unknown;
    dest.push(arg);
  }
  return { operands, unknown };
}

function set(l: Level, f: Flag, value: string | true): void {
  if (f.spec.prints !== undefined) {
    throw new Printed({ kind: "print", text: `${f.spec.prints}\n`, stream: "stdout", exitCode: 0 });
  }
  const { choices } = f.spec;
  if (typeof value === "string" && choices && !choices.includes(value)) {
    throw new UsageError(
      `option '${f.spec.flags}' argument '${value}' is invalid. Allowed choices are ${
        choices.join(", ")
      }.`,
      "invalid_choice",
    );
  }
  if (f.spec.repeatable) {
    l.values[f.key] = [...(l.values[f.key] as string[] | undefined ?? []), value];
  } else l.values[f.key] = value;
}

/** The action's positional arguments: checked for count, variadic last ones as a list. */
function positionals(cmd: CommandSpec, args: string[]): (string | string[] | undefined)[] {
  const specs = cmd.args ?? [];
  specs.forEach((a, i) => {
    if (a.usage.startsWith("<") && args[i] === undefined) {
      throw new UsageError(`missing required argument '${argName(a)}'`, "missing_argument");
    }
  });
  const variadic = specs.at(-1)?.usage.includes("...") ?? false;
  if (!variadic && args.length > specs.length) {
    const n = specs.length;
    throw new UsageError(
      `too many arguments for '${cmd.name}'. Expected ${n} argument${
        n === 1 ? "" : "s"
      } but got ${args.length}.`,
      "too_many_arguments",
    );
  }
  return specs.map((a, i) => a.usage.includes("...") ? args.slice(i) : args[i]);
}

function unknownOption(l: Level, flag: string): UsageError {
  let suggestion = "";
  if (flag.startsWith("--")) {
    const candidates: string[] = [];
    for (let at: Level | undefined = l; at; at = at.parent) {
      candidates.push(...at.flags.map((f) => f.long), "--help");
    }
    suggestion = suggestSimilar(flag, candidates);
  }
  return new UsageError(`unknown option '${flag}'${suggestion}`, "unknown_option");
}

function unknownCommand(l: Level, name: string): UsageError {
  const candidates = [...(l.cmd.commands ?? []), HELP_COMMAND].map((c) => c.name);
  return new UsageError(
    `unknown command '${name}'${suggestSimilar(name, candidates)}`,
    "unknown_command",
  );
}
