import assert from "node:assert/strict";
import { cli, config, envFor, Proc, script, tempDir } from "./_helpers.ts";

Deno.test("run --daemon serves a hook and send reaches it", async () => {
  const tmp = await tempDir();
  try {
    await script(tmp.path, "echo.sh", "cat");
    await config(
      tmp.path,
      `[[hooks]]\nname = "echo"\nbind = "127.0.0.1:0"\nscript = "./echo.sh"\n`,
    );
    const env = envFor(tmp.path);
    const d = Proc.start(
      ["run", "--name", "s", "--daemon", "--format", "jsonl", "--hook", "echo"],
      { env },
    );
    const addr = await d.addr("echo");
    const res = await fetch(`http://${addr}/`, { method: "POST", body: "hello" });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "ok");
    const sent = await cli(["send", "--name", "s", "world"], { env });
    assert.equal(sent.code, 0, sent.stderr);
    const injected = await d.waitForCount((r) => r.type === "injected", 2);
    assert.deepEqual(injected.map((r) => r.content), ["hello", "world"]);
    assert.equal(await d.stop(), 0);
  } finally {
    await tmp.cleanup();
  }
});
