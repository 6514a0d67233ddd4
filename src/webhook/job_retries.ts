/**
 * Failed runs of async hooks' jobs: a job whose script failed or timed out waits in
 * `["jr", session, hook, due, jobId]` for its next attempt (keys sort by `due`, so the first is
 * the next one due), and one whose attempts ran out becomes a dead letter,
 * `["jx", session, hook, jobId]`, until `hookhost jobs replay` gives it fresh attempts. Every
 * move is one commit that takes the job from where it was and puts it where it goes, so a crash
 * at any point leaves it in exactly one place. A job's body chunks stay until it is done.
 *
 * @module
 */
import { JOB_CHUNK, JOB_DEAD, JOB_DONE, JOB_RETRY } from "../kv/keys.ts";
import { HookhostError } from "../errors.ts";
import type { Job, StoredJob } from "./job_store.ts";

/** Where a job stands after failed runs. */
export interface RetryState {
  /** Runs that failed so far. */
  attempts: number;
  /** When it may run again (Unix ms). */
  due: number;
  /** Why the last run failed. */
  error: string;
}

/** A job whose attempts ran out. */
export interface DeadJob extends Job {
  /** The hook it belongs to. */
  hook: string;
  /** Runs that failed. */
  attempts: number;
  /** When the last one failed (Unix ms). */
  failed_at: number;
  /** Why it failed. */
  error: string;
}

interface RetryRecord {
  job: StoredJob;
  attempts: number;
  error: string;
}

interface DeadRecord extends RetryRecord {
  failed_at: number;
}

/** What a stored job keeps of `job` (a chunked body stays in its chunks). */
export function storedJob(job: Job): StoredJob {
  const { batch: _batch, retry: _retry, body, ...rest } = job;
  return job.chunks ? rest : { ...rest, body };
}

function toJob(record: RetryRecord, retry?: RetryState): Job {
  const { body, ...rest } = record.job;
  return { ...rest, batch: "", body: body ?? new Uint8Array(), ...(retry ? { retry } : {}) };
}

/** The key of `job`'s retry record. */
export function retryKey(session: string, hook: string, job: Job): Deno.KvKey {
  return [JOB_RETRY, session, hook, job.retry!.due, job.id];
}

/** Retry records and dead letters of async hooks' jobs in one KV database. */
export class JobRetries {
  /** The KV database. */
  readonly kv: Deno.Kv;

  /** Uses `kv`. */
  constructor(kv: Deno.Kv) {
    this.kv = kv;
  }

  /**
   * Up to `limit` jobs of `hook` due at `now`, soonest first, leaving out the ids in `skip`
   * (queued already); `next` is when the first one not due yet is due.
   */
  async due(
    session: string,
    hook: string,
    options: { now: number; limit: number; skip?: ReadonlySet<string> },
  ): Promise<{ jobs: Job[]; next?: number }> {
    const prefix = [JOB_RETRY, session, hook];
    const jobs: Job[] = [];
    const iter = this.kv.list<RetryRecord>({ prefix, end: [...prefix, options.now + 1] }, {
      limit: options.limit + (options.skip?.size ?? 0),
    });
    for await (const e of iter) {
      if (options.skip?.has(e.value.job.id) || jobs.length >= options.limit) continue;
      const due = e.key[3] as number;
      jobs.push(toJob(e.value, { attempts: e.value.attempts, due, error: e.value.error }));
    }
    let next: number | undefined;
    const later = this.kv.list<RetryRecord>({ prefix, start: [...prefix, options.now + 1] }, {
      limit: 1,
    });
    for await (const e of later) next = e.key[3] as number;
    return { jobs, next };
  }

  /** Jobs waiting for another attempt: of `hook`, or of every hook of `session`; soonest first. */
  async waiting(session: string, hook?: string): Promise<(Job & { hook: string })[]> {
    const out: (Job & { hook: string })[] = [];
    const prefix = [JOB_RETRY, session, ...(hook === undefined ? [] : [hook])];
    for await (const e of this.kv.list<RetryRecord>({ prefix })) {
      const { attempts, error } = e.value;
      const retry = { attempts, error, due: e.key[3] as number };
      out.push({ ...toJob(e.value, retry), hook: e.key[2] as string });
    }
    return out.sort((a, b) => a.retry!.due - b.retry!.due);
  }

  /** Number of jobs waiting for another attempt. */
  async count(session: string, hook?: string): Promise<number> {
    let n = 0;
    const prefix = [JOB_RETRY, session, ...(hook === undefined ? [] : [hook])];
    for await (const _ of this.kv.list({ prefix })) n++;
    return n;
  }

  /** Dead letters: of `hook`, or of every hook of `session`; oldest job first. */
  async dead(session: string, hook?: string): Promise<DeadJob[]> {
    const out: DeadJob[] = [];
    const prefix = [JOB_DEAD, session, ...(hook === undefined ? [] : [hook])];
    for await (const e of this.kv.list<DeadRecord>({ prefix })) {
      const { attempts, error, failed_at } = e.value;
      out.push({ ...toJob(e.value), hook: e.key[2] as string, attempts, error, failed_at });
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * Moves `job`, whose run failed, to run again once `state.due` has passed, or, with `dead`, to
   * the dead letters (failed at `state.now`): one commit that also takes it from its batch or
   * its old retry record.
   */
  async moveFailed(
    session: string,
    hook: string,
    job: Job,
    state: RetryState & { dead?: boolean; now: number },
  ): Promise<void> {
    const record: RetryRecord = {
      job: storedJob(job),
      attempts: state.attempts,
      error: state.error,
    };
    const op = this.kv.atomic();
    if (state.dead) {
      op.set([JOB_DEAD, session, hook, job.id], { ...record, failed_at: state.now });
    } else op.set([JOB_RETRY, session, hook, state.due, job.id], record);
    if (job.retry) op.delete(retryKey(session, hook, job));
    // "moved": the batch's removal leaves its body chunks, which the job still needs.
    else op.set([JOB_DONE, session, hook, job.batch, job.id], "moved");
    const result = await op.commit();
    if (!result.ok) throw new Error("KV commit was rejected");
  }

  /**
   * Moves dead letters back to run again at `now` with fresh attempts: those named by `ids`, or
   * all; returns their ids. Fails with `no_dead_letter` (and moves none) when an id is unknown.
   */
  async replay(
    session: string,
    options: { ids?: readonly string[]; now: number },
  ): Promise<string[]> {
    const found: Deno.KvEntry<DeadRecord>[] = [];
    const wanted = options.ids?.length ? new Set(options.ids) : null;
    for await (const e of this.kv.list<DeadRecord>({ prefix: [JOB_DEAD, session] })) {
      if (!wanted || wanted.has(e.value.job.id)) found.push(e);
    }
    const missing = [...(wanted ?? [])].filter((id) => !found.some((e) => e.value.job.id === id));
    if (missing.length) {
      throw new HookhostError(
        "no_dead_letter",
        `No dead job ${missing.map((id) => `'${id}'`).join(", ")} in session '${session}'`,
      );
    }
    for (let i = 0; i < found.length; i += 400) {
      const op = this.kv.atomic();
      for (const e of found.slice(i, i + 400)) {
        const hook = e.key[2] as string;
        const record: RetryRecord = { job: e.value.job, attempts: 0, error: e.value.error };
        op.delete(e.key).set([JOB_RETRY, session, hook, options.now, e.value.job.id], record);
      }
      const result = await op.commit();
      if (!result.ok) throw new Error("KV commit was rejected");
    }
    return found.map((e) => e.value.job.id);
  }

  /** After `job` is done: deletes its body chunks when no batch will (it ran as a retry). */
  async finished(session: string, hook: string, job: Job): Promise<void> {
    if (!job.chunks || !job.retry) return;
    const op = this.kv.atomic();
    for (let n = 0; n < job.chunks; n++) op.delete([JOB_CHUNK, session, hook, job.id, n]);
    await op.commit();
  }
}
