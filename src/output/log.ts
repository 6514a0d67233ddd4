/**
 * Logs go to stderr through LogTape, one line each, so stdout stays clean for records.
 *
 * @module
 */
import { configure, getLogger, type LogRecord, reset } from "@logtape/logtape";

/** Log levels accepted by `HOOKHOST_LOG`. */
export const LOG_LEVELS = ["debug", "info", "warning", "error"] as const;
/** A log level accepted by `HOOKHOST_LOG` and {@linkcode setupLogging}. */
export type Level = typeof LOG_LEVELS[number];

/** One log line as hookhost writes it to stderr: `TS LEVEL category: message`. */
export function renderLog(record: LogRecord): string {
  const msg = record.message.map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join("");
  const ts = new Date(record.timestamp).toISOString();
  return `${ts} ${record.level.toUpperCase().padEnd(7)} ${record.category.join(".")}: ${msg}\n`;
}

/**
 * A logger, as hookhost's areas take one: the part of LogTape's `Logger` they use. Ours rather
 * than LogTape's so the public API names only types it exports (LogTape's `Logger` refers to
 * types its package keeps private); every LogTape logger is one.
 */
export interface Logger {
  /** Logs at `debug`; `{key}` placeholders in `message` are filled from `properties`. */
  debug(message: string, properties?: Record<string, unknown>): void;
  /** Logs at `info`; `{key}` placeholders in `message` are filled from `properties`. */
  info(message: string, properties?: Record<string, unknown>): void;
  /** Logs at `warning`; `{key}` placeholders in `message` are filled from `properties`. */
  warn(message: string, properties?: Record<string, unknown>): void;
  /** Logs at `error`; `{key}` placeholders in `message` are filled from `properties`. */
  error(message: string, properties?: Record<string, unknown>): void;
}

let configured = false;

/**
 * Sends hookhost's logs to stderr at `level` (default from `HOOKHOST_LOG`, else `info`).
 * Idempotent.
 */
export async function setupLogging(level?: Level): Promise<void> {
  if (configured) return;
  configured = true;
  const env = Deno.env.get("HOOKHOST_LOG") as Level | undefined;
  const lowest = level ?? (env && LOG_LEVELS.includes(env) ? env : "info");
  const encoder = new TextEncoder();
  await configure({
    sinks: {
      stderr: (record: LogRecord) => {
        try {
          Deno.stderr.writeSync(encoder.encode(renderLog(record)));
        } catch {
          // stderr gone: nothing left to tell.
        }
      },
    },
    loggers: [
      { category: ["hookhost"], lowestLevel: lowest, sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/** Stops logging (tests). */
export async function teardownLogging(): Promise<void> {
  configured = false;
  await reset();
}

/** The logger of an area, e.g. `log("webhook")` → category `hookhost.webhook`. */
export function log(area: string): Logger {
  return getLogger(["hookhost", area]);
}
