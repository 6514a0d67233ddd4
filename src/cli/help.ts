/**
 * Help text and "did you mean" suggestions for the command-line parser (`argv.ts`), laid out
 * and worded as Commander 14 does, which hookhost used before.
 *
 * @module
 */
import {
  argName,
  type CommandSpec,
  flagOf,
  HELP_COMMAND,
  HELP_OPTION,
  type OptionSpec,
} from "./command_spec.ts";

const INDENT = 2;
const SPACER = 2;
/** Descriptions narrower than this are not wrapped. */
const MIN_WRAP = 40;

/** The help of the last command of `path` (the root first), wrapped at `width` columns. */
export function formatHelp(path: CommandSpec[], width: number): string {
  const cmd = path.at(-1)!;
  const commands = cmd.commands ?? [];
  const args = cmd.args ?? [];
  const usage = [
    "[options]",
    ...(commands.length ? ["[command]"] : []),
    ...args.map((a) => a.usage),
  ];
  const argItems = args.some((a) => a.description)
    ? args.map((a) => [argName(a), a.description])
    : [];
  const optionItems = [...(cmd.options ?? []), HELP_OPTION].map((o) => [o.flags, describe(o)]);
  const visible = commands.length && !cmd.action ? [...commands, HELP_COMMAND] : commands;
  const commandItems = visible.map((c) => [
    [c.name, ...(c.options?.length ? ["[options]"] : []), ...(c.args ?? []).map((a) => a.usage)]
      .join(" "),
    c.description,
  ]);
  const termWidth = Math.max(
    0,
    ...[...argItems, ...optionItems, ...commandItems].map(([t]) => t.length),
  );
  const item = ([term, description]: string[]) => formatItem(term, description, termWidth, width);
  const out = [`Usage: ${path.map((c) => c.name).join(" ")} ${usage.join(" ")}`, ""];
  if (cmd.description) out.push(wrap(cmd.description, width), "");
  for (
    const [title, items] of [
      ["Arguments:", argItems],
      ["Options:", optionItems],
      ["Commands:", commandItems],
    ] as const
  ) {
    if (items.length) out.push(title, ...items.map(item), "");
  }
  return out.join("\n");
}

function describe(o: OptionSpec): string {
  const extra: string[] = [];
  if (o.choices) extra.push(`choices: ${o.choices.map((c) => JSON.stringify(c)).join(", ")}`);
  if (o.default !== undefined && flagOf(o).takesValue) {
    extra.push(`default: ${JSON.stringify(o.default)}`);
  }
  if (!extra.length) return o.description;
  return o.description ? `${o.description} (${extra.join(", ")})` : `(${extra.join(", ")})`;
}

function formatItem(term: string, description: string, termWidth: number, width: number): string {
  const indent = " ".repeat(INDENT);
  if (!description) return indent + term;
  const remaining = width - termWidth - SPACER - INDENT;
  const text = remaining < MIN_WRAP || /\n[^\S\r\n]/.test(description)
    ? description
    : wrap(description, remaining).replace(/\n/g, "\n" + " ".repeat(termWidth + SPACER));
  return indent + term.padEnd(termWidth) + " ".repeat(SPACER) + text.replace(/\n/g, `\n${indent}`);
}

/** Wraps `text` at `width` columns on whitespace (not below {@linkcode MIN_WRAP}). */
function wrap(text: string, width: number): string {
  if (width < MIN_WRAP) return text;
  const lines: string[] = [];
  for (const line of text.split(/\r\n|\n/)) {
    const chunks = line.match(/\s*\S+/g);
    if (!chunks) {
      lines.push("");
      continue;
    }
    let current = chunks.shift()!;
    for (const chunk of chunks) {
      if (current.length + chunk.length <= width) current += chunk;
      else {
        lines.push(current);
        current = chunk.trimStart();
      }
    }
    lines.push(current);
  }
  return lines.join("\n");
}

const MAX_DISTANCE = 3;

/** Damerau–Levenshtein distance (with adjacent transpositions), capped early. */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > MAX_DISTANCE) return Math.max(a.length, b.length);
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d[i] = [i];
  for (let j = 0; j <= b.length; j++) d[0][j] = j;
  for (let j = 1; j <= b.length; j++) {
    for (let i = 1; i <= a.length; i++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/**
 * `\n(Did you mean X?)` for the candidates closest to `word` (same number of edits, at most 3,
 * and more than 40 % alike), or `""`. Options are compared without their `--`.
 */
export function suggestSimilar(word: string, candidates: string[]): string {
  const options = word.startsWith("--");
  const strip = (s: string) => options ? s.slice(2) : s;
  const target = strip(word);
  let best = MAX_DISTANCE;
  let similar: string[] = [];
  for (const candidate of new Set(candidates.map(strip))) {
    if (candidate.length <= 1) continue;
    const distance = editDistance(target, candidate);
    const length = Math.max(target.length, candidate.length);
    if ((length - distance) / length <= 0.4) continue;
    if (distance < best) {
      best = distance;
      similar = [candidate];
    } else if (distance === best) similar.push(candidate);
  }
  similar.sort((a, b) => a.localeCompare(b));
  if (options) similar = similar.map((c) => `--${c}`);
  if (similar.length > 1) return `\n(Did you mean one of ${similar.join(", ")}?)`;
  return similar.length ? `\n(Did you mean ${similar[0]}?)` : "";
}
