/**
 * Attacks on a real daemon (`hookhost run` on 127.0.0.1), each bounded in count and time, with
 * what a user would check afterwards: the status, that nothing ran or was lost, and the memory
 * and descriptors the daemon holds, read from `/proc` (docs/security.md, "Security model").
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { config, envFor, Proc, script, tempDir } from "./_helpers.ts";
import { MIB, postChunked, rss } from "./_raw.ts";

/** A temp folder with `hook.sh` (prints its body) and `toml`, and a daemon of it. */
async function withDaemon(
  toml: string,
  body: (ctx: { dir: string; d: Proc; port: (hook: string) => Promise<number> }) => Promise<void>,
): Promise<void> {
  const tmp = await tempDir();
  try {
    await script(tmp.path, "hook.sh", 'echo run >> "' + join(tmp.path, "runs.log") + '"; cat');
    await config(tmp.path, toml);
    const d = Proc.start([
      "run",
      "--name",
      "hostile",
      "--daemon",
      "--format",
      "jsonl",
      "--hook",
      "h",
    ], {
      env: envFor(tmp.path),
    });
    try {
      const port = async (hook: string) => Number((await d.addr(hook)).split(":").pop());
      await body({ dir: tmp.path, d, port });
    } finally {
      assert.equal(await d.stop(), 0, d.stderr);
    }
  } finally {
    await tmp.cleanup();
  }
}

const HOOK = '[[hooks]]\nname = "h"\nbind = "127.0.0.1:0"\nscript = "./hook.sh"\n';

Deno.test("a chunked body in 3-byte chunks costs memory by the bytes received", async () => {
  await withDaemon(HOOK, async ({ d, port }) => {
    const p = await port("h");
    // One ordinary request first, so what it costs once (code, buffers) is not counted.
    assert.equal((await postChunked(p, new TextEncoder().encode("warm"))).status, 200);
    await d.waitFor((r) => r.type === "injected");
    const before = rss(d.child.pid);
    const body = new TextEncoder().encode("x".repeat(100_000));
    const answer = await postChunked(p, body, { size: 3 });
    assert.equal(answer.status, 200, answer.text);
    const message = await d.waitFor((r) => r.type === "injected" && r.content !== "warm");
    assert.equal(message.content.length, 100_000);
    // Each 3-byte chunk used to keep a 64 KiB buffer alive: 100 kB cost 1.6 GB.
    const grew = rss(d.child.pid) - before;
    assert.ok(grew < 64 * MIB, `RSS grew by ${Math.round(grew / MIB)} MiB`);
  });
});
