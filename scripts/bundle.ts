/**
 * `deno task bundle`: builds `dist/hookhost.js`, hookhost in one minified module, which `deno
 * task compile` turns into the binary and the benchmarks run.
 *
 * One module instead of ~190 (hookhost's own and its six libraries') is what a user's binary
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
      // Not --keep-names: with it, deno 2.9.6 leaves out the `require` shim that the CommonJS
      // parts (Commander) need. hookhost never shows a class name to users.
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
  return BUNDLE;
}

if (import.meta.main) {
  console.error(`bundled ${await bundle()}`);
}
