/**
 * Async hooks' jobs as `hookhost jobs` shows them: pending (in a batch, or waiting for another
 * run after failed ones) and dead, with bodies as text (or base64 when not UTF-8).
 *
 * @module
 */
import { JOB, JOB_RETRY } from "../kv/keys.ts";
import type { Job, JobStore } from "./job_store.ts";

/** One job as listed. */
export interface JobRow {
  /** Job id (the order of acceptance). */
  id: string;
  /** The hook it belongs to. */
  hook: string;
  /** When it was accepted (Unix ms). */
  ts: number;
  /** Runs that failed so far. */
  attempts: number;
  /** When it runs again after failed runs (Unix ms); absent for a job not run yet. */
  due?: number;
  /** When its last run failed (Unix ms), for a dead job. */
  failed_at?: number;
  /** Why its last run failed. */
  error?: string;
  /** Request method. */
  method: string;
  /** Request URL. */
  url: string;
  /** The body, when it is valid UTF-8. */
  body?: string;
  /** The body in base64, when it is not. */
  body_base64?: string;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

async function row(
  jobs: JobStore,
  session: string,
  job: Job & { hook: string },
): Promise<JobRow> {
  const bytes = await jobs.loadBody(session, job.hook, job);
  let body: Pick<JobRow, "body" | "body_base64">;
  try {
    body = { body: utf8.decode(bytes) };
  } catch {
    body = { body_base64: btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join("")) };
  }
  return {
    id: job.id,
    hook: job.hook,
    ts: job.ts,
    attempts: job.retry?.attempts ?? 0,
    ...(job.retry ? { due: job.retry.due, error: job.retry.error } : {}),
    method: job.method,
    url: job.url,
    ...body,
  };
}

/** Hooks of `session` with jobs in batches or retry records. */
async function hooksWithJobs(kv: Deno.Kv, session: string): Promise<string[]> {
  const hooks = new Set<string>();
  for (const kind of [JOB, JOB_RETRY]) {
    for await (const e of kv.list({ prefix: [kind, session] })) hooks.add(e.key[2] as string);
  }
  return [...hooks].sort();
}

/** `session`'s pending jobs (of `hook` only, when given): each hook's in order of acceptance. */
export async function pendingJobs(
  jobs: JobStore,
  session: string,
  options: { hook?: string } = {},
): Promise<JobRow[]> {
  const out: JobRow[] = [];
  const hooks = options.hook ? [options.hook] : await hooksWithJobs(jobs.kv, session);
  for (const hook of hooks) {
    const all: (Job & { hook: string })[] = await jobs.retries.waiting(session, hook);
    for (const batch of await jobs.batches(session, hook, { limit: 1_000_000 })) {
      for (const job of batch.jobs) all.push({ ...job, hook });
    }
    all.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const job of all) out.push(await row(jobs, session, job));
  }
  return out;
}

/** `session`'s dead jobs (of `hook` only, when given), oldest first. */
export async function deadJobs(
  jobs: JobStore,
  session: string,
  options: { hook?: string } = {},
): Promise<JobRow[]> {
  const out: JobRow[] = [];
  for (const job of await jobs.retries.dead(session, options.hook)) {
    const listed = await row(jobs, session, job);
    delete listed.due;
    out.push({ ...listed, attempts: job.attempts, failed_at: job.failed_at, error: job.error });
  }
  return out;
}
