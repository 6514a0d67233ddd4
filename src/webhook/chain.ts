/**
 * The webhook request pipeline: a short chain of middlewares around a final step, each a plain
 * function of a context, so tests can call the whole handler without a server.
 *
 * @module
 */
import type { Logger } from "../output/log.ts";
import type { Entry } from "../inbox/group_commit.ts";
import { requestId } from "./request_id.ts";

/** What flows through the chain. */
export interface HookContext {
  /** The incoming request (its body is consumed by the limits step). */
  request: Request;
  /** The raw body, read by the limits step. */
  body: Uint8Array;
  /** The request's id (`X-Request-Id`, `HOOK_REQUEST_ID`). */
  requestId: string;
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

/** What a webhook's message is stored with besides its text. */
export interface InjectMeta {
  /** The id of the request it answers. */
  requestId?: string;
  /** Writes to commit with the message (a delivery id's record): with them, it is always stored. */
  also?: readonly Entry[];
}

/** A step: answers, or passes on to `next`. */
export type Middleware = (ctx: HookContext, next: () => Promise<Response>) => Promise<Response>;

/** Composes `steps` around `last` into a `(Request) => Promise<Response>`. */
export function compose(
  steps: readonly Middleware[],
  last: (ctx: HookContext) => Promise<Response>,
): (request: Request) => Promise<Response> {
  return (request) => {
    const ctx: HookContext = { request, body: new Uint8Array(), requestId: requestId(request) };
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

/**
 * Answers a hook's message: 204 when it is empty (after trimming), else `options.status` (default
 * 200) `ok` once `inject` has taken it (stored, or written to the output), or 503 when it could not
 * be stored (logged as `<who>: could not store …`). A repeated delivery is answered the same.
 */
export async function storeMessage(
  message: string,
  options: {
    inject: (message: string, meta: InjectMeta) => Promise<unknown>;
    log: Logger;
    who: string;
    /** The request's id, kept with the message. */
    requestId: string;
    /** The request's dedupe ticket: its record is committed with the message. */
    dedupe?: DedupeTicket;
    /** The 2xx status of the answer (a persistent worker's `status`); default 200. */
    status?: number;
  },
): Promise<Response> {
  const status = options.status ?? 200;
  const trimmed = message.trim();
  if (!trimmed) return text(204, null);
  try {
    await options.inject(trimmed, {
      requestId: options.requestId,
      also: options.dedupe?.entries({ status, body: "ok" }),
    });
    if (options.dedupe) options.dedupe.committed = true;
  } catch (e) {
    options.log.error("{who}: could not store the message of request {request_id}: {reason}", {
      who: options.who,
      request_id: options.requestId,
      reason: (e as Error).message,
    });
    return text(503, "Message could not be stored\n");
  }
  return text(status, "ok");
}
