/**
 * Persistent workers (docs/workers.md): a hook's script run as long-lived processes fed requests
 * as JSON lines.
 *
 * @module
 */
export {
  parseAnswer,
  PROTOCOL_VERSION,
  ProtocolError,
  requestLine,
  type WorkerAnswer,
  type WorkerRequest,
} from "./protocol.ts";
export {
  type WorkerOutcome,
  WorkerPool,
  type WorkerPoolOptions,
  type WorkerStatus,
} from "./pool.ts";
export {
  MAX_LINE,
  type WorkerExit,
  WorkerProcess,
  type WorkerProcessOptions,
} from "./worker_process.ts";
export { WATCH_EVERY_MS, watchScript } from "./watch_script.ts";
