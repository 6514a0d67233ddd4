/**
 * The webhook request pipeline: a short chain of middlewares around a final step, each a plain
 * function of a context, so tests can call the whole handler without a server.
 *
 * @module
 */

/** What flows through the chain. */
export interface HookContext {
  /** The incoming request (its body is consumed by the limits step). */
  request: Request;
  /** The raw body, read by the limits step. */
  body: Uint8Array;
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

/** A plain-text response. */
export function text(status: number, body: string | null): Response {
  return new Response(body, {
    status,
    headers: body === null ? {} : { "content-type": "text/plain; charset=utf-8" },
  });
}

/**
 * Limits step: refuses bodies over `maxBody` bytes with 413 (by `Content-Length` up front, or
 * while reading), and reads the body into `ctx.body`.
 */
export function limitBody(maxBody: number): Middleware {
  return async (ctx, next) => {
    const declared = Number(ctx.request.headers.get("content-length") ?? NaN);
    if (declared > maxBody) return text(413, `Body larger than ${maxBody} bytes\n`);
    if (ctx.request.body) {
      const chunks: Uint8Array[] = [];
      let size = 0;
      for await (const chunk of ctx.request.body) {
        size += chunk.length;
        if (size > maxBody) return text(413, `Body larger than ${maxBody} bytes\n`);
        chunks.push(chunk);
      }
      const body = new Uint8Array(size);
      let offset = 0;
      for (const c of chunks) {
        body.set(c, offset);
        offset += c.length;
      }
      ctx.body = body;
    }
    return await next();
  };
}
