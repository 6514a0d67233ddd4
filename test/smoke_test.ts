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

Deno.test("the CLI children of the tests never see the repo's hookhost.toml or plugins/, nor the shell's HOOKHOST_* variables", async () => {
  // The repo has both (the README's demo); a test that found them would bind its port 9800.
  assert.ok(await Deno.stat(new URL("../hookhost.toml", import.meta.url)).then(() => true));
  Deno.env.set("HOOKHOST_CONFIG", new URL("../hookhost.toml", import.meta.url).pathname);
  try {
    const res = await cli(["config", "check"]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^No config file found/, res.stdout);
    assert.match(res.stdout, /: ok, 0 plugin\(s\)/, res.stdout);
    assert.ok(!res.stdout.includes(new URL("..", import.meta.url).pathname), res.stdout);
  } finally {
    Deno.env.delete("HOOKHOST_CONFIG");
  }
});
