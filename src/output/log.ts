/**
 * Logs go to stderr through LogTape, one line each, so stdout stays clean for records.
 *
 * @module
 */
import { configure, getLogger, type Logger, type LogRecord, reset } from "@logtape/logtape";

/** Log levels accepted by `HOOKHOST_LOG`. */
export const LOG_LEVELS = ["debug", "info", "warning", "error"] as const;
type Level = typeof LOG_LEVELS[number];

/** One log line as hookhost writes it to stderr: `TS LEVEL category: message`. */
export function renderLog(record: LogRecord): string {
  const msg = record.message.map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join("");
  const ts = new Date(record.timestamp).toISOString();
  return `${ts} ${record.level.toUpperCase().padEnd(7)} ${record.category.join(".")}: ${msg}\n`;
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
