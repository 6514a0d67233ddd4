/**
 * The one list of runtime flags: read from the `hookhost` task in deno.json, so `deno task
 * hookhost`, `deno task compile` and the tests all run hookhost with exactly the same flags.
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };

/** Flags between `deno run` and `main.ts` in the `hookhost` task. */
export function runtimeFlags(): string[] {
  const task = denoJson.tasks.hookhost;
  const m = /^deno run (.*) main\.ts$/.exec(task);
  if (!m) throw new Error(`Unexpected hookhost task: ${task}`);
  return m[1].split(/\s+/).filter(Boolean);
}

/** Absolute path of the repository root. */
export const ROOT: string = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
