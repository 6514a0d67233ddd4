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
}

/** Options of {@linkcode createSink}. */
export interface SinkOptions {
  /** Value of `session_id` in every record. */
  session: string;
  /** Where bytes go; default `Deno.stdout`. */
  writer?: { write(p: Uint8Array): Promise<number> };
  /** Clock for `ts`; default `Date.now`. */
  now?: () => number;
}

/** Creates a sink printing `format` (`jsonl` or `text`). */
export function createSink(format: Format, options: SinkOptions): OutputSink {
  const writer = options.writer ?? Deno.stdout;
  const now = options.now ?? Date.now;
  const encoder = new TextEncoder();
  let buffer: string[] = [];
  let writing: Promise<void> = Promise.resolve();
  let scheduled = false;

  const render = (r: OutputRecord): string => {
    const stamped = { ...r, session_id: options.session, ts: new Date(now()).toISOString() };
    // `type` first: readers of JSONL scan for it.
    if (format === "jsonl") return JSON.stringify(stamped as Stamped);
    return renderText(stamped as Stamped);
  };

  const flushNow = (): Promise<void> => {
    scheduled = false;
    if (!buffer.length) return writing;
    const text = buffer.join("\n") + "\n";
    buffer = [];
    const bytes = encoder.encode(text);
    writing = writing.then(async () => {
      let off = 0;
      while (off < bytes.length) off += await writer.write(bytes.subarray(off));
    });
    return writing;
  };

  return {
    write(record) {
      buffer.push(render(record));
      if (!scheduled) {
        scheduled = true;
        queueMicrotask(() => void flushNow().catch(() => {}));
      }
    },
    flush: flushNow,
  };
}
