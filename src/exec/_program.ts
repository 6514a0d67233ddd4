/**
 * Test helper: runs a Deno program in a process of its own, for checks that need a whole process
 * to themselves. `deno test --parallel` runs test files side by side in one process, so the
 * descriptors, children and environment of this one are shared with whatever else runs.
 *
 * @module
 */
import assert from "node:assert/strict";
import { scaled } from "../../test/_poll.ts";

/** Options of {@linkcode runProgram}. */
export interface ProgramOptions {
  /** Variables added to the program's environment. */
  env?: Record<string, string>;
  /**
   * Kill it after this many ms, scaled (a guard against a hang, not a deadline it should meet).
   * Default 300,000.
   */
  guardMs?: number;
}

/**
 * Runs `body` as a Deno program (with `-A`), after a line that imports `imports`: each key is an
 * import clause, such as `{ runProcess }`, and its value a path relative to this directory.
 * Returns its stdout, trimmed; fails the test if it did not exit with 0.
 */
export async function runProgram(
  imports: Record<string, string>,
  body: string,
  options: ProgramOptions = {},
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "hh-program" });
  const guard = new AbortController();
  const guardMs = scaled(options.guardMs ?? 300_000);
  const timer = setTimeout(() => guard.abort(), guardMs);
  try {
    const script = `${dir}/main.ts`;
    const lines = Object.entries(imports).map(([clause, file]) =>
      `import ${clause} from ${JSON.stringify(new URL(file, import.meta.url).href)};`
    );
    await Deno.writeTextFile(script, `${lines.join("\n")}\n${body}\n`);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-config", script],
      env: options.env,
      stdout: "piped",
      stderr: "piped",
      signal: guard.signal,
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.ok(!guard.signal.aborted, `killed after ${guardMs} ms: ${stderr}`);
    assert.equal(out.code, 0, stderr);
    return new TextDecoder().decode(out.stdout).trim();
  } finally {
    clearTimeout(timer);
    await Deno.remove(dir, { recursive: true });
  }
}
