/**
 * `deno task compile [--target T]… [--all]`: builds the hookhost executable from the bundle
 * (`scripts/bundle.ts`) with the same runtime flags as `deno task hookhost`: `dist/hookhost` for
 * this machine, `dist/hookhost-T` (`.exe` on Windows) for each `--target`, every release target
 * with `--all`. `deno compile` needs Deno's `denort` runtime of each target: from Deno's cache,
 * from `DENORT_BIN`, or downloaded from dl.deno.land. Where that is out of reach, it fails with
 * one line saying so, before bundling anything.
 *
 * @module
 */
import { bundle, BUNDLE_FLAGS } from "./bundle.ts";
import { ROOT, runtimeFlags } from "./flags.ts";

/** The targets release builds are made for (`deno compile --target`). */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/** This machine's target, as `deno compile` names it. */
export const HOST_TARGET: string = Deno.build.target;

/** Where the executable for `target` goes (`dist/hookhost` for this machine's, when asked so). */
export function outputFor(target: string, named: boolean): string {
  if (!named) return `${ROOT}/dist/hookhost`;
  return `${ROOT}/dist/hookhost-${target}${target.includes("windows") ? ".exe" : ""}`;
}

/** Why a build cannot run, as one line (exit 1), or because it was asked wrongly (exit 2). */
class CompileError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

function parseArgs(args: readonly string[]): { targets: string[]; named: boolean } {
  const targets: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--all") targets.push(...TARGETS);
    else if (a === "--target" || a.startsWith("--target=")) {
      const t = a === "--target" ? args[++i] : a.slice("--target=".length);
      if (!t) throw new CompileError("--target needs a value", 2);
      if (!(TARGETS as readonly string[]).includes(t)) {
        throw new CompileError(`unknown target '${t}'; one of: ${TARGETS.join(", ")}`, 2);
      }
      targets.push(t);
    } else throw new CompileError(`unknown argument '${a}'; use --target T or --all`, 2);
  }
  return targets.length
    ? { targets: [...new Set(targets)], named: true }
    : { targets: [HOST_TARGET], named: false };
}

/** The zip `deno compile` downloads for `target`. */
function denortUrl(target: string): string {
  return `https://dl.deno.land/release/v${Deno.version.deno}/denort-${target}.zip`;
}

/** Whether Deno's cache holds `target`'s runtime already (then compiling needs no network). */
function cached(target: string): boolean {
  const home = Deno.env.get("HOME") ?? "/";
  const dir = Deno.env.get("DENO_DIR") ||
    `${Deno.env.get("XDG_CACHE_HOME") || `${home}/.cache`}/deno`;
  try {
    Deno.statSync(`${dir}/dl/release/v${Deno.version.deno}/denort-${target}.zip`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Fails with one line when `target`'s runtime can be neither found nor fetched: asked before the
 * bundle is built, so that an offline build says so at once, not after a minute as a backtrace.
 */
async function checkRuntime(target: string): Promise<void> {
  if (Deno.env.get("DENORT_BIN") || cached(target)) return;
  const url = denortUrl(target);
  try {
    const res = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(10_000) });
    await res.body?.cancel();
    if (res.ok) return;
    throw new Error(`HTTP ${res.status}`);
  } catch (e) {
    throw new CompileError(
      `deno compile needs Deno's runtime 'denort' for '${target}' from '${url}', which cannot be fetched here (${
        reason(e)
      }); build where the network allows, or set DENORT_BIN to a denort ${Deno.version.deno} executable for that target`,
    );
  }
}

/** The innermost cause of `e`, one line: `fetch failed` says less than its DNS or TCP error. */
function reason(e: unknown): string {
  let inner = e;
  while (inner instanceof Error && inner.cause instanceof Error) inner = inner.cause;
  const message = inner instanceof Error ? inner.message : String(inner);
  return message.split("\n")[0].replace(/^error sending request for url \([^)]*\): /, "");
}

/** Runs `deno compile` for `target`; its own error, if any, as one line. */
async function compile(main: string, target: string, output: string): Promise<void> {
  const args = [
    "compile",
    ...runtimeFlags(),
    ...BUNDLE_FLAGS,
    // Read or started at run time, so not found by the module graph on its own.
    "--include",
    `${ROOT}/src/plugins/worker_main.ts`,
    "--include",
    `${ROOT}/src/plugins/types.ts`,
    "--target",
    target,
    "--output",
    output,
    main,
  ];
  console.error(`deno ${args.join(" ")}`);
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    stdout: "inherit",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  if (code === 0) return;
  // Deno's error is a chain of causes and, on some failures, a backtrace: keep the first cause.
  const text = new TextDecoder().decode(stderr);
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  const error = lines.find((l) => l.startsWith("error:"))?.slice(6).trim() ?? "failed";
  const cause = lines.find((l) => /^\d+: /.test(l) && !/^0: Setting up/.test(l));
  throw new CompileError(
    `deno compile for '${target}' failed: ${error}${
      cause ? ` (${cause.replace(/^\d+: /, "")})` : ""
    }`,
  );
}

if (import.meta.main) {
  try {
    const { targets, named } = parseArgs(Deno.args);
    for (const t of targets) await checkRuntime(t);
    const main = await bundle();
    for (const t of targets) {
      await compile(main, t, outputFor(t, named));
      console.error(`built ${outputFor(t, named)}`);
    }
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    console.error(`compile: ${message}`);
    Deno.exit(e instanceof CompileError ? e.exitCode : 1);
  }
}
