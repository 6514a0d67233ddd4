/**
 * A real LogTape logger whose records are collected as `LEVEL message` lines, for tests that
 * check what hookhost logs.
 *
 * @module
 */
import { configure, getLogger, type Logger, type LogRecord } from "@logtape/logtape";

/** Configures LogTape to collect `category`'s records into `lines`; undo with `reset()`. */
export async function captureLogs(category: string): Promise<{ log: Logger; lines: string[] }> {
  const lines: string[] = [];
  await configure({
    reset: true,
    sinks: {
      mem: (r: LogRecord) =>
        lines.push(
          `${r.level} ${
            r.message.map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join("")
          }`,
        ),
    },
    loggers: [
      { category: [category], lowestLevel: "debug", sinks: ["mem"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
  });
  return { log: getLogger([category]), lines };
}
