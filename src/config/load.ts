/**
 * Reads, parses and validates the TOML config, reporting every problem with `file:line:col`
 * and its key path.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import { ConfigError, type ConfigProblem } from "../errors.ts";
import { type BindAddress, bindsClash, parseBind } from "./bind.ts";
import { formatPath, indexPositions, locate } from "./locate.ts";
import { type Config, ConfigSchema, type HookConfig } from "./schema.ts";

/** Result of {@linkcode validateConfig}: the config when valid, and every problem found. */
export interface ValidationResult {
  /** The config, present only when `problems` is empty. */
  config?: Config;
  /** Every problem, in file order. */
  problems: ConfigProblem[];
}

function checkExecutable(path: string): string | undefined {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch {
    return `'${path}' does not exist`;
  }
  if (!info.isFile) return `'${path}' is not a regular file`;
  if (Deno.build.os !== "windows" && ((info.mode ?? 0) & 0o111) === 0) {
    return `'${path}' is not executable (chmod +x it)`;
  }
  return undefined;
}

/**
 * Validates TOML `source` read from `file` (relative paths resolve against `dir`). Never
 * throws for bad input: every problem is returned, sorted by line.
 */
export function validateConfig(
  source: string,
  options: { file: string | null; dir: string },
): ValidationResult {
  const file = options.file ?? "(default config)";
  let doc: unknown;
  try {
    doc = parseToml(source);
  } catch (e) {
    if (e instanceof TomlError) {
      const reason = e.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
      const message = reason.charAt(0).toUpperCase() + reason.slice(1);
      return { problems: [{ file, line: e.line, col: e.column, message }] };
    }
    throw e;
  }
  const index = indexPositions(source);
  const problems: ConfigProblem[] = [];
  const at = (path: PropertyKey[], message: string) =>
    problems.push({ file, ...locate(index, path), path: formatPath(path), message });

  const parsed = ConfigSchema.safeParse(doc);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === "unrecognized_keys") {
        for (const key of issue.keys) at([...issue.path, key], `Unknown key '${key}'`);
      } else {
        const msg = issue.message;
        at(issue.path, msg.charAt(0).toUpperCase() + msg.slice(1));
      }
    }
    return { problems: sortProblems(problems) };
  }
  const value = parsed.data;
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(options.dir, p));

  const names = new Map<string, number>();
  const binds: { addr: BindAddress; index: number }[] = [];
  const hooks: HookConfig[] = value.hooks.map((hook, i) => {
    const prev = names.get(hook.name);
    if (prev !== undefined) {
      at(["hooks", i, "name"], `Duplicate hook name '${hook.name}' (also hooks[${prev}])`);
    } else names.set(hook.name, i);

    try {
      const addr = parseBind(hook.bind);
      const clash = binds.find((b) => bindsClash(b.addr, addr));
      if (clash) {
        const other = value.hooks[clash.index];
        at(
          ["hooks", i, "bind"],
          `'${hook.bind}' binds the same socket as hook '${other.name}' ('${other.bind}')`,
        );
      }
      binds.push({ addr, index: i });
    } catch (e) {
      at(["hooks", i, "bind"], (e as Error).message);
    }

    if (hook.script !== undefined && hook.plugin !== undefined) {
      at(["hooks", i, "plugin"], "Give either 'script' or 'plugin', not both");
    }
    const script = hook.script === undefined ? undefined : abs(hook.script);
    if (script !== undefined) {
      const bad = checkExecutable(script);
      if (bad) at(["hooks", i, "script"], `Script ${bad}`);
    } else if (hook.plugin === undefined) {
      at(["hooks", i], "Script is required (or 'plugin')");
    }
    return { ...hook, script, line: locate(index, ["hooks", i])?.line };
  });

  const session = { ...value.session };
  if (session.handler !== undefined) {
    session.handler = abs(session.handler);
    const bad = checkExecutable(session.handler);
    if (bad) at(["session", "handler"], `Handler ${bad}`);
  }

  if (problems.length) return { problems: sortProblems(problems) };
  return { problems, config: { hooks, session, file: options.file, dir: options.dir } };
}

function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
}

/**
 * Loads the config at `file` (or the empty default when `file` is `null`). Throws
 * {@linkcode ConfigError} listing every problem.
 */
export async function loadConfig(file: string | null, dir: string): Promise<Config> {
  let source = "";
  if (file !== null) {
    try {
      source = await Deno.readTextFile(file);
    } catch (e) {
      throw new ConfigError([{ file, message: `Cannot read config: ${(e as Error).message}` }]);
    }
  }
  const result = validateConfig(source, { file, dir });
  if (!result.config) throw new ConfigError(result.problems);
  return result.config;
}
