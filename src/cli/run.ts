/**
 * `hookhost run`: run a session once (drain and exit) or as a daemon.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import type { LocationOptions } from "../config/mod.ts";
import { type Format, FORMATS } from "../output/mod.ts";
import { runSession } from "../session/host.ts";
import { checkName, config, context, readStdin } from "./context.ts";

/** Flags of `run`. */
export interface RunFlags extends LocationOptions {
  /** Session name (default `default`). */
  name?: string;
  /** Stay alive. */
  daemon?: boolean;
  /** `text` or `jsonl`. */
  format?: string;
  /** Hooks to serve. */
  hook?: string[];
}

/** Runs the `run` command. */
export async function run(message: string | undefined, flags: RunFlags): Promise<void> {
  if (flags.daemon && flags.name === undefined) throw new UsageError("--daemon requires --name");
  const name = checkName(flags.name ?? "default");
  const format = (flags.format ?? "text") as Format;
  if (!FORMATS.includes(format)) {
    throw new UsageError(`Invalid --format '${flags.format}' (use text or jsonl)`);
  }
  const ctx = await context(flags);
  const cfg = await config(ctx);
  // runSession checks this too; checking here fails fast, before waiting on stdin.
  for (const hook of flags.hook ?? []) {
    if (!cfg.hooks.some((h) => h.name === hook)) {
      throw new UsageError(`Hook '${hook}' not found in config`, "hook_not_found");
    }
  }
  const initial = message ?? await readStdin();

  const stop = new AbortController();
  const onSignal = () => stop.abort();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  try {
    await runSession({
      name,
      daemon: !!flags.daemon,
      format,
      hooks: flags.hook ?? [],
      config: cfg,
      stateDir: ctx.paths.stateDir,
      kv: ctx.paths.kv,
      eventsFile: ctx.paths.eventsFile,
      pluginsDir: ctx.paths.pluginsDir,
      initial,
      signal: stop.signal,
    });
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
  }
}
