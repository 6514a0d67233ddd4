/**
 * The admin listener of a daemon (`[admin]`): health, readiness, Prometheus metrics and a live
 * status page (docs/operations.md).
 *
 * @module
 */
export { adminHandler, type AdminHandlerOptions } from "./handler.ts";
export { AdminMetrics, type ObservedRecord } from "./metrics.ts";
export type { AdminSource, DeadRow, RunRow, SessionRow, Snapshot } from "./snapshot.ts";
