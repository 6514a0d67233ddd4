/**
 * `deno task bundle`: builds `dist/hookhost.js`, hookhost in one minified module, which `deno
 * task compile` turns into the binary and the benchmarks run.
 *
 * One module instead of ~190 (hookhost's own and its five libraries') is what a user's binary
 * should carry: each module costs the process its source, its record and its compiled code, and
 * bundling drops what is never imported (all but one of zod's 64 locales). The idle daemon's
 * resident memory falls from ~67 to ~54 MB. The plugin Worker's entry module is not bundled: the
 * binary includes it, and `src/assets.ts` finds it from either layout.
 *
 * @module
 */
import { ROOT, runtimeFlags } from "./flags.ts";

/** Where the bundle is written: one folder below the root, like `src/` (see `src/assets.ts`). */
export const BUNDLE: string = `${ROOT}/dist/hookhost.js`;

/**
 * Flags for `deno run` or `deno compile` of the bundle, after the runtime flags: it resolves no
 * bare specifier, so it needs no `deno.json`, and a compiled binary reads none.
 */
export const BUNDLE_FLAGS: string[] = ["--no-config"];

/**
 * `deno` arguments before hookhost's own: `main.ts` as `deno task hookhost` runs it, or the bundle
 * as the binary runs it (build it first with {@linkcode bundle}). Tests and the bench use these.
 */
export function denoRunArgs(entry: "source" | "bundle"): string[] {
  return entry === "bundle"
    ? ["run", ...runtimeFlags(), ...BUNDLE_FLAGS, BUNDLE]
    : ["run", ...runtimeFlags(), `${ROOT}/main.ts`];
}

/** Runs `deno bundle` into {@linkcode BUNDLE}; throws with its output when it fails. */
export async function bundle(options: { signal?: AbortSignal } = {}): Promise<string> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      // Not --keep-names: hookhost never shows a class name to users.
      "--minify",
      "--output",
      BUNDLE,
      `${ROOT}/main.ts`,
    ],
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
    signal: options.signal,
  }).output();
  if (code !== 0) {
    const text = new TextDecoder().decode(stderr).trim();
    throw new Error(`deno bundle failed (exit ${code}): ${text}`);
  }
  await Deno.writeTextFile(BUNDLE, withDenoUtil(await Deno.readTextFile(BUNDLE)));
  return BUNDLE;
}

/** LogTape's `#util` import as its Deno build (`dist/util.deno.js`) defines it. */
const DENO_UTIL =
  "{inspect:(o,p)=>Deno.inspect(o,{colors:p?.colors,depth:p?.depth??void 0,compact:p?.compact??!0})}";

/**
 * Replaces the bundle's one `import X from "node:util"` (LogTape's) with LogTape's own Deno
 * version of it. LogTape's package resolves its `#util` by the first matching condition, and
 * lists `node` before `deno`, so Deno gets the Node build, whose `node:util` import a bundle
 * hoists to its top: every command, `send` included, would then pay ~9 ms of Node compatibility
 * set-up before it starts. Throws if the bundle no longer has exactly that one import.
 */
export function withDenoUtil(code: string): string {
  const pattern = /import ?([\w$]+) ?from ?"node:util";/g;
  const found = code.match(pattern) ?? [];
  if (found.length !== 1) {
    throw new Error(
      `expected one node:util import in the bundle (LogTape's), found ${found.length}`,
    );
  }
  // A `var`, assigned where the import was: LogTape calls it only when it formats a value.
  return code.replace(pattern, (_, name: string) => `var ${name}=${DENO_UTIL};`);
}

if (import.meta.main) {
  console.error(`bundled ${await bundle()}`);
}
