/**
 * A `mode = "async"` hook's request side: the request is stored as a job in KV and answered
 * `202 Accepted` once durable; its script runs later (see the session's job runner).
 *
 * @module
 */
import type { Logger } from "../output/log.ts";
import { compose, headerPairs, type Middleware, text, withoutHeader } from "./chain.ts";
import { limitBody, type LimitBodyOptions, retryLater } from "./body_limit.ts";
import { type Job, type JobStore, JobTooLargeError } from "./job_store.ts";

/** What an async hook needs from its host. */
export interface AsyncHookOptions {
  /** Hook name. */
  name: string;
  /** Session name. */
  session: string;
  /** Largest accepted body in bytes. */
  maxBody: number;
  /** Where jobs are stored. */
  jobs: JobStore;
  /** Told about every stored job (to wake the runner). */
  onAccepted?: (job: Job) => void;
  /** Where failures are logged. */
  log: Logger;
  /** Aborting stops waiting for slow bodies (shutdown past its grace). */
  signal?: AbortSignal;
  /** Steps between reading the body and storing the job (verify, dedupe, match). */
  steps?: readonly Middleware[];
  /** Steps before the body is read (the method check). */
  before?: readonly Middleware[];
  /** How bodies are read: the shared budget, the stall timeout. */
  body?: Omit<LimitBodyOptions, "signal">;
  /** Whether `max_pending` jobs wait already: then the request is answered 503. */
  full?: () => boolean;
}

/**
 * Builds the `(Request) => Promise<Response>` of an async hook: 202 with `accepted <job id>`
 * once the request is durable, 503 when it could not be stored (nothing will run) or `full()`
 * says enough jobs wait (with `Retry-After`), 413 for a
 * body over `maxBody`, 431 when its URL and headers are too large to store (over ~44 KB).
 */
export function asyncHookHandler(options: AsyncHookOptions): (req: Request) => Promise<Response> {
  const { name, session, jobs, log } = options;
  const steps = [
    ...options.before ?? [],
    limitBody(options.maxBody, { ...options.body, signal: options.signal }),
    ...options.steps ?? [],
  ];
  return compose(steps, async (ctx) => {
    if (options.full?.()) {
      return retryLater("Too many jobs waiting for this hook; retry later\n");
    }
    let job: Job;
    const dedupe = ctx.dedupe;
    try {
      job = await jobs.add(session, name, {
        method: ctx.request.method,
        url: ctx.request.url,
        headers: headerPairs(withoutHeader(ctx.request.headers, ctx.secretHeader)),
        body: ctx.body,
        ...(ctx.verified ? { verified: ctx.verified } : {}),
        request_id: ctx.requestId,
      }, { also: dedupe && ((id) => dedupe.entries({ status: 202, body: `accepted ${id}\n` })) });
      if (dedupe) dedupe.committed = true;
    } catch (e) {
      if (e instanceof JobTooLargeError) return text(431, `${e.message}\n`);
      log.error("hook '{hook}': could not store request {request_id}: {reason}", {
        hook: name,
        request_id: ctx.requestId,
        reason: (e as Error).message,
      });
      return text(503, "Request could not be stored\n");
    }
    options.onAccepted?.(job);
    return text(202, `accepted ${job.id}\n`);
  });
}
