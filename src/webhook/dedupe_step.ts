/**
 * The dedupe step: a delivery id already accepted within `dedupe_window` answers what the first
 * delivery got and runs nothing. The record of an accepted delivery is committed in the same KV
 * commit as the message or job it stored (see {@linkcode DedupeTicket}), so neither a crash nor
 * a concurrent copy lets one through twice.
 *
 * @module
 */
import { DEDUPE } from "../kv/keys.ts";
import type { Entry } from "../inbox/group_commit.ts";
import type { Logger } from "../output/log.ts";
import type { Scheme } from "../auth/schemes.ts";
import type { DedupeTicket, HookContext, Middleware } from "./chain.ts";

/** Headers that carry a delivery id on a hook without `verify`, the first present one used. */
export const DELIVERY_HEADERS: readonly string[] = [
  "x-github-delivery",
  "webhook-id",
  "x-shopify-webhook-id",
  "idempotency-key",
  "x-gitlab-event-uuid",
];

/**
 * The delivery-id headers of each `verify` scheme: only its provider's own, since any other
 * header of a signed request is the client's to choose. Standard Webhooks signs its id; Stripe
 * and Slack send none (their verified MAC, which covers a timestamp, is the id).
 */
export const SCHEME_ID_HEADERS: Readonly<Record<Scheme, readonly string[]>> = {
  github: ["x-github-delivery"],
  gitlab: ["idempotency-key", "x-gitlab-event-uuid"],
  shopify: ["x-shopify-webhook-id"],
  "standard-webhooks": ["webhook-id"],
  stripe: [],
  slack: [],
  "hmac-sha256": ["idempotency-key"],
};

/** What a delivery was answered, as stored. */
interface Remembered {
  status: number;
  body: string;
  /** Unix ms after which it no longer counts (KV's own expiry is not exact). */
  until: number;
}

/** Answers up to this long are replayed with their body; longer ones with the status alone. */
const MAX_REPLAY_BODY = 4096;

/** Options of {@linkcode dedupeStep}. */
export interface DedupeStepOptions {
  /** Where records are kept. */
  kv: Deno.Kv;
  /** Session name (records are per session and hook). */
  session: string;
  /** Hook (or plugin route) name. */
  hook: string;
  /** Seconds a delivery is remembered. */
  window: number;
  /**
   * The headers to take the id from, the first present one used (lower case); default
   * {@linkcode DELIVERY_HEADERS}. Ids are recorded with their header's name, so an id sent in
   * one header never answers for another's.
   */
  headers?: readonly string[];
  /** Clock in Unix ms; default `Date.now`. */
  now?: () => number;
  /** Told about every duplicate, with the status it was answered. */
  onDuplicate?: (status: number, ctx: HookContext) => void;
  /** Where a failed write of a record is logged. */
  log: Logger;
}

const encoder = new TextEncoder();

/** `id` as a key part: short ones as they are, long ones by their SHA-256 (KV keys are small). */
async function keyPart(id: string): Promise<string> {
  if (id.length <= 128) return id;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(id)));
  return "sha256:" + Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Builds the dedupe step. */
export function dedupeStep(options: DedupeStepOptions): Middleware {
  const now = options.now ?? Date.now;
  const windowMs = options.window * 1000;
  const headers = options.headers ?? DELIVERY_HEADERS;
  /** Deliveries being handled now, by key: a copy waits for the first's outcome. */
  const inFlight = new Map<string, Promise<void>>();
  return async (ctx, next) => {
    const ids: string[] = [];
    for (const h of headers) {
      const v = ctx.request.headers.get(h);
      if (v) {
        ids.push(`id:${h}:${await keyPart(v)}`);
        break;
      }
    }
    if (ctx.replayKey) ids.push(`mac:${ctx.replayKey}`);
    if (ids.length === 0 || windowMs === 0) return await next();
    const keys: Deno.KvKey[] = ids.map((id) => [DEDUPE, options.session, options.hook, id]);
    const names = keys.map((k) => JSON.stringify(k));
    for (let wait = names.map((n) => inFlight.get(n)).find(Boolean); wait;) {
      await wait;
      wait = names.map((n) => inFlight.get(n)).find(Boolean);
    }
    // Claimed before the read, with no await in between: a copy arriving meanwhile waits.
    let done = () => {};
    const flight = new Promise<void>((resolve) => done = resolve);
    for (const n of names) inFlight.set(n, flight);
    const release = () => {
      for (const n of names) inFlight.delete(n);
      done();
    };
    let seen: Remembered | null | undefined;
    try {
      seen = (await options.kv.getMany<Remembered[]>(keys))
        .map((e) => e.value)
        .find((v) => v !== null && v.until > now());
    } catch (e) {
      release();
      throw e;
    }
    if (seen) {
      release();
      options.onDuplicate?.(seen.status, ctx);
      const body = [204, 205, 304].includes(seen.status) ? null : seen.body;
      return new Response(body, {
        status: seen.status,
        headers: { "x-hookhost-duplicate": "true", "content-type": "text/plain; charset=utf-8" },
      });
    }
    const ticket: DedupeTicket = {
      committed: false,
      entries: (answer): Entry[] =>
        keys.map((key) => ({
          key,
          value: {
            status: answer.status,
            body: answer.body.length <= MAX_REPLAY_BODY ? answer.body : "",
            until: now() + windowMs,
          } satisfies Remembered,
          size: 300 + Math.min(answer.body.length, MAX_REPLAY_BODY) * 2,
          expireIn: windowMs,
        })),
    };
    ctx.dedupe = ticket;
    try {
      const response = await next();
      const ok = response.status >= 200 && response.status < 300;
      if (!ticket.committed && (ok || ticket.settled)) {
        // Nothing was stored with it (no output, unmatched, or a plugin's own answer):
        // remember it alone.
        const body = response.body ? await response.clone().text() : "";
        const op = options.kv.atomic();
        for (const e of ticket.entries({ status: response.status, body })) {
          op.set(e.key, e.value, { expireIn: e.expireIn });
        }
        await op.commit().catch((e) =>
          options.log.error("hook '{hook}': could not record delivery: {reason}", {
            hook: options.hook,
            reason: (e as Error).message,
          })
        );
      }
      return response;
    } finally {
      release();
    }
  };
}
