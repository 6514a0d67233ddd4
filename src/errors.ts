/**
 * Typed errors with a stable `code` that callers branch on, and the exit code `main.ts` turns
 * them into. Messages are one sentence-case line, values in quotes, never a stack trace.
 *
 * @module
 */

/** Exit code for a runtime failure. */
export const EXIT_RUNTIME = 1;
/** Exit code for a usage or configuration error. */
export const EXIT_USAGE = 2;

/** Base class of every error hookhost reports to users. */
export class HookhostError extends Error {
  /** Stable machine-readable code, e.g. `"config_invalid"`. */
  readonly code: string;
  /** Process exit code `main.ts` uses for this error. */
  readonly exitCode: number;

  /** Creates an error with a stable `code` and the exit code it maps to. */
  constructor(code: string, message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = options.exitCode ?? EXIT_RUNTIME;
  }
}

/** Bad command-line usage (exit 2). */
export class UsageError extends HookhostError {
  /** Creates a usage error (exit code 2). */
  constructor(message: string, code = "usage") {
    super(code, message, { exitCode: EXIT_USAGE });
  }
}

/** One problem found in a configuration file, with where it is. */
export interface ConfigProblem {
  /** File the problem is in. */
  file: string;
  /** 1-based line, when known. */
  line?: number;
  /** 1-based column, when known. */
  col?: number;
  /** Key path such as `hooks[1].bind`, when the problem is about a key. */
  path?: string;
  /** What is wrong, one sentence-case line. */
  message: string;
}

/** Formats a problem as `file:line:col: path: message`. */
export function formatProblem(p: ConfigProblem): string {
  const where = p.line ? `${p.file}:${p.line}:${p.col ?? 1}` : p.file;
  return p.path ? `${where}: ${p.path}: ${p.message}` : `${where}: ${p.message}`;
}

/** `problems` sorted in place by where they are in the file (those without a line first). */
export function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
}

/** `text` with its first letter capitalized: a parser's or zod's message as a problem's. */
export function sentenceCase(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** An invalid configuration file (exit 2); carries every problem found. */
export class ConfigError extends HookhostError {
  /** Every problem found, in file order. */
  readonly problems: ConfigProblem[];

  /** Creates a config error; the message is the first problem, the rest are in `problems`. */
  constructor(problems: ConfigProblem[]) {
    const first = problems[0] ? formatProblem(problems[0]) : "Invalid configuration";
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem(s))` : "";
    super("config_invalid", first + more, { exitCode: EXIT_USAGE });
    this.problems = problems;
  }
}
