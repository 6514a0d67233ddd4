/**
 * Requests accepted by `mode = "async"` hooks, kept in Deno KV until their script has run.
 *
 * Requests that arrive together are stored together: one KV value per batch,
 * `["j", session, hook, batchId]` → `{ jobs }`, oldest batch first. Writing 25 requests as one
 * 27 KB value costs a third of writing 25 values of 1 KB (SQLite rewrites far fewer pages), and
 * that commit is what an async hook's `202` waits for. A body too large to share a value goes to
 * `["jc", session, hook, jobId, n]` chunks, written before its batch. A finished job gets a done
 * marker `["jd", session, hook, batchId, jobId]` (in the same commit as its output, if any);
 * once every job of a batch is done, the batch and its markers are deleted. A job whose run failed
 * moves out of its batch (its marker says `"moved"`) to a retry record or a dead letter
 * (job_retries.ts), keeping its chunks.
 *
 * @module
 */
import type { Entry } from "../inbox/group_commit.ts";
import { type IdFactory, newId } from "../kv/ids.ts";
import { JOB, JOB_CHUNK, JOB_DONE } from "../kv/keys.ts";
import { concatBytes } from "../bytes.ts";
import { JobRetries, retryKey, type RetryState } from "./job_retries.ts";

/** What a script hook needs of a request, to run it later. */
export interface JobRequest {
  /** HTTP method. */
  method: string;
  /** The full request URL. */
  url: string;
  /** Header pairs (repeated headers already joined by `Headers`). */
  headers: [string, string][];
  /** The raw body. */
  body: Uint8Array;
  /** The `verify` scheme its signature passed, if any. */
  verified?: string;
  /** The id of the request it was accepted from (absent in jobs stored before request ids). */
  request_id?: string;
}

/** A stored job. */
export interface Job extends JobRequest {
  /** Monotonic ULID: the order of acceptance. */
  id: string;
  /** The batch it was stored in (`""` once it moved out for a retry). */
  batch: string;
  /** Set when it runs again after failed runs: it is then kept in a retry record. */
  retry?: RetryState;
  /** When it was accepted (Unix ms). */
  ts: number;
  /** Set when the body is stored in chunks: `body` is then empty until {@linkcode JobStore.loadBody}. */
  chunks?: number;
}

/** A batch of jobs as listed: those not done yet. */
export interface JobBatch {
  /** Batch id (ordered like the commits that stored them). */
  id: string;
  /** Its jobs that are not done, oldest first. */
  jobs: Job[];
  /** How many jobs it holds in all. */
  size: number;
}

/** A job as KV keeps it. */
export interface StoredJob extends Omit<JobRequest, "body"> {
  /** Monotonic ULID. */
  id: string;
  /** When it was accepted (Unix ms). */
  ts: number;
  /** The body, unless it is in chunks. */
  body?: Uint8Array;
  /** How many chunks hold the body, when it is in chunks. */
  chunks?: number;
}

interface Queued {
  job: StoredJob;
  also?: readonly Entry[];
  size: number;
  done: (batch: string) => void;
  fail: (e: unknown) => void;
}

/** The request line and headers of a request are too large to store as a job. */
export class JobTooLargeError extends RangeError {
  /** About `bytes` of URL and headers. */
  constructor(bytes: number) {
    super(`URL and headers take about ${bytes} bytes; an async hook stores at most 44000`);
    this.name = "JobTooLargeError";
  }
}

/** Bodies up to this many bytes share their batch's value (which holds 64 KiB). */
const INLINE_BYTES = 16_000;
const CHUNK_BYTES = 60_000;
const BATCH_BYTES = 60_000;
/** Per commit, below KV's 800 KiB and 1000 mutations. */
const COMMIT_BYTES = 600_000;
const MAX_MUTATIONS = 900;

function estimate(job: StoredJob): number {
  return 120 + (job.body?.length ?? 0) + job.url.length * 2 +
    job.headers.reduce((n, [k, v]) => n + (k.length + v.length) * 2 + 8, 0);
}

/** Reads and writes async hooks' jobs in one KV database. */
export class JobStore {
  /** The KV database. */
  readonly kv: Deno.Kv;
  /** Its jobs' retry records and dead letters. */
  readonly retries: JobRetries;
  #ids: IdFactory;
  #now: () => number;
  #queues = new Map<string, { session: string; hook: string; items: Queued[] }>();
  #running: Promise<void> | null = null;

  /** Uses `kv`; `ids` and `now` default to the monotonic ULID factory and `Date.now`. */
  constructor(kv: Deno.Kv, options: { ids?: IdFactory; now?: () => number } = {}) {
    this.kv = kv;
    this.#ids = options.ids ?? newId;
    this.#now = options.now ?? Date.now;
    this.retries = new JobRetries(kv);
  }

  /**
   * Stores `request` as a job of `hook`; resolves once it is durable. Concurrent adds share
   * batches and commits. `also` gives more writes (a delivery id's record) for the job's id,
   * committed with it.
   */
  async add(
    session: string,
    hook: string,
    request: JobRequest,
    options: { also?: (id: string) => readonly Entry[] } = {},
  ): Promise<Job> {
    const { body, ...rest } = request;
    const stored: StoredJob = { ...rest, id: this.#ids(), ts: this.#now() };
    const head = estimate(stored);
    if (head > BATCH_BYTES - INLINE_BYTES) throw new JobTooLargeError(head);
    if (body.length > INLINE_BYTES) {
      stored.chunks = await this.#writeChunks(session, hook, stored.id, body);
    } else stored.body = body;
    const qk = JSON.stringify([session, hook]);
    let queue = this.#queues.get(qk);
    if (!queue) this.#queues.set(qk, queue = { session, hook, items: [] });
    const batch = new Promise<string>((done, fail) =>
      queue!.items.push({
        job: stored,
        also: options.also?.(stored.id),
        size: estimate(stored),
        done,
        fail,
      })
    );
    this.#kick();
    return { ...request, id: stored.id, ts: stored.ts, chunks: stored.chunks, batch: await batch };
  }

  /** Starts the flush loop (after this tick, so the tick's adds share the first commit). */
  #kick(): void {
    this.#running ??= (async () => {
      try {
        await Promise.resolve();
        while ([...this.#queues.values()].some((q) => q.items.length)) await this.#flush();
      } finally {
        this.#running = null;
      }
    })();
  }

  async #flush(): Promise<void> {
    const op = this.kv.atomic();
    const written: { items: Queued[]; id: string }[] = [];
    let bytes = 0;
    let mutations = 0;
    const extra = (q: Queued) => q.also?.length ?? 0;
    for (const queue of this.#queues.values()) {
      while (
        queue.items.length && bytes < COMMIT_BYTES &&
        mutations + 1 + extra(queue.items[0]) <= MAX_MUTATIONS
      ) {
        const items: Queued[] = [];
        let size = 0;
        mutations++;
        while (
          queue.items.length &&
          (!items.length ||
            (size + queue.items[0].size <= BATCH_BYTES &&
              mutations + extra(queue.items[0]) <= MAX_MUTATIONS))
        ) {
          const next = queue.items.shift()!;
          items.push(next);
          size += next.size;
          mutations += extra(next);
        }
        // A fresh id per batch: flushes run one at a time, so batches commit in id order and a
        // runner can read on from the last batch it saw.
        const id = this.#ids();
        op.set([JOB, queue.session, queue.hook, id], { jobs: items.map((i) => i.job) });
        for (const i of items) {
          for (const e of i.also ?? []) op.set(e.key, e.value, { expireIn: e.expireIn });
        }
        written.push({ items, id });
        bytes += size;
      }
    }
    try {
      const result = await op.commit();
      if (!result.ok) throw new Error("KV commit was rejected");
      for (const w of written) for (const i of w.items) i.done(w.id);
    } catch (e) {
      for (const w of written) for (const i of w.items) i.fail(e);
    }
  }

  async #writeChunks(session: string, hook: string, id: string, body: Uint8Array) {
    const count = Math.ceil(body.length / CHUNK_BYTES);
    for (let first = 0; first < count; first += 10) {
      const op = this.kv.atomic();
      for (let n = first; n < Math.min(count, first + 10); n++) {
        op.set(
          [JOB_CHUNK, session, hook, id, n],
          body.subarray(n * CHUNK_BYTES, (n + 1) * CHUNK_BYTES),
        );
      }
      const result = await op.commit();
      if (!result.ok) throw new Error("KV commit was rejected");
    }
    return count;
  }

  /**
   * Up to `limit` batches of `hook`, oldest first (after batch `after` when given), with the jobs
   * not done yet; bodies stored in chunks are left for {@linkcode loadBody}.
   */
  async batches(
    session: string,
    hook: string,
    options: { limit: number; after?: string },
  ): Promise<JobBatch[]> {
    const out: JobBatch[] = [];
    const prefix = [JOB, session, hook];
    const selector = options.after === undefined
      ? { prefix }
      : { prefix, start: [...prefix, options.after + "\0"] };
    const iter = this.kv.list<{ jobs: StoredJob[] }>(selector, {
      limit: options.limit,
      batchSize: Math.min(options.limit, 100),
    });
    for await (const e of iter) {
      const id = e.key[3] as string;
      const done = new Set<string>();
      for await (const m of this.kv.list({ prefix: [JOB_DONE, session, hook, id] })) {
        done.add(m.key[4] as string);
      }
      const jobs: Job[] = [];
      for (const { body, ...rest } of e.value.jobs) {
        if (!done.has(rest.id)) jobs.push({ ...rest, batch: id, body: body ?? new Uint8Array() });
      }
      out.push({ id, jobs, size: e.value.jobs.length });
    }
    return out;
  }

  /** Number of jobs not done yet: of `hook`, or of every hook of `session`. */
  async count(session: string, hook?: string): Promise<number> {
    const tail = hook === undefined ? [] : [hook];
    let n = 0;
    const iter = this.kv.list<{ jobs: StoredJob[] }>({ prefix: [JOB, session, ...tail] }, {
      batchSize: 100,
    });
    for await (const e of iter) n += e.value.jobs.length;
    for await (const _ of this.kv.list({ prefix: [JOB_DONE, session, ...tail] })) n--;
    return n + await this.retries.count(session, hook);
  }

  /** `job`'s body, read from its chunks when it has them. */
  async loadBody(session: string, hook: string, job: Job): Promise<Uint8Array> {
    if (!job.chunks) return job.body;
    const parts: Uint8Array[] = [];
    const prefix = [JOB_CHUNK, session, hook, job.id];
    for await (const e of this.kv.list<Uint8Array>({ prefix })) parts.push(e.value);
    return concatBytes(parts);
  }

  /**
   * The write that marks `job` done, to commit together with its output: its batch's done
   * marker, or the delete of its retry record.
   */
  doneMarker(session: string, hook: string, job: Job): Entry {
    if (job.retry) {
      return { key: retryKey(session, hook, job), value: null, size: 100, delete: true };
    }
    return { key: [JOB_DONE, session, hook, job.batch, job.id], value: true, size: 100 };
  }

  /** Marks `job` done on its own (a run with no output to store). */
  async markDone(session: string, hook: string, job: Job): Promise<void> {
    const marker = this.doneMarker(session, hook, job);
    const op = this.kv.atomic();
    if (marker.delete) op.delete(marker.key);
    else op.set(marker.key, true);
    const result = await op.commit();
    if (!result.ok) throw new Error("KV commit was rejected");
  }

  /** Deletes batch `batch` of `hook` with its done markers, then its jobs' body chunks. */
  async removeBatch(session: string, hook: string, batch: string): Promise<void> {
    const entry = await this.kv.get<{ jobs: StoredJob[] }>([JOB, session, hook, batch]);
    const op = this.kv.atomic().delete([JOB, session, hook, batch]);
    const moved = new Set<string>();
    for await (const m of this.kv.list({ prefix: [JOB_DONE, session, hook, batch] })) {
      op.delete(m.key);
      if (m.value === "moved") moved.add(m.key[4] as string);
    }
    await op.commit();
    // After the batch: a crash between leaves unreferenced chunks, never a half job.
    for (const job of entry.value?.jobs ?? []) {
      if (!job.chunks || moved.has(job.id)) continue;
      const chunks = this.kv.atomic();
      for (let n = 0; n < job.chunks; n++) chunks.delete([JOB_CHUNK, session, hook, job.id, n]);
      await chunks.commit();
    }
  }
}
