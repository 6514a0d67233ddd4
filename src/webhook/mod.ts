/**
 * Webhook listeners: the request pipeline, script hooks (sync, and async ones whose requests are
 * stored as jobs), and the server around them.
 *
 * @module
 */
export {
  compose,
  type DedupeTicket,
  type HookContext,
  type InjectMeta,
  type Middleware,
  storeMessage,
  text,
} from "./chain.ts";
export {
  BodyBudget,
  Deadlines,
  limitBody,
  type LimitBodyOptions,
  RETRY_AFTER,
  retryLater,
  SMALL_BODY,
} from "./body_limit.ts";
export { methodsStep, pathStep, Slots } from "./slots.ts";
export { headerEnvName, hookEnv, type HookRequest } from "./env.ts";
export {
  type HookRun,
  runHookScript,
  scriptHookHandler,
  type ScriptHookOptions,
  type ScriptOutcome,
} from "./script_hook.ts";
export { asyncHookHandler, type AsyncHookOptions } from "./async_hook.ts";
export { type Job, type JobBatch, type JobRequest, JobStore, type StoredJob } from "./job_store.ts";
export { type DeadJob, JobRetries, type RetryState } from "./job_retries.ts";
export { deadJobs, type JobRow, pendingJobs } from "./job_list.ts";
export { listen, type Listener, type ListenOptions, type TlsFiles } from "./server.ts";
export { type GuardKeys, type GuardOptions, guardSteps } from "./guard.ts";
export { verifyStep, type VerifyStepOptions } from "./verify_step.ts";
export { atPointer, matchStep } from "./match_step.ts";
export { dedupeStep, type DedupeStepOptions, DELIVERY_HEADERS } from "./dedupe_step.ts";
export { closeAfter, ConnGuard, type ConnGuardOptions, type EndReason } from "./conn_guard.ts";
export { openSocketTable, peerKey, type SocketInfo, type SocketTable } from "./socket_table.ts";
export { isAcceptedRequestId, REQUEST_ID_HEADER, requestId, withRequestId } from "./request_id.ts";
