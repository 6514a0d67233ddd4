/**
 * The webhook request pipeline: a short chain of middlewares around a final step, each a plain
 * function of a context, so tests can call the whole handler without a server.
 *
 * @module
 */
import type { Logger } from "../output/log.ts";
import { GrowingBytes } from "../bytes.ts";
import type { Entry } from "../inbox/group_commit.ts";

/** What flows through the chain. */
export interface HookContext {
  /** The incoming request (its body is consumed by the limits step). */
  request: Request;
  /** The raw body, read by the limits step. */
  body: Uint8Array;
  /** Set by the verify step for schemes that sign the body alone: the verified MAC in hex. */
  replayKey?: string;
  /** Set by the verify step: the scheme the request's signature passed. */
  verified?: string;
  /**
   * Set by the verify step when a header holds the secret itself (GitLab's token): it is kept
   * from scripts, stored jobs and plugins.
   */
  secretHeader?: string;
  /** Set by the dedupe step when the request carries a delivery id. */
  dedupe?: DedupeTicket;
}

/** What the final step of a deduplicated request does with its delivery id. */
export interface DedupeTicket {
  /**
   * KV writes recording `answer` as this delivery's: the final step commits them with what the
   * request stores (message or job), then sets `committed`, so a crash in between cannot let the
   * delivery through twice.
   */
  entries(answer: { status: number; body: string }): Entry[];
  /** Whether `entries` were committed; if not, the dedupe step records a 2xx answer itself. */
  committed: boolean;
  /**
   * Set by a step whose answer is this delivery's whatever its status (not matched by the
   * trigger rules): the dedupe step records it even when it is not a 2xx.
   */
  settled?: boolean;
}

/** A step: answers, or passes on to `next`. */
export type Middleware = (ctx: HookContext, next: () => Promise<Response>) => Promise<Response>;

/** Composes `steps` around `last` into a `(Request) => Promise<Response>`. */
export function compose(
  steps: readonly Middleware[],
  last: (ctx: HookContext) => Promise<Response>,
): (request: Request) => Promise<Response> {
  return (request) => {
    const ctx: HookContext = { request, body: new Uint8Array() };
    const call = (i: number): Promise<Response> =>
      i < steps.length ? steps[i](ctx, () => call(i + 1)) : last(ctx);
    return call(0);
  };
}

/**
 * `headers` as name-value pairs, as iterating them gives; `forEach` builds them several times
 * faster than the iterator, which matters once per request.
 */
export function headerPairs(headers: Headers): [string, string][] {
  const pairs: [string, string][] = [];
  headers.forEach((value, name) => pairs.push([name, value]));
  return pairs;
}

/** `headers` without `name` (a header holding a secret), or `headers` itself. */
export function withoutHeader(headers: Headers, name: string | undefined): Headers {
  if (!name || !headers.has(name)) return headers;
  return new Headers([...headers].filter(([k]) => k !== name));
}

/** A plain-text response. */
export function text(status: number, body: string | null): Response {
  return new Response(body, {
    status,
    headers: body === null ? {} : { "content-type": "text/plain; charset=utf-8" },
  });
}

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

/**
 * Limits step: refuses bodies over `maxBody` bytes with 413 (by `Content-Length` up front, or
 * while reading), and reads the body into `ctx.body`. A client that goes away mid-body gets
 * nothing run; aborting `signal` (shutdown past its grace) stops waiting for a slow body.
 */
export function limitBody(maxBody: number, options: { signal?: AbortSignal } = {}): Middleware {
  const tooLarge = () => text(413, `Body larger than ${maxBody} bytes\n`);
  return async (ctx, next) => {
    const declared = Number(ctx.request.headers.get("content-length") ?? NaN);
    if (declared > maxBody) return tooLarge();
    if (declared > 0) {
      // The declared length bounds the body (HTTP framing), so it is read in one go: cheaper
      // than chunk by chunk. `request.body` is not touched first: making its stream would turn
      // `Deno.serve`'s already-read body into a stream read chunk by chunk.
      const reading = ctx.request.bytes().then((b) => b, () => null);
      let forget = () => {};
      const aborted = new Promise<"aborted">((resolve) => {
        if (options.signal) forget = onAbort(options.signal, () => resolve("aborted"));
      });
      const body = await Promise.race([reading, aborted]);
      forget();
      if (body === "aborted") return text(503, "Shutting down\n");
      if (body === null) return text(400, "Request body could not be read\n");
      // Only a `Request` made in-process can hold more than it declares; `Deno.serve` cannot.
      if (body.length > maxBody) return tooLarge();
      ctx.body = body;
    } else if (declared !== 0 && ctx.request.body) {
      const read = chunkReader(ctx.request.body);
      const forget = options.signal
        ? onAbort(options.signal, () => void read.cancel().catch(() => {}))
        : () => {};
      const received = new GrowingBytes();
      try {
        while (true) {
          const chunk = await read.next();
          if (chunk === null) break;
          if (received.length + chunk.length > maxBody) return tooLarge();
          received.append(chunk);
        }
      } catch {
        // The client hung up mid-body: nobody is left to answer, and nothing is run.
        return text(400, "Request body could not be read\n");
      } finally {
        forget();
      }
      if (options.signal?.aborted) return text(503, "Shutting down\n");
      ctx.body = received.bytes();
    }
    return await next();
  };
}

/**
 * Answers a hook's message: 204 when it is empty (after trimming), else 200 `ok` once `inject`
 * has taken it (stored, or written to the output), or 503 when it could not be stored (logged as
 * `<who>: could not store …`).
 */
export async function storeMessage(
  message: string,
  options: {
    inject: (message: string, also?: readonly Entry[]) => Promise<unknown>;
    log: Logger;
    who: string;
    /** The request's dedupe ticket: its record is committed with the message. */
    dedupe?: DedupeTicket;
  },
): Promise<Response> {
  const trimmed = message.trim();
  if (!trimmed) return text(204, null);
  try {
    await options.inject(trimmed, options.dedupe?.entries({ status: 200, body: "ok" }));
    if (options.dedupe) options.dedupe.committed = true;
  } catch (e) {
    options.log.error("{who}: could not store the message: {reason}", {
      who: options.who,
      reason: (e as Error).message,
    });
    return text(503, "Message could not be stored\n");
  }
  return text(200, "ok");
}
