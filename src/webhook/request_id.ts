/**
 * Request ids: a client's `X-Request-Id` when it is a sane one, else a fresh UUID. The id is
 * answered in the same header, given to scripts as `HOOK_REQUEST_ID` and to plugins in
 * `X-Request-Id`, and named in `hook_run` and `injected` records and in log lines, so one
 * delivery can be followed from a proxy's access log to the script that ran it.
 *
 * @module
 */

/** The header a request id comes in and is answered in. */
export const REQUEST_ID_HEADER = "x-request-id";

/**
 * Ids a client may choose: 1–128 visible ASCII characters. Anything else (empty, too long, spaces,
 * control characters, non-ASCII) is replaced, so an id can never break a log line or a record.
 */
const ACCEPTED = /^[\x21-\x7e]{1,128}$/;

/** Each request's id, made once: `Deno.serve`'s request headers cannot be changed to carry it. */
const ids = new WeakMap<Request, string>();

/** Whether `value` is an id hookhost keeps as the client sent it. */
export function isAcceptedRequestId(value: string): boolean {
  return ACCEPTED.test(value);
}

/**
 * The id of `request`: its `X-Request-Id` when accepted, else a random UUID; the same for every
 * call with the same `Request`.
 */
export function requestId(request: Request): string {
  let id = ids.get(request);
  if (id === undefined) {
    const sent = request.headers.get(REQUEST_ID_HEADER);
    id = sent !== null && ACCEPTED.test(sent) ? sent : crypto.randomUUID();
    ids.set(request, id);
  }
  return id;
}

/**
 * `response` answering with `id` in `X-Request-Id`. A response whose headers are immutable (one
 * made by `Response.redirect`, say) is copied first.
 */
export function withRequestId(response: Response, id: string): Response {
  try {
    response.headers.set(REQUEST_ID_HEADER, id);
    return response;
  } catch {
    const copy = new Response(response.body, response);
    copy.headers.set(REQUEST_ID_HEADER, id);
    return copy;
  }
}
