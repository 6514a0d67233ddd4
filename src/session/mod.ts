/**
 * Running sessions: the lock, the control socket, the inbox runner and the host that ties them
 * to webhook listeners and schedules.
 *
 * @module
 */
export {
  type ControlRequest,
  controlRequest,
  type ControlResponse,
  NotRunningError,
  serveControl,
} from "./control.ts";
export { AlreadyRunningError, runningPid, SessionLock, sessionPaths } from "./lock.ts";
export { Notifier, sleep } from "./notifier.ts";
export { type HandlerSettings, type RunnerOptions, SessionRunner } from "./runner.ts";
export { runSession, type SessionOptions } from "./host.ts";
