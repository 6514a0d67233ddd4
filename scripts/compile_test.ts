import assert from "node:assert/strict";
import { HOST_TARGET, outputFor, TARGETS } from "./compile.ts";
import { ROOT } from "./flags.ts";

/** Runs `deno task compile ARGS…` with `env`, as a user does. */
async function compile(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${ROOT}/scripts/compile.ts`, ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("offline, deno task compile fails at once with one line about denort and DENORT_BIN", async () => {
  // A proxy that refuses every connection: offline, whatever network this machine has. An empty
  // DENO_DIR, so no runtime is found in the cache either.
  const cache = await Deno.makeTempDir({ prefix: "hhdeno" });
  try {
    for (const args of [[], ["--target", "aarch64-apple-darwin"]]) {
      const res = await compile(args, {
        HTTPS_PROXY: "http://127.0.0.1:1",
        https_proxy: "http://127.0.0.1:1",
        DENO_DIR: cache,
      });
      assert.equal(res.code, 1, res.stderr);
      const lines = res.stderr.split("\n").filter(Boolean);
      assert.equal(lines.length, 1, res.stderr);
      const target = args[1] ?? HOST_TARGET;
      assert.match(
        lines[0],
        new RegExp(`^compile: deno compile needs Deno's runtime 'denort' for '${target}'`),
      );
      assert.match(lines[0], /DENORT_BIN/);
      assert.doesNotMatch(res.stderr, /backtrace/i);
    }
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("deno task compile refuses an unknown target or argument with one line and exit 2", async () => {
  const bad = await compile(["--target", "sparc-sun-solaris"]);
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /^compile: unknown target 'sparc-sun-solaris'; one of: x86_64-unknown-linux-gnu,/,
  );
  assert.equal(bad.stderr.split("\n").filter(Boolean).length, 1);
  const odd = await compile(["--fast"]);
  assert.equal(odd.code, 2);
  assert.equal(odd.stderr, "compile: unknown argument '--fast'; use --target T or --all\n");
});

Deno.test("each release target has its own output name and a job in the release workflow", async () => {
  assert.equal(outputFor(HOST_TARGET, false), `${ROOT}/dist/hookhost`);
  assert.equal(
    outputFor("x86_64-pc-windows-msvc", true),
    `${ROOT}/dist/hookhost-x86_64-pc-windows-msvc.exe`,
  );
  assert.equal(
    outputFor("aarch64-apple-darwin", true),
    `${ROOT}/dist/hookhost-aarch64-apple-darwin`,
  );
  const workflow = await Deno.readTextFile(`${ROOT}/.github/workflows/release.yml`);
  const listed = [...workflow.matchAll(/- target: (\S+)/g)].map((m) => m[1]);
  assert.deepEqual(listed.sort(), [...TARGETS].sort());
  assert.match(workflow, /deno task compile --target \$\{\{ matrix\.target \}\}/);
  assert.match(workflow, /deno-version: v2\.9\.6/);
});
