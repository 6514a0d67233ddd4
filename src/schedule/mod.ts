/**
 * Durable schedules: one-off (`--in`, `--at`) and repeating (`--every`, `--cron`) messages that
 * enter a session's inbox as source `schedule`.
 *
 * @module
 */
export {
  checkCron,
  describeSpec,
  firstRun,
  formatDuration,
  nextRun,
  parseAt,
  parseDuration,
  type ScheduleSpec,
} from "./spec.ts";
export {
  isTimer,
  MAX_SCHEDULE_MESSAGE,
  type ScheduleRecord,
  ScheduleStore,
  type ScheduleStoreOptions,
  type TimerMessage,
  type TimerOutcome,
} from "./store.ts";
