/**
 * Example plugin: posts every failed message (a `run_status_changed` event with runStatus
 * `failed`, i.e. a message moved to the dead letters) as JSON to the URL in
 * `FAILURE_WEBHOOK_URL`. It may read only that variable; narrow its network access to the
 * endpoint's host in hookhost.toml:
 *
 *     [plugins.notify-failures]
 *     permissions = { env = ["FAILURE_WEBHOOK_URL"], net = ["chat.example.com"] }
 */
import type { Plugin } from "../src/plugins/types.ts";

export default {
  name: "notify-failures",
  permissions: { env: ["FAILURE_WEBHOOK_URL"], net: true },
  on: {
    async run_status_changed(event, ctx) {
      if (event.params.runStatus !== "failed") return;
      const url = Deno.env.get("FAILURE_WEBHOOK_URL");
      if (!url) return ctx.log.warn("FAILURE_WEBHOOK_URL is not set; not posting the failure");
      const text =
        `hookhost: message ${event.params.messageId} of ${event.params.commandKey} failed`;
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ text, event }),
      });
      await res.body?.cancel();
      if (!res.ok) throw new Error(`${url} answered ${res.status}`);
    },
  },
} satisfies Plugin;
