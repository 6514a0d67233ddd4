/**
 * The output sink: records are buffered and written in batches, and `flush()` says when they
 * reached the writer, which is what "processed" waits for.
 *
 * @module
 */
import { type Format, type OutputRecord, renderText, type Stamped } from "./records.ts";

/** Where records go. */
export interface OutputSink {
  /** Queues a record; it is written by the next flush (scheduled automatically). */
  write(record: OutputRecord): void;
  /** Resolves once every queued record was written; rejects if the writer failed. */
  flush(): Promise<void>;
  /**
   * Resolves once every queued record was written, like {@linkcode flush}, but by the scheduled
   * write: records queued meanwhile share it. Once {@linkcode EARLY_RECORDS} records wait and
   * the last write began {@linkcode EARLY_GAP_MS} ago, they are written without the timer, by a
   * microtask queued behind those already queued (with the records they write meanwhile).
   */
  written(): Promise<void>;
  /** Characters queued or being written: how far the writer lags behind. */
  readonly backlog: number;
  /** For how long (ms) the oldest write still in progress has been waiting; 0 when none is. */
  stalledFor(): number;
}

/**
 * Records waiting that make {@linkcode OutputSink.written} write without waiting for the 1 ms
 * timer (which under load fires every 1–2 ms).
 */
export const EARLY_RECORDS = 8;
/**
 * How long ago (ms) the last write must have begun for {@linkcode EARLY_RECORDS} to apply: at most
 * four writes a millisecond, since each costs the daemon more than a record does.
 */
export const EARLY_GAP_MS = 0.25;

/** Options of {@linkcode createSink}. */
export interface SinkOptions {
  /** Value of `session_id` in every record. */
  session: string;
  /** Where bytes go; default `Deno.stdout`. */
  writer?: { write(p: Uint8Array): Promise<number> };
  /** Clock for `ts`; default `Date.now`. */
  now?: () => number;
  /** Told about every record written (the admin listener's metrics). */
  observe?: (record: OutputRecord) => void;
}

/** Creates a sink printing `format` (`jsonl` or `text`). */
export function createSink(format: Format, options: SinkOptions): OutputSink {
  const writer = options.writer ?? Deno.stdout;
  const now = options.now ?? Date.now;
  const encoder = new TextEncoder();
  let buffer: string[] = [];
  let queued = 0;
  let inFlight = 0;
  /** Start times of the writes in progress, oldest first. */
  const started: number[] = [];
  let writing: Promise<void> = Promise.resolve();
  /** Waiters of `written()`: settled with the next write. */
  let next: PromiseWithResolvers<void> | null = null;
  let scheduled: ReturnType<typeof setTimeout> | null = null;

  // Under load many records share a millisecond: the timestamp is formatted once per ms.
  let lastMs = NaN;
  let lastTs = "";
  const stampNow = (): string => {
    const ms = now();
    if (ms !== lastMs) {
      lastMs = ms;
      lastTs = new Date(ms).toISOString();
    }
    return lastTs;
  };
  const sessionField = `,"session_id":${JSON.stringify(options.session)},"ts":"`;
  const render = (r: OutputRecord): string => {
    // `type` first: readers of JSONL scan for it. The common fields are appended to the
    // record's own JSON rather than copied into a new object for every record.
    if (format === "jsonl") {
      return `${JSON.stringify(r).slice(0, -1)}${sessionField}${stampNow()}"}`;
    }
    return renderText({ ...r, session_id: options.session, ts: stampNow() } as Stamped);
  };

  let lastWrite = -Infinity;
  /** An early write is queued as a microtask (see `written()`). */
  let early = false;
  const flushNow = (): Promise<void> => {
    if (scheduled !== null) clearTimeout(scheduled);
    scheduled = null;
    if (!buffer.length) return writing;
    const text = buffer.join("\n") + "\n";
    buffer = [];
    inFlight += queued;
    const chars = queued;
    queued = 0;
    const bytes = encoder.encode(text);
    lastWrite = performance.now();
    started.push(lastWrite);
    writing = writing.then(async () => {
      let off = 0;
      while (off < bytes.length) off += await writer.write(bytes.subarray(off));
    }).finally(() => {
      inFlight -= chars;
      started.shift();
    });
    if (next) {
      writing.then(next.resolve, next.reject);
      next = null;
    }
    return writing;
  };

  return {
    write(record) {
      options.observe?.(record);
      const line = render(record);
      buffer.push(line);
      queued += line.length + 1;
      // A timer rather than a microtask: under load, the records of many requests share one
      // write. Whoever needs them written (the runner, before an ack) calls flush().
      scheduled ??= setTimeout(() => void flushNow().catch(() => {}), 1);
    },
    flush: flushNow,
    written() {
      if (!buffer.length) return writing;
      // Requests wait for these: under load, a handful of them waiting is reason enough to
      // write, instead of holding all of them (and their connections) for the rest of the timer.
      if (
        !early && buffer.length >= EARLY_RECORDS && performance.now() - lastWrite >= EARLY_GAP_MS
      ) {
        // Behind the microtasks already queued, not now: a plugin Worker's answer settles a batch
        // of requests at once, and their continuations, queued together, write their records
        // before this write.
        early = true;
        queueMicrotask(() => {
          early = false;
          void flushNow().catch(() => {});
        });
      }
      next ??= Promise.withResolvers<void>();
      return next.promise;
    },
    get backlog() {
      return queued + inFlight;
    },
    stalledFor() {
      return started.length ? performance.now() - started[0] : 0;
    },
  };
}
