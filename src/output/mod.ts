/**
 * Output: JSONL or text records on stdout, logs on stderr.
 *
 * @module
 */
export { type Format, FORMATS, type OutputRecord, renderText, type Stamped } from "./records.ts";
export { createSink, type OutputSink, type SinkOptions } from "./sink.ts";
export {
  type Level,
  log,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type Logger,
  setupLogging,
  teardownLogging,
} from "./log.ts";
