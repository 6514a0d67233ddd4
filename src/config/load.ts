/**
 * Reads, parses and validates the TOML config, reporting every problem with `file:line:col`
 * and its key path.
 *
 * @module
 */
import { isAbsolute, resolve } from "../path.ts";
import { parse as parseToml, TomlError } from "smol-toml";
import { ConfigError, type ConfigProblem, sentenceCase, sortProblems } from "../errors.ts";
import { type BindAddress, bindsClash, isLoopback, parseBind } from "./bind.ts";
import { formatPath, indexPositions, locate } from "./locate.ts";
import { checkMatch, checkTls, readSecrets } from "./auth_check.ts";
import { type Config, ConfigSchema, type HookConfig } from "./schema.ts";

/** Keys of a `[[hooks]]` entry that a `plugin =` entry takes from the plugin's table instead. */
const GUARD_KEYS = [
  "verify",
  "secret_env",
  "secret_file",
  "signature_header",
  "tolerance",
  "dedupe_window",
  "dedupe_header",
  "match",
  "unmatched_status",
  "env",
  "env_set",
] as const;

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
      return { problems: [{ file, line: e.line, col: e.column, message: sentenceCase(reason) }] };
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
        continue;
      }
      let msg = sentenceCase(issue.message);
      const value = valueAt(doc, issue.path);
      // Repeat the offending value where it helps: a number out of range, a value of the wrong type.
      const shown = issue.code === "invalid_type" ||
        ((issue.code === "too_small" || issue.code === "too_big") && typeof value === "number");
      if (shown && value !== undefined) msg += `, got '${String(value)}'`;
      at(issue.path, msg);
    }
  }
  // The checks below need more than the document's shape; they run even when the shape is off,
  // so one `config check` shows every problem. Fields of the wrong type were reported above.
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(options.dir, p));
  const raw = (doc ?? {}) as { hooks?: unknown; session?: unknown };
  const rawHooks = Array.isArray(raw.hooks) ? raw.hooks : [];
  const names = new Map<string, number>();
  const binds: { addr: BindAddress; text: string; name: string }[] = [];
  /** Parses `text` at `path` and reports a clash with any bind checked before it. */
  const checkBind = (path: PropertyKey[], text: string, owner: string) => {
    try {
      const addr = parseBind(text);
      const clash = binds.find((b) => bindsClash(b.addr, addr));
      if (clash) {
        at(path, `'${text}' binds the same socket as hook '${clash.name}' ('${clash.text}')`);
      }
      binds.push({ addr, text, name: owner });
    } catch (e) {
      at(path, (e as Error).message);
    }
  };
  const table = (v: unknown) =>
    (typeof v === "object" && v !== null && !Array.isArray(v) ? v : {}) as Record<string, unknown>;
  const secrets: (string[] | undefined)[] = [];
  const tls: ({ cert: string; key: string } | undefined)[] = [];
  const scripts: (string | undefined)[] = rawHooks.map((item, i) => {
    const hook = table(item);
    secrets[i] = readSecrets(hook, ["hooks", i], { report: at, abs });
    tls[i] = checkTls(hook, ["hooks", i], { report: at, abs });
    checkMatch(hook.match, ["hooks", i, "match"], at);
    if (hook.match === undefined && hook.unmatched_status !== undefined) {
      at(["hooks", i, "unmatched_status"], "'unmatched_status' needs 'match'");
    }
    const str = (key: string) => (typeof hook[key] === "string" ? hook[key] as string : undefined);
    const name = str("name")?.trim();
    if (name) {
      const prev = names.get(name);
      if (prev !== undefined) {
        at(["hooks", i, "name"], `Duplicate hook name '${name}' (also hooks[${prev}])`);
      } else names.set(name, i);
    }
    const bind = str("bind");
    if (bind !== undefined) checkBind(["hooks", i, "bind"], bind, name ?? `hooks[${i}]`);
    const script = str("script") ? abs(str("script")!) : undefined;
    if (hook.script !== undefined && hook.plugin !== undefined) {
      at(["hooks", i, "plugin"], "Give either 'script' or 'plugin', not both");
    } else if (script !== undefined) {
      const bad = checkExecutable(script);
      if (bad) at(["hooks", i, "script"], `Script ${bad}`);
    } else if (hook.script === undefined && hook.plugin === undefined) {
      at(["hooks", i], "Script is required (or 'plugin')");
    }
    if (hook.plugin !== undefined) {
      // A plugin's route is guarded by its [plugins.NAME] table, wherever it is served.
      for (const key of GUARD_KEYS) {
        if (hook[key] !== undefined) {
          at(
            ["hooks", i, key],
            `Set '${key}' in [plugins.${String(hook.plugin)}]: it guards the plugin`,
          );
        }
      }
    }
    if (hook.mode === "async" && hook.plugin !== undefined) {
      at(["hooks", i, "mode"], "An async hook needs a script; a plugin answers its own requests");
    }
    for (const key of ["max_attempts", "retry_backoff"]) {
      if (hook[key] !== undefined && hook.mode !== "async") {
        at(
          ["hooks", i, key],
          `'${key}' applies to mode = "async" hooks: a sync hook's sender retries`,
        );
      }
    }
    if (hook.plugin !== undefined) {
      for (const key of ["persistent", "workers", "max_inflight"]) {
        if (hook[key] !== undefined) {
          at(["hooks", i, key], `'${key}' applies to scripts; a plugin runs in its own process`);
        }
      }
    } else if (hook.persistent !== true) {
      for (const key of ["workers", "max_inflight"]) {
        if (hook[key] !== undefined) {
          at(["hooks", i, key], `'${key}' applies to persistent = true hooks`);
        }
      }
    } else if (hook.concurrency !== undefined && hook.mode !== "async") {
      at(
        ["hooks", i, "concurrency"],
        "A persistent sync hook runs workers × max_inflight requests at once: set those instead",
      );
    }
    if (hook.concurrency !== undefined && hook.plugin !== undefined) {
      at(["hooks", i, "concurrency"], "Concurrency applies to scripts; a plugin runs in-process");
    }
    return script;
  });
  const rawServer =
    (typeof (raw as { server?: unknown }).server === "object"
      ? (raw as { server: Record<string, unknown> }).server
      : {}) as Record<string, unknown>;
  if (typeof rawServer.bind === "string") checkBind(["server", "bind"], rawServer.bind, "server");
  const rawAdmin = table((raw as { admin?: unknown }).admin);
  if (typeof rawAdmin.bind === "string") {
    checkBind(["admin", "bind"], rawAdmin.bind, "admin");
    let open = false;
    try {
      open = !isLoopback(parseBind(rawAdmin.bind));
    } catch { /* reported by checkBind */ }
    if (open && rawAdmin.token_env === undefined) {
      at(
        ["admin", "token_env"],
        `Admin bind '${rawAdmin.bind}' is reachable from other machines: set 'token_env' to the variable holding its token`,
      );
    }
  }
  const serverTls = checkTls(rawServer, ["server"], { report: at, abs });
  const pluginSecrets = new Map<string, string[] | undefined>();
  for (const [name, settings] of Object.entries(table((raw as { plugins?: unknown }).plugins))) {
    pluginSecrets.set(name, readSecrets(table(settings), ["plugins", name], { report: at, abs }));
  }
  const rawSession =
    (typeof raw.session === "object" && raw.session !== null ? raw.session : {}) as Record<
      string,
      unknown
    >;
  const handler = typeof rawSession.handler === "string" && rawSession.handler
    ? abs(rawSession.handler)
    : undefined;
  if (handler !== undefined) {
    const bad = checkExecutable(handler);
    if (bad) at(["session", "handler"], `Handler ${bad}`);
  }

  if (problems.length || !parsed.success) return { problems: sortProblems(dedupe(problems)) };
  const hooks: HookConfig[] = parsed.data.hooks.map((hook, i) => ({
    ...hook,
    script: scripts[i],
    ...(secrets[i] ? { secrets: secrets[i] } : {}),
    ...(tls[i] ? { tls_cert: tls[i]!.cert, tls_key: tls[i]!.key } : {}),
    line: locate(index, ["hooks", i])?.line,
  }));
  const plugins = Object.fromEntries(
    Object.entries(parsed.data.plugins).map(([name, settings]) => {
      const s = pluginSecrets.get(name);
      return [name, s ? { ...settings, secrets: s } : settings];
    }),
  );
  const server = parsed.data.server &&
    (serverTls
      ? { ...parsed.data.server, tls_cert: serverTls.cert, tls_key: serverTls.key }
      : parsed.data.server);
  const session = { ...parsed.data.session, handler };
  return {
    problems,
    config: {
      hooks,
      session,
      events: parsed.data.events,
      limits: parsed.data.limits,
      server,
      ...(parsed.data.admin ? { admin: parsed.data.admin } : {}),
      plugins,
      file: options.file,
      dir: options.dir,
    },
  };
}

function valueAt(doc: unknown, path: readonly PropertyKey[]): unknown {
  let v = doc;
  for (const key of path) {
    if (typeof v !== "object" || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return typeof v === "object" ? undefined : v;
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}|${p.message}`;
    return seen.has(key) ? false : (seen.add(key), true);
  });
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
