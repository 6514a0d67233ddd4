/**
 * The steps between reading a body and running a hook: verify, dedupe, match, in that order. An
 * unauthenticated request learns nothing of the trigger rules; a delivery is remembered whether
 * or not it matched, so a replay of a signed delivery that changed an unsigned header (GitHub's
 * `X-GitHub-Event`) to match is still a duplicate. Built from a `[[hooks]]` entry's keys or a
 * `[plugins.NAME]` table's, so scripts and plugins are guarded alike.
 *
 * @module
 */
import type { AuthKeys, MatchCondition } from "../config/schema.ts";
import type { Logger } from "../output/log.ts";
import type { HookContext, Middleware } from "./chain.ts";
import { dedupeStep, DELIVERY_HEADERS, SCHEME_ID_HEADERS } from "./dedupe_step.ts";
import { matchStep } from "./match_step.ts";
import type { HookRun } from "./script_hook.ts";
import { verifyStep } from "./verify_step.ts";

/** The keys a guard is built from (`[[hooks]]` has them all, `[plugins.NAME]` no `match`). */
export type GuardKeys = Partial<AuthKeys> & {
  match?: readonly MatchCondition[];
  unmatched_status?: number;
};

/** Options of {@linkcode guardSteps}. */
export interface GuardOptions {
  /** Session name. */
  session: string;
  /** Hook or plugin name, as its `hook_run` records give it. */
  hook: string;
  /** Where delivery ids are kept. */
  kv: Deno.Kv;
  /** Told about each request a step answered itself (refused, unmatched, duplicate). */
  onRun?: (run: HookRun) => void;
  /** Clock in Unix ms; default `Date.now`. */
  now?: () => number;
  /** Log. */
  log: Logger;
}

/** The guard steps of `keys` (none when it sets none of them). */
export function guardSteps(keys: GuardKeys, options: GuardOptions): Middleware[] {
  const { hook } = options;
  const run = (status: number, ctx: HookContext, extra: Partial<HookRun>) =>
    options.onRun?.({
      hook,
      status,
      exit_code: null,
      duration_ms: 0,
      ...extra,
      request_id: ctx.requestId,
    });
  const steps: Middleware[] = [];
  if (keys.verify && keys.secrets) {
    steps.push(verifyStep({
      scheme: keys.verify,
      secrets: keys.secrets,
      tolerance: keys.tolerance,
      header: keys.signature_header,
      now: options.now,
      onRefused: (reason, ctx) => run(401, ctx, { reason }),
    }));
  }
  const window = keys.dedupe_window ?? 86400;
  if (window > 0) {
    steps.push(dedupeStep({
      kv: options.kv,
      session: options.session,
      hook,
      window,
      headers: keys.dedupe_header
        ? [keys.dedupe_header.toLowerCase()]
        : keys.verify
        ? SCHEME_ID_HEADERS[keys.verify]
        : DELIVERY_HEADERS,
      now: options.now,
      log: options.log,
      onDuplicate: (status, ctx) => run(status, ctx, { duplicate: true }),
    }));
  }
  if (keys.match?.length) {
    const status = keys.unmatched_status ?? 204;
    steps.push(
      matchStep(keys.match, {
        status,
        onUnmatched: (ctx) => run(status, ctx, { reason: "unmatched" }),
      }),
    );
  }
  return steps;
}
