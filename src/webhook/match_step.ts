/**
 * Trigger rules (`[[hooks.match]]`, as adnanh/webhook's): conditions on headers, query
 * parameters and JSON body fields that must all hold for the hook to run. A request that fails
 * one is answered `unmatched_status` and runs nothing.
 *
 * @module
 */
import type { MatchCondition } from "../config/schema.ts";
import { type HookContext, type Middleware, text } from "./chain.ts";

type Scalar = string | number | boolean;

/**
 * The value at JSON pointer `pointer` (RFC 6901) in `doc`, or `undefined`. `""` is the whole
 * document; `~1` stands for `/` and `~0` for `~`.
 */
export function atPointer(doc: unknown, pointer: string): unknown {
  if (pointer === "") return doc;
  let v = doc;
  for (const raw of pointer.slice(1).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(v)) {
      if (!/^(0|[1-9]\d*)$/.test(key)) return undefined;
      v = v[Number(key)];
    } else if (typeof v === "object" && v !== null && Object.hasOwn(v, key)) {
      v = (v as Record<string, unknown>)[key];
    } else return undefined;
  }
  return v;
}

/** A compiled condition: whether `value` passes. */
function test(cond: MatchCondition): (value: unknown) => boolean {
  if (cond.regex !== undefined) {
    const re = new RegExp(cond.regex);
    return (v) => (typeof v === "string" || typeof v === "number") && re.test(String(v));
  }
  if (cond.one_of !== undefined) {
    const set = new Set<unknown>(cond.one_of);
    return (v) => set.has(v);
  }
  const want: Scalar | undefined = cond.equals;
  return (v) => v === want;
}

/**
 * Builds the match step of `conditions`: all must hold. Headers and query parameters are text
 * (a missing one holds for nothing); a JSON field is compared as its JSON value, so
 * `equals = 3` matches the number 3 and not the string `"3"`. A body that is not JSON fails
 * every `json` condition.
 */
export function matchStep(
  conditions: readonly MatchCondition[],
  options: { status: number; onUnmatched?: (ctx: HookContext) => void },
): Middleware {
  const compiled = conditions.map((c) => ({ ...c, pass: test(c) }));
  const wantsJson = conditions.some((c) => c.json !== undefined);
  const decoder = new TextDecoder();
  return async (ctx, next) => {
    let doc: unknown;
    if (wantsJson) {
      try {
        doc = JSON.parse(decoder.decode(ctx.body));
      } catch {
        doc = undefined;
      }
    }
    let query: URLSearchParams | undefined;
    for (const c of compiled) {
      let value: unknown;
      if (c.header !== undefined) value = ctx.request.headers.get(c.header) ?? undefined;
      else if (c.query !== undefined) {
        query ??= new URL(ctx.request.url).searchParams;
        value = query.get(c.query) ?? undefined;
      } else value = doc === undefined ? undefined : atPointer(doc, c.json!);
      if (!c.pass(value)) {
        options.onUnmatched?.(ctx);
        if (ctx.dedupe) ctx.dedupe.settled = true;
        return text(
          options.status,
          [204, 205, 304].includes(options.status) ? null : "Not matched\n",
        );
      }
    }
    return await next();
  };
}
