/**
 * Running sessions: the lock, the control socket and the inbox runner. The host that ties them to
 * webhook listeners, schedules, events and plugins is `host.ts` (`runSession`), and the runner
 * of async hooks' jobs is `job_runner.ts`; they are not re-exported here so that light commands
 * (`send`, `sessions`) do not load the whole daemon.
 *
 * @module
 */
export {
  type ControlRequest,
  controlRequest,
  type ControlResponse,
  type ControlServer,
  NotRunningError,
  serveControl,
  wakeSession,
} from "./control.ts";
export { AlreadyRunningError, runningPid, SessionLock, sessionPaths } from "./lock.ts";
export { Notifier, sleep } from "./notifier.ts";
export {
  type HandlerSettings,
  type RunnerLease,
  type RunnerOptions,
  SessionRunner,
} from "./runner.ts";
export {
  DEFAULT_LEASE_TTL_MS,
  type LeaseOptions,
  type LeaseRecord,
  LostLeaseError,
  readLease,
  safeHostname,
  SessionLease,
} from "./lease.ts";
export { lead, type LeadOptions } from "./leadership.ts";
export {
  bumpWake,
  listMembers,
  type Member,
  removeMember,
  watchWake,
  writeMember,
} from "./members.ts";
