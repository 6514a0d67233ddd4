/**
 * What every command needs: resolved paths, the config, a KV handle and session checks.
 *
 * @module
 */
import { type LocationOptions, resolvePaths } from "../config/paths.ts";
import type { Config } from "../config/schema.ts";
import type { ResolvedPaths } from "../config/paths.ts";
import { HookhostError, UsageError } from "../errors.ts";
import { getSession, listSessions, SESSION_NAME } from "../inbox/sessions.ts";
import { openKv } from "../kv/open.ts";

/** A command's resolved environment. */
export interface CommandContext {
  /** Resolved locations. */
  paths: ResolvedPaths;
}

/**
 * Resolves locations and sets up logging, unless `logging` is false: loading the logger costs a
 * short command like `send` a good part of its run, so it may set it up only when it logs.
 */
export async function context(
  flags: LocationOptions,
  options: { logging?: boolean } = {},
): Promise<CommandContext> {
  if (options.logging !== false) await (await import("../output/log.ts")).setupLogging();
  return { paths: resolvePaths(flags) };
}

/** Loads the config the context points at (the validator loads only when needed). */
export async function config(ctx: CommandContext): Promise<Config> {
  const { loadConfig } = await import("../config/load.ts");
  return await loadConfig(ctx.paths.configFile, ctx.paths.configDir);
}

/** Runs `fn` with the KV database open, closing it afterwards. */
export async function withKv<T>(ctx: CommandContext, fn: (kv: Deno.Kv) => Promise<T>): Promise<T> {
  const kv = await openKv(ctx.paths.kv);
  try {
    return await fn(kv);
  } finally {
    kv.close();
  }
}

/** Checks a session name's form (usage error otherwise). */
export function checkName(name: string | undefined): string {
  if (name === undefined) throw new UsageError("Missing --name");
  if (!SESSION_NAME.test(name)) {
    throw new UsageError(
      `Invalid session name '${name}' (letters, digits, '.', '_' and '-', at most 64)`,
    );
  }
  return name;
}

/** Throws `no session named 'NAME'` (exit 1) unless the session ever ran. */
export async function requireSession(kv: Deno.Kv, name: string): Promise<void> {
  if (await getSession(kv, name)) return;
  const known = (await listSessions(kv)).map((s) => s.name);
  const hint = known.length ? ` (known sessions: ${known.join(", ")})` : " (no sessions yet)";
  throw new HookhostError("no_session", `no session named '${name}'${hint}`);
}

/** Reads all of stdin as text when it is not a terminal; `undefined` otherwise. */
export async function readStdin(): Promise<string | undefined> {
  if (Deno.stdin.isTerminal()) return undefined;
  // Read by hand rather than with `new Response(Deno.stdin.readable).text()`: loading the
  // streams behind `Response` costs a short command (and `run`'s start-up) ~8 ms.
  const decoder = new TextDecoder();
  const buf = new Uint8Array(64 * 1024);
  let text = "";
  for (let n = await Deno.stdin.read(buf); n !== null; n = await Deno.stdin.read(buf)) {
    text += decoder.decode(buf.subarray(0, n), { stream: true });
  }
  return text + decoder.decode();
}
