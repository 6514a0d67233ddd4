/**
 * Runs the scripts of a `mode = "async"` hook's stored jobs, oldest first, at most `concurrency`
 * at a time. A job leaves KV in the same commit that stores its output in the inbox (or alone,
 * when there is no output or the script failed), so a crash at any point re-runs it at the next
 * start rather than losing it. A script killed by shutdown leaves its job for the next start.
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

/** CPU priority (`nice`) of async hooks' scripts. */
export const ASYNC_NICE = 19;

/** Options of {@linkcode JobRunner}. */
export interface JobRunnerOptions {
  /** Session name. */
  session: string;
  /** The hook: its name, absolute script path and timeout in seconds. */
  hook: { name: string; script: string; timeout: number };
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
  /** Told about every finished run; `status` is what a sync hook would have answered. */
  onRun?: (run: HookRun & { job: string }) => void;
  /** Told about each job done with (its outcome stored): it no longer counts as pending. */
  onDone?: () => void;
  /** Told about every message stored from a script's output. */
  onInjected?: (message: Message) => void;
}

/** Batches read ahead; each holds up to 60 KB of jobs. */
const READ_AHEAD = 4;

/** Runs one async hook's jobs. */
export class JobRunner {
  #o: JobRunnerOptions;
  #notifier = new Notifier();

  /** A runner with {@linkcode JobRunnerOptions}. */
  constructor(options: JobRunnerOptions) {
    if (!(options.concurrency >= 1)) {
      throw new RangeError(`concurrency must be >= 1, got ${options.concurrency}`);
    }
    this.#o = options;
  }

  /** Tells the runner that a job was stored. */
  wake(): void {
    this.#notifier.wake();
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
    let cursor: string | undefined;
    let exhausted = false;
    while (!signal.aborted) {
      if (running.size >= concurrency) {
        await this.#notifier.wait(60_000, signal);
        // The wake may have been a new job: read again once a slot is free.
        exhausted = false;
        continue;
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
        if (options.untilIdle && running.size === 0) break;
        await this.#notifier.wait(60_000, signal);
        exhausted = false;
        continue;
      }
      while (queue.length && running.size < concurrency) {
        const job = queue.shift()!;
        const done = this.#process(job).then(async (finished) => {
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

  /** Runs `job`; true once its outcome is stored (it will not run again). */
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
    try {
      if (outcome.status === 200) {
        const [message] = await store.add(session, [{
          source: "webhook",
          label: `webhook ${hook.name}`,
          content: outcome.output,
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
    this.#o.onRun?.({
      hook: hook.name,
      status,
      exit_code: outcome.exit_code,
      duration_ms: outcome.duration_ms,
      job: job.id,
    });
    if (stored) this.#o.onDone?.();
    return stored;
  }
}
