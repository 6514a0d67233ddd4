import assert from "node:assert/strict";
import { posix } from "node:path";
import { basename, dirname, extname, isAbsolute, join, normalize, resolve } from "./path.ts";

const PATHS = [
  "",
  ".",
  "..",
  "/",
  "//",
  "///a",
  "a",
  "a/",
  "a//b",
  "/a/b/",
  "./a/./b",
  "a/../b",
  "a/../../b",
  "../a/..",
  "/../a",
  "/a/b/../../..",
  "a/b/c/..",
  ".hidden",
  "/tmp/hh x/state/",
  "//a/b",
  "...",
  "..a",
  ".a.b",
  "a.",
  "a..",
  "a.b.c",
  "x.ts",
  "a/b.c/",
  "a//",
];

Deno.test("basename and extname agree with node:path's posix ones", () => {
  for (const p of PATHS) {
    assert.equal(extname(p), posix.extname(p), `extname(${JSON.stringify(p)})`);
    assert.equal(basename(p), posix.basename(p), `basename(${JSON.stringify(p)})`);
  }
  // A suffix only as hookhost strips one: the extension of a folder entry's name.
  for (const name of PATHS.filter((p) => !p.includes("/"))) {
    const ext = extname(name);
    assert.equal(basename(name, ext), posix.basename(name, ext), `basename(${name}, ${ext})`);
  }
});

Deno.test("normalize, isAbsolute and dirname agree with node:path's posix ones", () => {
  for (const p of PATHS) {
    assert.equal(normalize(p), posix.normalize(p), `normalize(${JSON.stringify(p)})`);
    assert.equal(isAbsolute(p), posix.isAbsolute(p), `isAbsolute(${JSON.stringify(p)})`);
    assert.equal(dirname(p), posix.dirname(p), `dirname(${JSON.stringify(p)})`);
  }
});

Deno.test("join and resolve agree with node:path's posix ones", () => {
  for (const a of PATHS) {
    for (const b of ["", "b", "/b", "../b", "b/", "./"]) {
      assert.equal(
        join(a, b),
        posix.join(a, b),
        `join(${JSON.stringify(a)}, ${JSON.stringify(b)})`,
      );
      assert.equal(
        resolve(a, b),
        posix.resolve(a, b),
        `resolve(${JSON.stringify(a)}, ${JSON.stringify(b)})`,
      );
    }
  }
  assert.equal(join(), posix.join());
  assert.equal(resolve(), posix.resolve());
  assert.equal(join("a", "b", "c", "..", "d"), posix.join("a", "b", "c", "..", "d"));
  assert.equal(resolve("/x", "y", "/z", "w"), posix.resolve("/x", "y", "/z", "w"));
});
