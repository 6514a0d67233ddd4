/**
 * Every KV key prefix hookhost writes, in one place so layouts never collide.
 *
 * @module
 */

/** `["s", session]` → session record. */
export const SESSION = "s";
/** `["m", session, sourceRank, id]` → pending message; order is the key order. */
export const MESSAGE = "m";
/** `["c", session, id, n]` → chunk n of a message too large for one KV value. */
export const CHUNK = "c";
/** `["d", session, id]` → dead letter. */
export const DEAD = "d";
/** `["sch", id]` → schedule. */
export const SCHEDULE = "sch";
/** `["j", session, hook, batchId]` → requests accepted together by an async hook. */
export const JOB = "j";
/** `["jc", session, hook, jobId, n]` → chunk n of a job's body too large to share a batch. */
export const JOB_CHUNK = "jc";
/** `["jd", session, hook, batchId, jobId]` → that job has run and its outcome is stored. */
export const JOB_DONE = "jd";
/** `["jr", session, hook, due, jobId]` → a job whose run failed, waiting for its next attempt. */
export const JOB_RETRY = "jr";
/** `["jx", session, hook, jobId]` → a job whose attempts ran out (an async hook's dead letter). */
export const JOB_DEAD = "jx";
/** `["dd", session, hook, deliveryId]` → the answer a delivery got, kept for `dedupe_window`. */
export const DEDUPE = "dd";
/** `["probe", session]` → time of the last write that checked the storage works again. */
export const PROBE = "probe";
/** `["ls", session]` → the lease of the daemon draining the session's inbox (holder, expiry). */
export const LEASE = "ls";
/**
 * `["lf", session]` → the lease's fencing token, rewritten only when the lease changes hands:
 * every write of the holder to the inbox checks it, so a holder that lost the lease writes nothing.
 */
export const LEASE_FENCE = "lf";
/** `["mb", session, daemonId]` → a daemon of the session and its role, refreshed while it runs. */
export const MEMBER = "mb";
/** `["wk", session]` → bumped by a standby after it stored something, watched by the holder. */
export const WAKE = "wk";
