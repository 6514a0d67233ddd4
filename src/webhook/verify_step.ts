/**
 * The verify step: a request must carry a valid signature of the hook's scheme, or it is
 * answered 401 and goes no further (nothing runs, nothing is stored). The reason is reported,
 * never the expected signature.
 *
 * @module
 */
import { createVerifier, type Scheme, type VerifyReason } from "../auth/schemes.ts";
import { type HookContext, type Middleware, text } from "./chain.ts";

/** Options of {@linkcode verifyStep}. */
export interface VerifyStepOptions {
  /** The scheme. */
  scheme: Scheme;
  /** Its secrets (several rotate). */
  secrets: readonly string[];
  /** Seconds a signed timestamp may be off (default 300). */
  tolerance?: number;
  /** Header of `hmac-sha256` signatures. */
  header?: string;
  /** Clock in Unix ms; default `Date.now`. */
  now?: () => number;
  /** Told about every refused request. */
  onRefused?: (reason: VerifyReason, ctx: HookContext) => void;
}

/**
 * Builds the verify step. Its keys are imported once, from now on; a secret that cannot be a key
 * (which loading the config refuses first) fails each request with 500.
 */
export function verifyStep(options: VerifyStepOptions): Middleware {
  const verifier = createVerifier(options.scheme, options);
  verifier.catch(() => {}); // Awaited, and so reported, by each request.
  return async (ctx, next) => {
    const outcome = await (await verifier)(ctx.request.headers, ctx.body);
    if (!outcome.ok) {
      options.onRefused?.(outcome.reason, ctx);
      const answer = text(401, `Unauthorized: ${outcome.reason}\n`);
      answer.headers.set("www-authenticate", `Signature scheme="${options.scheme}"`);
      return answer;
    }
    ctx.replayKey = outcome.replayKey;
    ctx.verified = options.scheme;
    if (options.scheme === "gitlab") ctx.secretHeader = "x-gitlab-token";
    return await next();
  };
}
