/**
 * The `HOOK_*` environment a webhook script sees (docs/webhook-scripts.md).
 *
 * @module
 */

/** `X-Hub-Signature-256` → `X_HUB_SIGNATURE_256`: upper-cased, all but `A-Z0-9` become `_`. */
export function headerEnvName(header: string): string {
  return "HOOK_HEADER_" + header.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}

/**
 * The header a plugin's request carries with the scheme the host verified. A client's own is
 * dropped before any script or plugin sees the request: `HOOK_VERIFIED` and this header are
 * hookhost's to set.
 */
export const VERIFIED_HEADER = "x-hookhost-verified";

/** What a hook's script is told about a request: a `Request` has it, and so does a stored job. */
export interface HookRequest {
  /** HTTP method. */
  method: string;
  /** The full URL. */
  url: string;
  /** The headers. */
  headers: Iterable<[string, string]> & { get(name: string): string | null };
  /** The raw body (stdin). */
  body: Uint8Array;
  /** The `verify` scheme its signature passed, if any (`HOOK_VERIFIED`). */
  verified?: string;
  /** The request's id (`HOOK_REQUEST_ID`; docs/webhook-scripts.md). */
  requestId?: string;
}

/**
 * The variables describing `request` to hook `hook` of session `session`. Repeated headers are
 * joined with `, ` (as `Headers` does).
 */
export function hookEnv(
  request: Pick<HookRequest, "method" | "url" | "headers" | "verified" | "requestId">,
  options: { hook: string; session: string },
): Record<string, string> {
  const url = new URL(request.url);
  const env: Record<string, string> = {
    HOOK_NAME: options.hook,
    HOOK_METHOD: request.method,
    HOOK_PATH: url.pathname,
    HOOK_QUERY: url.search.replace(/^\?/, ""),
    HOOK_CONTENT_TYPE: request.headers.get("content-type") ?? "",
    HOOK_SESSION: options.session,
    HOOK_VERIFIED: request.verified ?? "",
    HOOK_REQUEST_ID: request.requestId ?? "",
  };
  for (const [name, value] of request.headers) {
    if (name === VERIFIED_HEADER) continue;
    const key = headerEnvName(name);
    // Two header names can fold to one variable (`x-a` and `x_a`): keep both values.
    env[key] = key in env ? `${env[key]}, ${value}` : value;
  }
  return env;
}
