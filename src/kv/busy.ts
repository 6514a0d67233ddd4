/**
 * Busy commits. Several processes share one local KV file (a daemon, `send`, `schedule add`,
 * another session's daemon); SQLite lets one write at a time, and Deno KV waits 5 s for the lock
 * before a commit fails with `database is locked`. Such a commit changed nothing, so it is safe
 * to run again: {@linkcode retryBusyWrites} makes every write of a KV handle retry with backoff,
 * and a write still locked out after that fails with one {@linkcode StorageBusyError} line
 * instead of a stack trace.
 *
 * @module
 */
import { HookhostError } from "../errors.ts";

/** SQLite's busy errors, as Deno KV words them. */
const BUSY = /database is locked|database is busy|database table is locked/i;

/** Whether `e` is SQLite's "another connection holds the write lock". */
export function isBusy(e: unknown): boolean {
  return BUSY.test((e as Error)?.message ?? String(e));
}

/** A write that stayed locked out through every retry. */
export class StorageBusyError extends HookhostError {
  /** After `tries` tries, the last failing with `cause`. */
  constructor(tries: number, cause: unknown) {
    super(
      "storage_busy",
      `KV stayed locked by another process through ${tries} tries ('${
        (cause as Error)?.message ?? cause
      }'); retry later`,
      { cause },
    );
  }
}

/** Options of {@linkcode retryBusy}. */
export interface RetryBusyOptions {
  /** Tries in all (default 4: with Deno KV's own 5 s wait in each, about 20 s). */
  tries?: number;
  /** First pause between tries in ms, doubling (default 50). */
  backoffMs?: number;
  /** Pauses; default a timer (a seam for tests). */
  sleep?: (ms: number) => Promise<void>;
}

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `write` until it does not fail busy, at most `tries` times. */
export async function retryBusy<T>(
  write: () => Promise<T>,
  options: RetryBusyOptions = {},
): Promise<T> {
  const tries = Math.max(1, options.tries ?? 4);
  const sleep = options.sleep ?? pause;
  let wait = options.backoffMs ?? 50;
  for (let n = 1;; n++) {
    try {
      return await write();
    } catch (e) {
      if (!isBusy(e)) throw e;
      if (n >= tries) throw new StorageBusyError(n, e);
      // Jitter, so that processes locked out together do not come back together.
      await sleep(wait * (0.5 + Math.random()));
      wait *= 2;
    }
  }
}

/**
 * Makes `kv`'s writes (`atomic().commit()`, `set`, `delete`, `enqueue`) retry busy failures
 * ({@linkcode retryBusy}); returns `kv`. Reads need none: SQLite's WAL lets them run beside a
 * writer.
 */
export function retryBusyWrites(kv: Deno.Kv, options: RetryBusyOptions = {}): Deno.Kv {
  const atomic = kv.atomic.bind(kv);
  kv.atomic = () => {
    const op = atomic();
    // An AtomicOperation can be committed again: it keeps its checks and mutations.
    const commit = op.commit.bind(op);
    op.commit = () => retryBusy(commit, options);
    return op;
  };
  const set = kv.set.bind(kv);
  kv.set = (key, value, opts) => retryBusy(() => set(key, value, opts), options);
  const del = kv.delete.bind(kv);
  kv.delete = (key) => retryBusy(() => del(key), options);
  const enqueue = kv.enqueue.bind(kv);
  kv.enqueue = (value, opts) => retryBusy(() => enqueue(value, opts), options);
  return kv;
}
