/**
 * Output: JSONL or text records on stdout, logs on stderr.
 *
 * @module
 */
export { type Format, FORMATS, type OutputRecord, renderText } from "./records.ts";
export { createSink, type OutputSink, type SinkOptions } from "./sink.ts";
export { log, LOG_LEVELS, setupLogging, teardownLogging } from "./log.ts";
