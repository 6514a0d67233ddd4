/**
 * Example plugin: GitHub push webhooks. Verifies `X-Hub-Signature-256` with the secret in
 * `GITHUB_WEBHOOK_SECRET` and injects a one-line summary of each push; other GitHub events are
 * acknowledged with 204. Point GitHub at `http://HOST:9800/hooks/github-push`.
 */
import type { Plugin } from "../src/plugins/types.ts";

const encoder = new TextEncoder();

async function signature(secret: string, body: Uint8Array<ArrayBuffer>): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, body));
  return "sha256=" + Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

function sameText(a: string, b: string): boolean {
  // Compare in constant time so the signature cannot be guessed byte by byte.
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

export default {
  name: "github-push",
  permissions: { env: ["GITHUB_WEBHOOK_SECRET"] },
  async webhook(request, ctx) {
    const secret = Deno.env.get("GITHUB_WEBHOOK_SECRET");
    if (!secret) {
      ctx.log.error("GITHUB_WEBHOOK_SECRET is not set; refusing unverifiable webhooks");
      return new Response("Webhook secret not configured\n", { status: 500 });
    }
    const body = new Uint8Array(await request.arrayBuffer());
    const given = request.headers.get("x-hub-signature-256") ?? "";
    if (!sameText(given, await signature(secret, body))) {
      return new Response("Bad signature\n", { status: 401 });
    }
    if (request.headers.get("x-github-event") !== "push") return;
    const push = JSON.parse(new TextDecoder().decode(body));
    const branch = String(push.ref ?? "").replace(/^refs\/heads\//, "");
    const commits = Array.isArray(push.commits) ? push.commits.length : 0;
    return `New push to ${push.repository?.full_name} (${branch}) by ${push.pusher?.name}: ${commits} commit(s).`;
  },
} satisfies Plugin;
