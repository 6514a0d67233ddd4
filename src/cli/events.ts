/**
 * `hookhost emit EVENT` and `hookhost hooks test EVENT`: fire an event at the event hooks from
 * the shell, waiting for them.
 *
 * @module
 */
import type { LocationOptions } from "../config/mod.ts";
import { ConfigError, HookhostError, UsageError } from "../errors.ts";
import { EventBus, type HookResult, HooksFile, parseHooksFile } from "../events/mod.ts";
import { log } from "../output/log.ts";
import { listSessions } from "../inbox/mod.ts";
import { controlRequest, NotRunningError, runningPid, sessionPaths } from "../session/mod.ts";
import { checkName, type CommandContext, config, context, withKv } from "./context.ts";

type Flags = LocationOptions & { params?: string; name?: string };

/** Sample params for built-in events, used by `hooks test` when `--params` is not given. */
const SAMPLES: Record<string, Record<string, unknown>> = {
  run_status_changed: { commandKey: "demo|inject", runStatus: "completed", messageId: "sample" },
  session_list_changed: { commandKey: "demo", change: "started" },
  hook_failed: { commandKey: "demo", status: 500, exitCode: 1 },
  message_received: {
    commandKey: "demo|inject",
    messageId: "sample",
    source: "inject",
    label: "inject",
  },
};

function parseParams(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`Invalid --params JSON: ${(e as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UsageError("--params must be a JSON object");
  }
  return value as Record<string, unknown>;
}

function checkEventName(event: string): void {
  if (!/^[A-Za-z0-9_.:-]+$/.test(event)) {
    throw new UsageError(`Invalid event name '${event}' (letters, digits, '_', '.', ':', '-')`);
  }
}

/** Loads hooks.json strictly: a broken file is an error here, not a log line. */
async function bus(
  flags: Flags,
): Promise<{ bus: EventBus; file: string; exists: boolean; ctx: CommandContext }> {
  const ctx = await context(flags);
  const cfg = await config(ctx);
  const file = ctx.paths.eventsFile;
  let exists = true;
  try {
    const { problems } = parseHooksFile(await Deno.readTextFile(file), file);
    if (problems.length) throw new ConfigError(problems);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    exists = false;
  }
  const events = new EventBus(new HooksFile(file, { log: log("events") }), {
    log: log("events"),
    maxConcurrent: cfg.events.max_concurrent,
    queueLimit: cfg.events.queue_limit,
  });
  return { bus: events, file, exists, ctx };
}

/**
 * Hands the event to the plugins (`on.EVENT`) of the running daemon of `--name`, else of every
 * running session in the state folder, through their control sockets. Their hooks.json is not
 * run again: this process ran it.
 */
async function toDaemons(
  ctx: CommandContext,
  event: string,
  options: { params: Record<string, unknown>; name?: string },
) {
  const { params } = options;
  const names = options.name !== undefined
    ? [checkName(options.name)]
    : await withKv(ctx, async (kv) => {
      const running: string[] = [];
      for (const s of await listSessions(kv)) {
        if (await runningPid(ctx.paths.stateDir, s.name) !== null) running.push(s.name);
      }
      return running;
    });
  for (const name of names) {
    try {
      const socket = sessionPaths(ctx.paths.stateDir, name).socket;
      await controlRequest(socket, { op: "emit", event, params });
    } catch (e) {
      if (!(e instanceof NotRunningError)) throw e;
    }
  }
}

/** `emit EVENT [--params JSON] [--name SESSION]`: exit 1 if any hook failed. */
export async function emit(event: string, flags: Flags): Promise<void> {
  checkEventName(event);
  const params = parseParams(flags.params) ?? {};
  const { bus: events, ctx } = await bus(flags);
  const results = await events.emitAndWait(event, params);
  await toDaemons(ctx, event, { params, name: flags.name });
  const failed = results.filter((r) => !r.ok);
  if (failed.length) {
    throw new HookhostError(
      "hook_failed",
      `${failed.length} of ${results.length} hook(s) for '${event}' failed`,
    );
  }
}

function report(r: HookResult): string {
  const what = r.hook.type === "command"
    ? `command ${JSON.stringify(r.hook.command)}`
    : `http ${r.hook.method} ${r.hook.url}`;
  const outcome = r.hook.type === "command"
    ? (r.timedOut ? "timed out" : r.exitCode === null ? "could not run" : `exit ${r.exitCode}`)
    : (r.timedOut ? "timed out" : r.status === undefined ? "no answer" : `HTTP ${r.status}`);
  const lines = [
    `${r.ok ? "ok  " : "FAIL"} ${r.hook.where}: ${what} → ${outcome} in ${r.durationMs} ms`,
  ];
  if (r.error && !r.ok) lines.push(`     error: ${r.error}`);
  if (r.output) lines.push(...r.output.split("\n").map((l) => `     | ${l}`));
  return lines.join("\n");
}

/** `hooks test EVENT [--params JSON]`: runs the matching hooks once and reports each. */
export async function hooksTest(event: string, flags: Flags): Promise<void> {
  checkEventName(event);
  const params = parseParams(flags.params) ?? SAMPLES[event] ?? {};
  const { bus: events, file, exists } = await bus(flags);
  if (!exists) {
    console.log(`No event hooks file at ${file}`);
    return;
  }
  const data = events.data(event, params);
  console.log(`Event data: ${JSON.stringify(data)}`);
  const results = await events.emitAndWait(event, params);
  if (!results.length) {
    console.log(`No hook in ${file} matches '${event}'`);
    return;
  }
  for (const r of results) console.log(report(r));
  const failed = results.filter((r) => !r.ok).length;
  if (failed) {
    throw new HookhostError("hook_failed", `${failed} of ${results.length} hook(s) failed`);
  }
}
