/**
 * Runs the scripts of a `mode = "async"` hook's stored jobs, oldest first, at most `concurrency`
 * at a time. A job leaves KV in the same commit that stores its output in the inbox (or alone,
 * when there is no output or the script failed), so a crash at any point re-runs it at the next
 * start rather than losing it. A script killed by shutdown leaves its job for the next start.
 * A run that fails or times out moves its job, in one commit, to a retry record due after the
 * hook's backoff, or, once `max_attempts` runs failed, to the hook's dead letters (job_retries.ts).
 *
 * @module
 */
import type { Logger } from "../output/log.ts";
import type { Spawner } from "../exec/spawn.ts";
import type { InboxStore } from "../inbox/store.ts";
import type { Message } from "../inbox/message.ts";
import type { Job, JobStore } from "../webhook/job_store.ts";
import { type HookRun, runHookScript } from "../webhook/script_hook.ts";
import { Notifier } from "./notifier.ts";
import type { WorkerPool } from "../worker/pool.ts";

/** CPU priority (`nice`) of async hooks' scripts. */
export const ASYNC_NICE = 19;

/** Options of {@linkcode JobRunner}. */
export interface JobRunnerOptions {
  /** Session name. */
  session: string;
  /**
   * The hook: its name, absolute script path and timeout in seconds, and its workers when it is
   * persistent (its jobs go to them instead of a process each).
   */
  hook: { name: string; script: string; timeout: number; pool?: WorkerPool };
  /**
   * Runs a job gets before it becomes a dead letter, and the ms to wait after the nth failed
   * run; default one run, no retry.
   */
  attempts?: { max: number; delay: (failed: number) => number };
  /** The clock; default `Date.now`. */
  now?: () => number;
  /** Scripts running at once, 1 or more. */
  concurrency: number;
  /** Where the jobs are. */
  jobs: JobStore;
  /** Where outputs go. */
  store: InboxStore;
  /** Starts scripts. */
  spawner: Spawner;
  /** Where failures are logged. */
  log: Logger;
  /** Kills running scripts (shutdown past its grace). */
  hardStop: AbortSignal;
  /**
   * Told about every finished run; `status` is what a sync hook would have answered, `attempt`
   * counts runs of the job from 1, and a failed run says when it runs again or that it is dead.
   */
  onRun?: (run: HookRun & JobRunFields) => void;
  /** Told about each job done with (its outcome stored): it no longer counts as pending. */
  onDone?: () => void;
  /** Told about every message stored from a script's output. */
  onInjected?: (message: Message) => void;
}

/** What a `hook_run` record of an async hook's job adds. */
export interface JobRunFields {
  /** The job's id. */
  job: string;
  /** Which run of the job this was, from 1. */
  attempt: number;
  /** After a failed run: when the next one is due (ISO 8601). */
  retry_at?: string;
  /** After a failed run: its attempts ran out, it is a dead letter now. */
  dead?: true;
}

/** Batches read ahead; each holds up to 60 KB of jobs. */
const READ_AHEAD = 4;

/** Runs one async hook's jobs. */
export class JobRunner {
  #o: JobRunnerOptions;
  #notifier = new Notifier();
  #now: () => number;
  /** When to look for due retries next (0: at once). */
  #retryAt = 0;

  /** A runner with {@linkcode JobRunnerOptions}. */
  constructor(options: JobRunnerOptions) {
    if (!(options.concurrency >= 1)) {
      throw new RangeError(`concurrency must be >= 1, got ${options.concurrency}`);
    }
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** Tells the runner that a job was stored. */
  wake(): void {
    this.#notifier.wake();
  }

  /** Tells the runner that jobs may be due for another run (dead letters replayed). */
  recheck(): void {
    this.#retryAt = 0;
    this.#notifier.wake();
  }

  /** Ms until due retries should be looked for, at most a minute. */
  #untilRetry(): number {
    return Math.max(0, Math.min(60_000, this.#retryAt - this.#now()));
  }

  /**
   * Runs jobs until `signal` aborts (or, with `untilIdle`, until none is left), then waits for
   * the running ones.
   */
  async run(signal: AbortSignal, options: { untilIdle?: boolean } = {}): Promise<void> {
    const { session, hook, concurrency, jobs } = this.#o;
    const running = new Set<Promise<void>>();
    const queue: Job[] = [];
    // Jobs of each batch read so far that are not done; at zero the batch is deleted.
    const remaining = new Map<string, number>();
    // Retries queued or running: their records stay until their run ends.
    const retrying = new Set<string>();
    let cursor: string | undefined;
    let exhausted = false;
    while (!signal.aborted) {
      if (running.size >= concurrency) {
        await this.#notifier.wait(this.#untilRetry(), signal);
        // The wake may have been a new job: read again once a slot is free.
        exhausted = false;
        continue;
      }
      const now = this.#now();
      if (queue.length < concurrency && this.#retryAt <= now) {
        // Accepted before anything still in a batch: they go first.
        const limit = concurrency - queue.length;
        const due = await jobs.retries.due(session, hook.name, { now, limit, skip: retrying });
        for (const job of due.jobs) retrying.add(job.id);
        queue.unshift(...due.jobs);
        this.#retryAt = due.jobs.length === limit ? now : due.next ?? Infinity;
      }
      if (queue.length < concurrency && !exhausted) {
        const read = await jobs.batches(session, hook.name, { limit: READ_AHEAD, after: cursor });
        for (const batch of read) {
          cursor = batch.id;
          if (!batch.jobs.length) await this.#removeBatch(batch.id);
          else {
            remaining.set(batch.id, batch.jobs.length);
            queue.push(...batch.jobs);
          }
        }
        // Read again only when woken: every job is stored by this process, which wakes us.
        exhausted = read.length < READ_AHEAD;
      }
      if (!queue.length) {
        // A one-shot run leaves retries not due yet for a later run.
        if (options.untilIdle && running.size === 0) break;
        await this.#notifier.wait(this.#untilRetry(), signal);
        exhausted = false;
        continue;
      }
      while (queue.length && running.size < concurrency) {
        const job = queue.shift()!;
        const done = this.#process(job).then(async (finished) => {
          // Unsettled, its record stays where it was: it runs at the next start.
          if (job.retry) return void (finished && retrying.delete(job.id));
          const left = remaining.get(job.batch)! - (finished ? 1 : 0);
          remaining.set(job.batch, left);
          if (left === 0) {
            remaining.delete(job.batch);
            await this.#removeBatch(job.batch);
          }
        }).finally(() => {
          running.delete(done);
          this.#notifier.wake();
        });
        running.add(done);
      }
    }
    await Promise.all(running);
  }

  async #removeBatch(batch: string): Promise<void> {
    try {
      await this.#o.jobs.removeBatch(this.#o.session, this.#o.hook.name, batch);
    } catch (e) {
      // Its jobs are all done: the next start finds it empty and tries again.
      this.#o.log.warn("hook '{hook}': could not delete finished batch {id}: {reason}", {
        hook: this.#o.hook.name,
        id: batch,
        reason: (e as Error).message,
      });
    }
  }

  /**
   * Runs `job`; true once its outcome is stored (it will not run again) or, when the run failed,
   * it moved to its next attempt or the dead letters.
   */
  async #process(job: Job): Promise<boolean> {
    const { session, hook, jobs, store, log } = this.#o;
    let body: Uint8Array;
    try {
      body = await jobs.loadBody(session, hook.name, job);
    } catch (e) {
      // Not finished, so its batch stays: it runs at the next start (the read has moved on).
      log.error("hook '{hook}': could not read job {id}: {reason}", {
        hook: hook.name,
        id: job.id,
        reason: (e as Error).message,
      });
      return false;
    }
    const outcome = await runHookScript({
      name: hook.name,
      script: hook.script,
      timeout: hook.timeout,
      session,
      spawner: this.#o.spawner,
      pool: hook.pool,
      log,
      signal: this.#o.hardStop,
      // Background work yields the CPU to accepting requests.
      nice: ASYNC_NICE,
    }, {
      method: job.method,
      url: job.url,
      headers: new Headers(job.headers),
      body,
      verified: job.verified,
      requestId: job.request_id,
    });
    if (this.#o.hardStop.aborted && outcome.status >= 500) {
      log.info(
        "hook '{hook}': job {id} was cut short by shutdown and runs again at the next start",
        {
          hook: hook.name,
          id: job.id,
        },
      );
      return false;
    }
    let status: number = outcome.status;
    let stored = true;
    const attempt = (job.retry?.attempts ?? 0) + 1;
    const max = this.#o.attempts?.max ?? 1;
    let next: { retry_at: string } | { dead: true } | Record<never, never> = {};
    try {
      if (outcome.status >= 500) {
        const now = this.#now();
        const due = now + (this.#o.attempts?.delay(attempt) ?? 0);
        const error = outcome.status === 504
          ? `timed out after ${hook.timeout} s`
          : outcome.exit_code === null
          ? "could not start"
          : `exit code ${outcome.exit_code}`;
        const dead = attempt >= max;
        await jobs.retries.moveFailed(session, hook.name, job, {
          attempts: attempt,
          due,
          error,
          dead,
          now,
        });
        const at = { hook: hook.name, id: job.id, attempt, max, retry_at: "" };
        if (dead) {
          next = { dead: true };
          log.warn(
            "hook '{hook}': job {id} failed {attempt} of {max} runs and is dead; `hookhost jobs replay` runs it again",
            at,
          );
        } else {
          next = { retry_at: at.retry_at = new Date(due).toISOString() };
          this.#retryAt = Math.min(this.#retryAt, due);
          log.info("hook '{hook}': job {id} failed run {attempt} of {max}; next at {retry_at}", at);
        }
      } else if (outcome.status === 200) {
        const [message] = await store.add(session, [{
          source: "webhook",
          label: `webhook ${hook.name}`,
          content: outcome.output,
          ...(job.request_id ? { request_id: job.request_id } : {}),
        }], { also: [jobs.doneMarker(session, hook.name, job)] });
        this.#o.onInjected?.(message);
      } else {
        await jobs.markDone(session, hook.name, job);
      }
    } catch (e) {
      // As above: it runs again at the next start.
      stored = false;
      status = 503;
      log.error("hook '{hook}': could not store the outcome of job {id}: {reason}", {
        hook: hook.name,
        id: job.id,
        reason: (e as Error).message,
      });
    }
    if (stored && outcome.status < 500) {
      // Left behind, they take space but are never read again.
      await jobs.retries.finished(session, hook.name, job).catch(() => {});
    }
    this.#o.onRun?.({
      hook: hook.name,
      status,
      exit_code: outcome.exit_code,
      duration_ms: outcome.duration_ms,
      ...(outcome.worker === undefined ? {} : { worker: outcome.worker }),
      job: job.id,
      ...(job.request_id ? { request_id: job.request_id } : {}),
      attempt,
      ...(stored ? next : {}),
    });
    // A job waiting for its next run still counts as pending.
    if (stored && !("retry_at" in next)) this.#o.onDone?.();
    return stored;
  }
}
