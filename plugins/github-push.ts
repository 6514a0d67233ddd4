/**
 * Example plugin: GitHub push webhooks, summarized in one line each; other GitHub events are
 * acknowledged with 204. The signature is checked by hookhost before this runs:
 *
 * ```toml
 * [plugins.github-push]
 * verify = "github"
 * secret_env = "GITHUB_WEBHOOK_SECRET"
 * ```
 *
 * Without that table it refuses every request (the host tells it what it verified in
 * `X-Hookhost-Verified`, which no client can set). Point GitHub at
 * `http://HOST:9800/hooks/github-push`.
 */
import type { Plugin } from "../src/plugins/types.ts";

export default {
  name: "github-push",
  async webhook(request, ctx) {
    if (request.headers.get("x-hookhost-verified") !== "github") {
      ctx.log.error(
        'Refusing an unverified request: set verify = "github" in [plugins.github-push]',
      );
      return new Response("Webhook signature is not checked\n", { status: 401 });
    }
    if (request.headers.get("x-github-event") !== "push") return;
    const push = await request.json();
    const branch = String(push.ref ?? "").replace(/^refs\/heads\//, "");
    const commits = Array.isArray(push.commits) ? push.commits.length : 0;
    return `New push to ${push.repository?.full_name} (${branch}) by ${push.pusher?.name}: ${commits} commit(s).`;
  },
} satisfies Plugin;
