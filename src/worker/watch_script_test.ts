import assert from "node:assert/strict";
import { join } from "node:path";
import { watchScript } from "./watch_script.ts";

Deno.test("watchScript: a rename over the file is a change; a file missing for a while is not, until it is back", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "w.sh");
  await Deno.writeTextFile(path, "one");
  let changes = 0;
  let changed = Promise.withResolvers<void>();
  const stop = watchScript(path, () => {
    changes++;
    changed.resolve();
  }, { everyMs: 10 });
  // The watch keeps no process alive: this test's wait must.
  const alive = setInterval(() => {}, 5);
  try {
    await Deno.writeTextFile(join(dir, "new"), "two, longer");
    await Deno.rename(join(dir, "new"), path);
    await changed.promise;
    assert.equal(changes, 1);
    changed = Promise.withResolvers<void>();
    await Deno.remove(path);
    // Missing: no change reported however long it stays so; back: one.
    await Deno.writeTextFile(path, "three, longer still");
    await changed.promise;
    assert.equal(changes, 2);
  } finally {
    clearInterval(alive);
    stop();
    await Deno.remove(dir, { recursive: true });
  }
});
