/**
 * `hookhost config check`: validates the config and prints every problem.
 *
 * @module
 */
import { type LocationOptions, validateConfig } from "../config/mod.ts";
import { formatProblem, HookhostError } from "../errors.ts";
import { context } from "./context.ts";

/** Runs `config check`; throws (exit 2) when there are problems. */
export async function configCheck(flags: LocationOptions): Promise<void> {
  const ctx = await context(flags);
  const { configFile, configDir } = ctx.paths;
  const source = configFile ? await Deno.readTextFile(configFile) : "";
  const result = validateConfig(source, { file: configFile, dir: configDir });
  if (result.problems.length) {
    for (const p of result.problems) console.error(formatProblem(p));
    throw new HookhostError(
      "config_invalid",
      `${result.problems.length} problem(s) in ${configFile ?? "the config"}`,
      { exitCode: 2 },
    );
  }
  const cfg = result.config!;
  console.log(
    `${configFile ?? "No config file found (empty config)"}: ok, ${cfg.hooks.length} hook(s)` +
      (cfg.session.handler ? `, handler ${cfg.session.handler}` : ""),
  );
}
