/**
 * Logs go to stderr through LogTape, one line each, so stdout stays clean for records: text for
 * people, or JSON lines (`HOOKHOST_LOG_FORMAT=json`) for a log shipper.
 *
 * @module
 */
import {
  configure,
  getJsonLinesFormatter,
  getLogger,
  type LogRecord,
  reset,
} from "@logtape/logtape";
import { UsageError } from "../errors.ts";

/** Log levels accepted by `HOOKHOST_LOG`. */
export const LOG_LEVELS = ["debug", "info", "warning", "error"] as const;
/** A log level accepted by `HOOKHOST_LOG` and {@linkcode setupLogging}. */
export type Level = typeof LOG_LEVELS[number];

/** Log formats accepted by `HOOKHOST_LOG_FORMAT`. */
export const LOG_FORMATS = ["text", "json"] as const;
/** A log format accepted by `HOOKHOST_LOG_FORMAT` and {@linkcode setupLogging}. */
export type LogFormat = typeof LOG_FORMATS[number];

/** `record`'s message with its values filled in; strings as they are, others as JSON. */
function messageText(record: LogRecord): string {
  return record.message.map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join("");
}

/** One log line as hookhost writes it to stderr: `TS LEVEL category: message`. */
export function renderLog(record: LogRecord): string {
  const ts = new Date(record.timestamp).toISOString();
  const level = record.level.toUpperCase().padEnd(7);
  return `${ts} ${level} ${record.category.join(".")}: ${messageText(record)}\n`;
}

const jsonLines = getJsonLinesFormatter();

/**
 * One log line as a JSON object, by LogTape's JSON Lines formatter: `@timestamp`, `level`,
 * `message`, `logger` and `properties` (the values the message names, e.g. `hook`,
 * `request_id`). The message is filled in as in text lines: LogTape's own quotes string values.
 */
export function renderJsonLog(record: LogRecord): string {
  return jsonLines({ ...record, message: [messageText(record)] });
}

/** The format `HOOKHOST_LOG_FORMAT` asks for (default `text`); anything else is a usage error. */
export function logFormatFromEnv(): LogFormat {
  const value = Deno.env.get("HOOKHOST_LOG_FORMAT") ?? "";
  if (value === "") return "text";
  if ((LOG_FORMATS as readonly string[]).includes(value)) return value as LogFormat;
  throw new UsageError(
    `HOOKHOST_LOG_FORMAT must be 'text' or 'json', not '${value}'`,
    "log_format_invalid",
  );
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
 * Sends hookhost's logs to stderr at `level` (default from `HOOKHOST_LOG`, else `info`), as
 * `format` (default from `HOOKHOST_LOG_FORMAT`, else `text`). Idempotent.
 */
export async function setupLogging(level?: Level, format?: LogFormat): Promise<void> {
  if (configured) return;
  const render = (format ?? logFormatFromEnv()) === "json" ? renderJsonLog : renderLog;
  configured = true;
  const env = Deno.env.get("HOOKHOST_LOG") as Level | undefined;
  const lowest = level ?? (env && LOG_LEVELS.includes(env) ? env : "info");
  const encoder = new TextEncoder();
  await configure({
    sinks: {
      stderr: (record: LogRecord) => {
        try {
          Deno.stderr.writeSync(encoder.encode(render(record)));
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
