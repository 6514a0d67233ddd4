import assert from "node:assert/strict";
import { join } from "node:path";
import { discover, type Found } from "./discover.ts";

/** A fresh temp folder, removed afterwards. */
async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hh-discover" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function write(path: string, text: string, mode = 0o644): Promise<void> {
  await Deno.writeTextFile(path, text);
  await Deno.chmod(path, mode);
}

/** The parts of `found` that do not depend on the file system's clock. */
function shape(found: Found[]) {
  return found.map(({ fileName, path, kind, module }) => ({ fileName, path, kind, module }));
}

Deno.test("discover() finds module plugins and executable script plugins, sorted by path", async () => {
  await withDir(async (dir) => {
    await write(join(dir, "alpha.ts"), "export default {};");
    await write(join(dir, "beta.js"), "export default {};");
    await write(join(dir, "gamma.mts"), "export default {};");
    await write(join(dir, "delta.mjs"), "export default {};");
    await write(join(dir, "echo.sh"), "#!/bin/sh\ncat\n", 0o755);
    await write(join(dir, "tool"), "#!/bin/sh\ncat\n", 0o700);
    await write(join(dir, "hook.py"), "#!/usr/bin/env python3\n", 0o755);
    // An executable .ts file is still a module plugin.
    await write(join(dir, "exec.ts"), "export default {};", 0o755);

    assert.deepEqual(shape(await discover(dir)), [
      {
        fileName: "alpha",
        path: join(dir, "alpha.ts"),
        kind: "module",
        module: join(dir, "alpha.ts"),
      },
      {
        fileName: "beta",
        path: join(dir, "beta.js"),
        kind: "module",
        module: join(dir, "beta.js"),
      },
      {
        fileName: "delta",
        path: join(dir, "delta.mjs"),
        kind: "module",
        module: join(dir, "delta.mjs"),
      },
      { fileName: "echo", path: join(dir, "echo.sh"), kind: "script", module: undefined },
      {
        fileName: "exec",
        path: join(dir, "exec.ts"),
        kind: "module",
        module: join(dir, "exec.ts"),
      },
      {
        fileName: "gamma",
        path: join(dir, "gamma.mts"),
        kind: "module",
        module: join(dir, "gamma.mts"),
      },
      { fileName: "hook", path: join(dir, "hook.py"), kind: "script", module: undefined },
      { fileName: "tool", path: join(dir, "tool"), kind: "script", module: undefined },
    ]);
  });
});

Deno.test("discover() ignores files that are neither modules nor executable", async () => {
  await withDir(async (dir) => {
    await write(join(dir, "README.md"), "# notes");
    await write(join(dir, "data.json"), "{}");
    await write(join(dir, "script.sh"), "#!/bin/sh\necho not executable\n", 0o644);
    await write(join(dir, "real.sh"), "#!/bin/sh\ncat\n", 0o755);
    assert.deepEqual(shape(await discover(dir)).map((f) => f.fileName), ["real"]);
  });
});

Deno.test("discover() skips hidden files, editor backups, swap and temp files, and .d.ts", async () => {
  await withDir(async (dir) => {
    for (
      const name of [
        ".hidden.ts",
        ".x.tmp",
        "plugin.ts~",
        ".plugin.ts.swp",
        "plugin.ts.swx",
        "plugin.ts.tmp",
        "plugin.ts.bak",
        "plugin.ts.orig",
        "#plugin.ts#",
        "types.d.ts",
      ]
    ) {
      await write(join(dir, name), "export default {};", 0o755);
    }
    await Deno.mkdir(join(dir, ".hidden-folder"));
    await write(join(dir, ".hidden-folder", "mod.ts"), "export default {};");
    await write(join(dir, "kept.ts"), "export default {};");
    assert.deepEqual(shape(await discover(dir)).map((f) => f.path), [join(dir, "kept.ts")]);
  });
});

Deno.test("discover() takes a folder with mod.ts (or mod.js) as one module plugin named after the folder", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(join(dir, "folded"));
    await write(join(dir, "folded", "mod.ts"), "import h from './helper.ts'; export default h;");
    await write(join(dir, "folded", "helper.ts"), "export default {};");
    await Deno.mkdir(join(dir, "jsfold"));
    await write(join(dir, "jsfold", "mod.js"), "export default {};");
    // A folder without mod.ts is nothing, even with other modules or executables in it.
    await Deno.mkdir(join(dir, "lib"));
    await write(join(dir, "lib", "util.ts"), "export const x = 1;");
    await write(join(dir, "lib", "run.sh"), "#!/bin/sh\n", 0o755);

    assert.deepEqual(shape(await discover(dir)), [
      {
        fileName: "folded",
        path: join(dir, "folded"),
        kind: "module",
        module: join(dir, "folded", "mod.ts"),
      },
      {
        fileName: "jsfold",
        path: join(dir, "jsfold"),
        kind: "module",
        module: join(dir, "jsfold", "mod.js"),
      },
    ]);
  });
});

Deno.test("discover() finds nothing in a missing or empty folder", async () => {
  await withDir(async (dir) => {
    assert.deepEqual(await discover(dir), []);
    assert.deepEqual(await discover(join(dir, "does-not-exist")), []);
  });
});

Deno.test("discover() keeps a stamp while nothing changes and changes it on every edit", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "p.ts");
    const sh = join(dir, "s.sh");
    await Deno.mkdir(join(dir, "fold"));
    const helper = join(dir, "fold", "helper.ts");
    await write(file, "export default { name: 'one' };");
    await write(sh, "#!/bin/sh\necho one\n", 0o755);
    await write(join(dir, "fold", "mod.ts"), "export { default } from './helper.ts';");
    await write(helper, "export default {};");
    const stamps = async () =>
      Object.fromEntries((await discover(dir)).map((f) => [f.fileName, f.stamp]));

    const first = await stamps();
    assert.deepEqual(await stamps(), first, "stamps changed without an edit");

    // In-place edits (different sizes, so not relying on the clock).
    await Deno.writeTextFile(file, "export default { name: 'one, edited' };");
    await Deno.writeTextFile(sh, "#!/bin/sh\necho one edited\n");
    const second = await stamps();
    assert.notEqual(second.p, first.p, "module file edit");
    assert.notEqual(second.s, first.s, "script edit");
    assert.equal(second.fold, first.fold, "an untouched folder plugin");

    // A file inside a folder plugin.
    await Deno.writeTextFile(helper, "export default { changed: true };");
    const third = await stamps();
    assert.notEqual(third.fold, second.fold, "edit inside a folder plugin");
    assert.equal(third.p, second.p);

    // An atomic save: same size, written to a temp file and renamed over (a new inode).
    const tmp = join(dir, ".p.ts.tmp");
    await Deno.writeTextFile(tmp, "export default { name: 'one, EDITED' };");
    await Deno.rename(tmp, file);
    const fourth = await stamps();
    assert.notEqual(fourth.p, third.p, "atomic save");

    // A new file in a folder plugin.
    await write(join(dir, "fold", "extra.ts"), "export {};");
    assert.notEqual((await stamps()).fold, fourth.fold, "file added to a folder plugin");
  });
});
