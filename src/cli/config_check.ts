/**
 * `hookhost config check`: validates the config and prints every problem.
 *
 * @module
 */
import { type LocationOptions, validateConfig } from "../config/mod.ts";
import { formatProblem, HookhostError } from "../errors.ts";
import { parseHooksFile } from "../events/mod.ts";
import { context } from "./context.ts";
import { loadPlugins } from "./plugins.ts";

/** Runs `config check`; throws (exit 2) when there are problems. */
export async function configCheck(flags: LocationOptions): Promise<void> {
  const ctx = await context(flags);
  const { configFile, configDir } = ctx.paths;
  const source = configFile ? await Deno.readTextFile(configFile) : "";
  const result = validateConfig(source, { file: configFile, dir: configDir });
  const problems = [...result.problems];
  const events = ctx.paths.eventsFile;
  let eventsText: string | null = null;
  try {
    eventsText = await Deno.readTextFile(events);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      problems.push({ file: events, message: `Cannot read: ${(e as Error).message}` });
    }
  }
  const hooks = eventsText === null ? undefined : parseHooksFile(eventsText, events);
  if (hooks) problems.push(...hooks.problems);
  const plugins = result.config
    ? await loadPlugins(ctx.paths.pluginsDir, result.config, "default")
    : [];
  for (const p of plugins) {
    if (p.state === "failed") {
      problems.push({ file: p.file, message: p.lastError ?? "Failed to load" });
    }
  }
  if (problems.length) {
    for (const p of problems) console.error(formatProblem(p));
    throw new HookhostError("config_invalid", `${problems.length} problem(s) found`, {
      exitCode: 2,
    });
  }
  const cfg = result.config!;
  console.log(
    `${configFile ?? "No config file found (empty config)"}: ok, ${cfg.hooks.length} hook(s)` +
      (cfg.session.handler ? `, handler ${cfg.session.handler}` : ""),
  );
  if (hooks?.config) {
    const count = [...hooks.config.values()].flat().reduce((n, g) => n + g.hooks.length, 0);
    console.log(`${events}: ok, ${count} event hook(s) for ${hooks.config.size} event(s)`);
  } else {
    console.log(`${events}: not present (no event hooks)`);
  }
  console.log(`${ctx.paths.pluginsDir}: ok, ${plugins.length} plugin(s)`);
}
