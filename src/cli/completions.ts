/**
 * `hookhost completions bash|zsh|fish`: a shell completion script, made from the same command
 * tree as the parser and the help (program.ts), so it never lists a command or flag that does
 * not exist. Commands, subcommands and flags complete; a flag's value completes as a file
 * (`<file>`), a folder (`<dir>`, `--state`) or one of its choices.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { CommandSpec, OptionSpec } from "./command_spec.ts";

/** The shells a script can be made for. */
export const SHELLS = ["bash", "zsh", "fish"] as const;

/** One option as completion sees it. */
interface Opt {
  /** `-V`, `--version`. */
  names: string[];
  description: string;
  /** What its value is: `file`, `dir`, a list of choices, or any text; absent for a flag. */
  value?: "file" | "dir" | "text" | readonly string[];
}

/** A command (or group) at `path` with what may follow it. */
interface Node {
  path: string[];
  commands: { name: string; description: string }[];
  options: Opt[];
}

function option(spec: OptionSpec): Opt {
  const names = spec.flags.split(/[ ,]+/).filter((w) => w.startsWith("-"));
  const placeholder = /<([^>]+)>/.exec(spec.flags)?.[1];
  const value = spec.choices
    ? spec.choices
    : placeholder === undefined
    ? undefined
    : /file/.test(placeholder)
    ? "file"
    : /dir/.test(placeholder)
    ? "dir"
    : placeholder === "path-or-url"
    ? "file"
    : "text";
  return { names, description: spec.description, ...(value ? { value } : {}) };
}

/** Every node of `spec`'s tree, the root first; a node's options include its parents'. */
function nodes(spec: CommandSpec, path: string[] = [], inherited: Opt[] = []): Node[] {
  const own = (spec.options ?? []).map(option);
  const seen = new Set(own.flatMap((o) => o.names));
  const options = [...own, ...inherited.filter((o) => !o.names.some((n) => seen.has(n)))];
  const node: Node = {
    path,
    commands: [
      ...(spec.commands ?? []).map((c) => ({ name: c.name, description: c.description })),
      // Values of its first argument, when they are few (`completions bash|zsh|fish`).
      ...(spec.args?.[0]?.choices ?? []).map((name) => ({
        name,
        description: spec.args![0].description,
      })),
    ],
    options,
  };
  return [
    node,
    ...(spec.commands ?? []).flatMap((c) => nodes(c, [...path, c.name], options)),
  ];
}

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

function bash(tree: Node[], program: string): string {
  const fn = `_${program}`;
  const words = tree.map((n) =>
    `    ${quote(n.path.join(" "))}) echo ${
      quote([...n.commands.map((c) => c.name), ...n.options.flatMap((o) => o.names)].join(" "))
    } ;;`
  );
  const values = valueCases(
    tree,
    (names, value) =>
      `    ${names.join("|")}) ${
        value === "file"
          ? `COMPREPLY=($(compgen -f -- "$cur"))`
          : value === "dir"
          ? `COMPREPLY=($(compgen -d -- "$cur"))`
          : value === "text"
          ? "COMPREPLY=()"
          : `COMPREPLY=($(compgen -W ${quote(value.join(" "))} -- "$cur"))`
      }; return ;;`,
  );
  return `# bash completion for ${program}: eval "$(${program} completions bash)" in ~/.bashrc
${fn}_words() {
  case "$1" in
${words.join("\n")}
  esac
}
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" path="" w i
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    if [[ " $(${fn}_words "$path") " == *" $w "* ]]; then path="\${path:+$path }$w"; fi
  done
  case "$prev" in
${values.join("\n")}
  esac
  COMPREPLY=($(compgen -W "$(${fn}_words "$path")" -- "$cur"))
}
complete -o filenames -F ${fn} ${program}
`;
}

/** One case per distinct value kind of the tree's options that take a value. */
function valueCases(
  tree: Node[],
  render: (names: string[], value: NonNullable<Opt["value"]>) => string,
): string[] {
  const byValue = new Map<string, { names: Set<string>; value: NonNullable<Opt["value"]> }>();
  for (const o of tree.flatMap((n) => n.options)) {
    if (!o.value) continue;
    const key = JSON.stringify(o.value);
    const entry = byValue.get(key) ?? { names: new Set<string>(), value: o.value };
    for (const n of o.names) entry.names.add(n);
    byValue.set(key, entry);
  }
  return [...byValue.values()].map((e) => render([...e.names].sort(), e.value));
}

function zsh(tree: Node[], program: string): string {
  const fn = `_${program}`;
  const words = tree.map((n) => {
    const items = [
      ...n.commands.map((c) => `${c.name}:${c.description}`),
      ...n.options.flatMap((o) => o.names.map((name) => `${name}:${o.description}`)),
    ].map((s) => quote(s.replaceAll(":", "\\:").replace("\\:", ":")));
    return `    ${quote(n.path.join(" "))}) items=(${items.join(" ")}) ;;`;
  });
  const values = valueCases(
    tree,
    (names, value) =>
      `    ${names.join("|")}) ${
        value === "file"
          ? "_files"
          : value === "dir"
          ? "_files -/"
          : value === "text"
          ? "_message value"
          : `compadd -- ${value.map(quote).join(" ")}`
      }; return ;;`,
  );
  return `#compdef ${program}
# zsh completion for ${program}: save as _${program} in a folder of $fpath, or
# eval "$(${program} completions zsh)" in ~/.zshrc after compinit
${fn}_items() {
  case "$1" in
${words.join("\n")}
  esac
}
${fn}() {
  local path_="" w i
  local -a items
  for ((i = 2; i < CURRENT; i++)); do
    w="\${words[i]}"
    [[ "$w" == -* ]] && continue
    items=()
    ${fn}_items "$path_"
    if (( \${items[(I)\${w}:*]} )); then path_="\${path_:+$path_ }$w"; fi
  done
  case "\${words[CURRENT-1]}" in
${values.join("\n")}
  esac
  items=()
  ${fn}_items "$path_"
  _describe -t commands ${program} items
}
compdef ${fn} ${program}
`;
}

function fish(tree: Node[], program: string): string {
  const lines = [
    `# fish completion for ${program}: ${program} completions fish > ~/.config/fish/completions/${program}.fish`,
    `complete -c ${program} -f`,
  ];
  for (const n of tree) {
    // The words of its path seen, and none of its subcommands yet.
    const seen = n.path.map((w) => `__fish_seen_subcommand_from ${w}`);
    const subs = n.commands.map((c) => c.name);
    const at = n.path.length === 0
      ? ["__fish_use_subcommand"]
      : [...seen, ...(subs.length ? [`not __fish_seen_subcommand_from ${subs.join(" ")}`] : [])];
    const cond = quote(at.join("; and "));
    for (const c of n.commands) {
      lines.push(`complete -c ${program} -n ${cond} -a ${c.name} -d ${quote(c.description)}`);
    }
    for (const o of n.options) {
      const flags = o.names.map((name) =>
        name.startsWith("--") ? `-l ${name.slice(2)}` : `-s ${name.slice(1)}`
      );
      const value = o.value === undefined
        ? ""
        : o.value === "file"
        ? " -r -F"
        : o.value === "dir"
        ? ` -x -a '(__fish_complete_directories)'`
        : o.value === "text"
        ? " -x"
        : ` -x -a ${quote(o.value.join(" "))}`;
      lines.push(
        `complete -c ${program} -n ${cond} ${flags.join(" ")}${value} -d ${quote(o.description)}`,
      );
    }
  }
  return lines.join("\n") + "\n";
}

/** The completion script of `program` for `shell`. */
export function completionScript(shell: string, program: CommandSpec): string {
  const tree = nodes(program);
  if (shell === "bash") return bash(tree, program.name);
  if (shell === "zsh") return zsh(tree, program.name);
  if (shell === "fish") return fish(tree, program.name);
  throw new UsageError(`Unknown shell '${shell}'; one of: ${SHELLS.join(", ")}`);
}

/** Runs `hookhost completions SHELL`: prints the script. */
export async function completions(shell: string): Promise<void> {
  const { PROGRAM } = await import("./program.ts");
  const script = completionScript(shell, PROGRAM);
  await Deno.stdout.write(new TextEncoder().encode(script));
}
