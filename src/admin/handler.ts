/**
 * The admin listener's requests: `/healthz` (the process is up), `/readyz` (listeners bound, KV
 * writable, plugins loaded), `/metrics` (Prometheus text), the status page `/` with its data
 * `/api/status`, and `POST /api/replay`. With a token every path but `/healthz` needs it, as
 * `Authorization: Bearer TOKEN` or the cookie `/login?token=TOKEN` sets; without one (a loopback
 * bind) a request must name a loopback host, so a web page cannot reach it through DNS
 * rebinding. Replays also need `X-Hookhost-Admin: 1`, which a cross-site form cannot send.
 *
 * @module
 */
import type { AdminMetrics } from "./metrics.ts";
import { STATUS_SCRIPT, statusPage } from "./page.ts";
import type { AdminSource } from "./snapshot.ts";

/** Options of {@linkcode adminHandler}. */
export interface AdminHandlerOptions {
  /** What to report on. */
  source: AdminSource;
  /** The metrics (fed by the daemon's records). */
  metrics: AdminMetrics;
  /** The token requests must bring; none on a loopback bind without `token_env`. */
  token?: string;
}

const COOKIE = "hookhost_admin";
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

/** SHA-256 of `s`: tokens are compared as digests, of equal length, in constant time. */
async function digest(s: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.min(a.length, b.length); i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function text(body: string, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
}

/** The token a request brings, from `Authorization: Bearer` or the cookie. */
function presented(req: Request): string | undefined {
  const auth = req.headers.get("authorization");
  if (auth?.toLowerCase().startsWith("bearer ")) return auth.slice(7).trim();
  for (const part of (req.headers.get("cookie") ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === COOKIE) return decodeURIComponent(v.join("="));
  }
  return undefined;
}

/** The admin listener's `(Request) => Promise<Response>`. */
export function adminHandler(options: AdminHandlerOptions): (req: Request) => Promise<Response> {
  const { source, metrics } = options;
  const wanted = options.token === undefined ? undefined : digest(options.token);
  const allowed = async (req: Request, url: URL): Promise<boolean> => {
    if (want) {
      const got = presented(req);
      return got !== undefined && same(await digest(got), want);
    }
    return LOOPBACK_HOSTS.has(url.hostname);
  };
  let want: Uint8Array | undefined;
  return async (req) => {
    want ??= await wanted;
    const url = new URL(req.url);
    const path = url.pathname;
    if (path === "/healthz") return text("ok\n");
    if (path === "/login" && want) {
      const token = url.searchParams.get("token") ?? "";
      if (!same(await digest(token), want)) return text("Unauthorized\n", 401);
      return new Response(null, {
        status: 303,
        headers: {
          location: "/",
          "set-cookie": `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
        },
      });
    }
    if (!(await allowed(req, url))) {
      return want
        ? text("Unauthorized: bring the admin token\n", 401, { "www-authenticate": "Bearer" })
        : text("Forbidden: use a loopback host name\n", 403);
    }
    switch (path) {
      case "/readyz": {
        const { not_ready } = await source.snapshot();
        return not_ready.length
          ? text(`not ready: ${not_ready.join("; ")}\n`, 503)
          : text("ready\n");
      }
      case "/metrics":
        return new Response(metrics.render(await source.snapshot()), {
          headers: { "content-type": metrics.contentType },
        });
      case "/":
        return new Response(statusPage(), {
          headers: {
            "content-type": "text/html; charset=utf-8",
            "content-security-policy":
              "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
          },
        });
      case "/status.js":
        return new Response(STATUS_SCRIPT, {
          headers: { "content-type": "text/javascript; charset=utf-8" },
        });
      case "/api/status":
        return json({ ...(await source.snapshot()), runs: metrics.recent });
      case "/api/replay": {
        if (req.method !== "POST") return text("Method not allowed\n", 405, { allow: "POST" });
        if (req.headers.get("x-hookhost-admin") !== "1") {
          return text("Replays need the header X-Hookhost-Admin: 1\n", 403);
        }
        let body: { kind?: unknown; ids?: unknown };
        try {
          body = await req.json();
        } catch {
          return text('Body must be JSON: {"kind": "inbox" | "job", "ids": [...]}\n', 400);
        }
        const kind = body.kind;
        const ids = body.ids;
        if (
          (kind !== "inbox" && kind !== "job") ||
          !Array.isArray(ids) || !ids.every((i) => typeof i === "string")
        ) {
          return text('Body must be JSON: {"kind": "inbox" | "job", "ids": [...]}\n', 400);
        }
        try {
          return json({ replayed: await source.replay(kind, ids as string[]) });
        } catch (e) {
          return json({ error: (e as Error).message }, 404);
        }
      }
      default:
        return text("Not found\n", 404);
    }
  };
}
