/**
 * The limits step: a request body is read as it arrives, never by its declared length, within
 * `max_body`, within a budget of body bytes shared by every request of the process
 * (`max_body_in_flight`), and within `body_timeout` of silence.
 *
 * @module
 */
import { GrowingBytes } from "../bytes.ts";
import { type Middleware, text } from "./chain.ts";
import { closeAfter } from "./conn_guard.ts";

/**
 * Body bytes held by all requests at once, up to a maximum: a request takes what it reads and
 * gives it back when its answer is made.
 */
export class BodyBudget {
  #held = 0;

  /** Holds at most `max` bytes. */
  constructor(readonly max: number) {}

  /** Bytes held now. */
  get held(): number {
    return this.#held;
  }

  /** Takes `n` bytes; false (taking nothing) when they do not fit. */
  take(n: number): boolean {
    if (this.#held + n > this.max) return false;
    this.#held += n;
    return true;
  }

  /** Gives back `n` bytes. */
  give(n: number): void {
    this.#held = Math.max(0, this.#held - n);
  }
}

/**
 * Deadlines checked by one sweep every `everyMs` instead of a timer each: a read of every body
 * registers one, and most bodies arrive at once. The sweep runs only while deadlines are set (up
 * to one sweep after the last) and never keeps the process alive.
 */
export class Deadlines {
  #due = new Map<() => void, number>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Sweeps every `everyMs` (default 250) by the clock `now` (default `Date.now`). */
  constructor(
    readonly options: { everyMs?: number; now?: () => number } = {},
  ) {}

  /** Calls `fn` once `ms` have passed, unless the returned function is called first. */
  add(ms: number, fn: () => void): () => void {
    const now = this.options.now ?? Date.now;
    this.#due.set(fn, now() + ms);
    if (this.#timer === undefined) {
      const timer = setInterval(() => this.sweep(), this.options.everyMs ?? 250);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
    return () => this.#forget(fn);
  }

  /**
   * Calls what is due (the timer does this; tests call it with their clock), and stops the timer
   * once nothing is left: here, not when the last deadline is forgotten, since under load the
   * set empties and fills again with nearly every request, which would start and clear a timer
   * per request.
   */
  sweep(): void {
    const t = (this.options.now ?? Date.now)();
    for (const [fn, at] of this.#due) {
      if (at > t) continue;
      this.#forget(fn);
      fn();
    }
    if (this.#due.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #forget(fn: () => void): void {
    this.#due.delete(fn);
  }
}

/** Deadlines of the process's body reads. */
const shared = new Deadlines();

/** Callbacks waiting for each signal's abort: one listener per signal, not one per request. */
const onAborts = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `fn` when `signal` aborts (at once if it has); returns a function that forgets it. Cheaper
 * per call than `addEventListener` and `removeEventListener` on the shutdown signal, which every
 * request with a body made.
 */
function onAbort(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) {
    fn();
    return () => {};
  }
  let waiting = onAborts.get(signal);
  if (!waiting) {
    const set = waiting = new Set();
    onAborts.set(signal, set);
    signal.addEventListener("abort", () => {
      for (const f of set) f();
      set.clear();
    }, { once: true });
  }
  waiting.add(fn);
  return () => void waiting.delete(fn);
}

/** Chunks of a body stream: `next()` gives the next (valid until the next call) or `null`. */
interface ChunkReader {
  next(): Promise<Uint8Array | null>;
  cancel(): Promise<void>;
}

/**
 * Reads `stream` into one scratch buffer of ours when it is a byte stream (as `Deno.serve`'s
 * bodies are): a default reader gets a fresh 64 KiB buffer per read, so a body sent in 3-byte
 * chunks would cost 64 KiB per 3 bytes until the garbage is collected.
 */
function chunkReader(stream: ReadableStream<Uint8Array>): ChunkReader {
  let byob: ReadableStreamBYOBReader | null = null;
  try {
    byob = stream.getReader({ mode: "byob" });
  } catch {
    // Not a byte stream (a `Request` made in-process): its chunks are what it was given.
  }
  if (!byob) {
    const reader = stream.getReader();
    return {
      next: async () => {
        const { value, done } = await reader.read();
        return done ? null : value;
      },
      cancel: () => reader.cancel(),
    };
  }
  const reader = byob;
  let scratch = new Uint8Array(64 * 1024);
  return {
    next: async () => {
      const { value, done } = await reader.read(scratch);
      if (done || !value) return null;
      scratch = new Uint8Array(value.buffer); // The read transferred it.
      return value;
    },
    cancel: () => reader.cancel(),
  };
}

/** Bodies declaring at most this many bytes are read in one go: cheaper, and bounded anyway. */
export const SMALL_BODY = 64 * 1024;

/** Options of {@linkcode limitBody}. */
export interface LimitBodyOptions {
  /** Aborted at shutdown past its grace: a slow body is then answered 503. */
  signal?: AbortSignal;
  /** The process's budget of body bytes (`max_body_in_flight`); none when unset. */
  budget?: BodyBudget;
  /**
   * Seconds a body may go without a byte (`body_timeout`, default 30); a body of up to
   * {@linkcode SMALL_BODY} bytes, read in one go, must arrive whole within it. Answered 408.
   */
  bodyTimeout?: number;
  /** Where the deadlines are kept; default one sweep for the process. */
  deadlines?: Deadlines;
}

/** Seconds a client is told to wait when the body budget is spent. */
export const RETRY_AFTER = 5;

/**
 * 503 with `Retry-After`: a limit of the moment (bodies in flight, a hook's queue, its pending
 * jobs) that a client should try again after.
 */
export function retryLater(message: string): Response {
  const answer = text(503, message);
  answer.headers.set("retry-after", String(RETRY_AFTER));
  return answer;
}

/**
 * An answer before the body was read closes the connection (`Connection: close`, ended by the
 * connection guard), since what is left of the body would otherwise have to be read (or waited
 * for) before the next request on it.
 */
const refuse = closeAfter;

function busy(): Response {
  return refuse(retryLater("Too many request bodies in flight; retry later\n"));
}

/**
 * Reads a body of at most {@linkcode SMALL_BODY} declared bytes in one go: its bytes, `null` when
 * the client went away, or why it stopped waiting. One promise, settled by whichever comes first.
 */
function readWhole(
  request: Request,
  timeoutMs: number,
  options: { deadlines: Deadlines; signal?: AbortSignal },
): Promise<Uint8Array | null | "aborted" | "timeout"> {
  return new Promise((resolve) => {
    const signal = options.signal;
    const forgetAbort = signal ? onAbort(signal, () => resolve("aborted")) : undefined;
    const forgetDeadline = options.deadlines.add(timeoutMs, () => resolve("timeout"));
    // `request.body` is not touched first: making its stream would turn `Deno.serve`'s
    // already-read body into a stream read chunk by chunk.
    const settle = (bytes: Uint8Array | null) => {
      forgetAbort?.();
      forgetDeadline();
      resolve(bytes);
    };
    request.bytes().then(settle, () => settle(null));
  });
}

/**
 * Reads a body chunk by chunk (declared larger than {@linkcode SMALL_BODY}, or chunked), taking
 * each chunk from the budget as it is kept (`held.n` counts what was taken, to be given back).
 */
async function readChunks(
  stream: ReadableStream<Uint8Array>,
  held: { n: number },
  o: LimitBodyOptions & { maxBody: number; timeoutMs: number; deadlines: Deadlines },
): Promise<Uint8Array | Response> {
  const read = chunkReader(stream);
  const cancel = () => void read.cancel().catch(() => {});
  let stalled = false;
  const forgetAbort = o.signal ? onAbort(o.signal, cancel) : () => {};
  const received = new GrowingBytes(Math.min(16 * 1024, o.maxBody + 1));
  // A refused body gives its bytes back before it returns, not in the caller's `finally` a
  // microtask later: a read of another body that completed at the same time would find the
  // budget still spent and be refused too.
  const fail = (answer: Response) => {
    o.budget?.give(held.n);
    held.n = 0;
    return answer;
  };
  try {
    while (true) {
      const forget = o.deadlines.add(o.timeoutMs, () => {
        stalled = true;
        cancel();
      });
      let chunk: Uint8Array | null;
      try {
        chunk = await read.next();
      } finally {
        forget();
      }
      if (chunk === null) break;
      if (received.length + chunk.length > o.maxBody) return fail(tooLarge(o.maxBody));
      // Held: what is kept, as it grows (the buffer doubles, at most twice the body).
      if (o.budget && !o.budget.take(chunk.length)) {
        cancel();
        return fail(busy());
      }
      held.n += chunk.length;
      received.append(chunk);
    }
  } catch {
    if (stalled) return fail(timedOut());
    // The client hung up mid-body: nobody is left to answer, and nothing is run.
    return fail(unreadable());
  } finally {
    forgetAbort();
  }
  if (stalled) return fail(timedOut());
  if (o.signal?.aborted) return fail(text(503, "Shutting down\n"));
  return received.bytes();
}

const tooLarge = (max: number) => refuse(text(413, `Body larger than ${max} bytes\n`));
const timedOut = () => refuse(text(408, "Request body timed out\n"));
const unreadable = () => text(400, "Request body could not be read\n");

/**
 * Limits step: refuses bodies over `maxBody` bytes with 413 (by `Content-Length` up front, or
 * while reading), 503 with `Retry-After` when the budget is spent, 408 when the body stalls, and
 * reads the body into `ctx.body`. A client that goes away mid-body gets nothing run; aborting
 * `signal` stops waiting for a slow body. The bytes taken from the budget are given back once
 * the rest of the chain has answered.
 */
export function limitBody(maxBody: number, options: LimitBodyOptions = {}): Middleware {
  const timeoutMs = (options.bodyTimeout ?? 30) * 1000;
  const deadlines = options.deadlines ?? shared;
  const budget = options.budget;
  const chunked = { ...options, maxBody, timeoutMs, deadlines };
  return async (ctx, next) => {
    const declared = Number(ctx.request.headers.get("content-length") ?? NaN);
    if (declared > maxBody) return tooLarge(maxBody);
    if (declared > 0 && declared <= SMALL_BODY) {
      if (budget && !budget.take(declared)) return busy();
      try {
        const body = await readWhole(ctx.request, timeoutMs, { deadlines, signal: options.signal });
        if (body === "aborted") return text(503, "Shutting down\n");
        if (body === "timeout") return timedOut();
        if (body === null) return unreadable();
        // Only a `Request` made in-process can hold more than it declares; `Deno.serve` cannot.
        if (body.length > maxBody) return tooLarge(maxBody);
        ctx.body = body;
        return await next();
      } finally {
        budget?.give(declared);
      }
    }
    if (declared === 0 || !ctx.request.body) return next();
    const held = { n: 0 };
    try {
      const body = await readChunks(ctx.request.body, held, chunked);
      if (body instanceof Response) return body;
      ctx.body = body;
      return await next();
    } finally {
      if (held.n) budget?.give(held.n);
    }
  };
}
