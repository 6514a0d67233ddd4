/**
 * The shipped persistent workers (examples/workers/, scripts/hooks/process-github-push.py), each
 * served by hookhost as a `persistent = true` hook: real Python, Node.js and jq processes.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { join } from "node:path";
import { config, request, tempDir } from "./_helpers.ts";
import { InSession } from "./_session.ts";

const ROOT = new URL("..", import.meta.url).pathname;

async function serve(
  scriptPath: string,
  toml: string,
  body: (
    post: (b: string, h?: HeadersInit) => ReturnType<typeof request>,
    d: InSession,
  ) => Promise<void>,
): Promise<void> {
  const tmp = await tempDir();
  let d: InSession | undefined;
  try {
    await config(
      tmp.path,
      `[[hooks]]\nname = "w"\nbind = "127.0.0.1:0"\nscript = "${scriptPath}"\n` +
        `persistent = true\n${toml}\n`,
    );
    d = await InSession.open({ dir: tmp.path, name: "ex", hooks: ["w"] });
    const url = `http://${await d.addr("w")}/`;
    await body((b, headers) => request(url, { method: "POST", body: b, headers }), d);
  } finally {
    await d?.stop();
    await tmp.cleanup();
  }
}

for (const file of ["summary.py", "summary.mjs", "summary.sh"]) {
  Deno.test(`examples/workers/${file}: a JSON body becomes a one-line message; one that is not JSON is answered 500`, async () => {
    await serve(join(ROOT, "examples/workers", file), "", async (post, d) => {
      const event = { type: "order", user: "ann", items: [1, 2, 3] };
      const ok = await post(JSON.stringify(event));
      assert.equal(ok.status, 200, ok.text);
      const m = await d.waitFor((r) => r.type === "injected");
      assert.equal(m.content, "order from ann: 3 item(s)");
      assert.equal((await post("not json")).status, 500);
      // The same process goes on.
      assert.equal((await post(JSON.stringify({ type: "t", user: "u" }))).status, 200);
      await d.waitFor((r) => r.type === "injected" && r.content === "t from u: 0 item(s)");
    });
  });
}

Deno.test("scripts/hooks/process-github-push.py: a signed push becomes its summary, another event 204, a forged one never reaches it", async () => {
  const secret = "It's a Secret to Everybody";
  const tmpSecret = await Deno.makeTempFile();
  await Deno.writeTextFile(tmpSecret, secret);
  try {
    await serve(
      join(ROOT, "scripts/hooks/process-github-push.py"),
      `verify = "github"\nsecret_file = "${tmpSecret}"`,
      async (post, d) => {
        const push = JSON.stringify({
          ref: "refs/heads/main",
          repository: { full_name: "o/r" },
          pusher: { name: "ann" },
          commits: [{}, {}],
        });
        const sig = (b: string, s = secret) =>
          `sha256=${createHmac("sha256", s).update(b).digest("hex")}`;
        const signed = (event: string, b = push, s = secret) => ({
          "X-GitHub-Event": event,
          "X-GitHub-Delivery": crypto.randomUUID(),
          "X-Hub-Signature-256": sig(b, s),
        });
        assert.equal((await post(push, signed("push"))).status, 200);
        const m = await d.waitFor((r) => r.type === "injected");
        assert.equal(m.content, "New push to o/r (main) by ann: 2 commit(s).");
        assert.equal((await post("{}", signed("ping", "{}"))).status, 204);
        assert.equal((await post(push, signed("push", push, "forged"))).status, 401);
        assert.equal(d.records.filter((r) => r.type === "injected").length, 1);
      },
    );
  } finally {
    await Deno.remove(tmpSecret);
  }
});
