/**
 * `hookhost plugins ls` and `hookhost plugins types`.
 *
 * @module
 */
import type { Config, LocationOptions } from "../config/mod.ts";
import { discover, PluginManager, type PluginStatus } from "../plugins/mod.ts";
import { HookhostError } from "../errors.ts";
import { log } from "../output/log.ts";
import { controlRequest, NotRunningError, sessionPaths } from "../session/mod.ts";
import { checkName, config, context } from "./context.ts";
import { table } from "./table.ts";
import { PLUGIN_TYPES_URL } from "../assets.ts";

/**
 * `plugins ls [--name SESSION] [--json]`: the live state from a running session when `--name`
 * names one, else what loading each plugin here gives.
 */
export async function pluginsLs(flags: LocationOptions & { name?: string; json?: boolean }) {
  const ctx = await context(flags);
  let rows: PluginStatus[] | null = null;
  let source = `loaded from ${ctx.paths.pluginsDir}`;
  if (flags.name !== undefined) {
    const socket = sessionPaths(ctx.paths.stateDir, checkName(flags.name)).socket;
    try {
      const answer = await controlRequest(socket, { op: "plugins" });
      if (answer.ok) {
        rows = answer.plugins as PluginStatus[];
        source = `live in session '${flags.name}'`;
      }
    } catch (e) {
      if (!(e instanceof NotRunningError)) throw e;
    }
  }
  rows ??= await loadPlugins(ctx.paths.pluginsDir, await config(ctx), flags.name ?? "default");
  if (flags.json) {
    for (const r of rows) console.log(JSON.stringify(r));
    return;
  }
  if (!rows.length) return console.log(`No plugins (${source})`);
  console.log(table(
    [
      "NAME",
      "KIND",
      "HANDLES",
      "DECLARED",
      "GRANTED",
      "MISSING",
      "RSS",
      "STATE",
      "FILE",
      "LAST ERROR",
    ],
    rows.map((r) => [
      r.name,
      r.kind,
      r.handles.join(",") || "-",
      r.declared ?? "-",
      r.permissions,
      r.missing ?? "-",
      r.rss === undefined ? "-" : `${Math.round(r.rss / (1024 * 1024))} MiB`,
      r.state,
      r.file,
      r.lastError ?? "",
    ]),
  ));
  console.error(`(${source})`);
}

/** Loads every plugin of `dir` once (top-level code runs) and reports each one's state. */
export async function loadPlugins(
  dir: string,
  cfg: Config,
  session: string,
): Promise<PluginStatus[]> {
  const kv = await Deno.openKv(":memory:");
  const manager = new PluginManager({
    dir,
    session,
    kv,
    log: log("plugins"),
    settings: (name) => cfg.plugins[name],
    watch: false,
    inject: () => Promise.reject(new Error("Not running")),
    scriptHandler: () => () => Promise.resolve(new Response(null, { status: 503 })),
  });
  try {
    await manager.start();
    return manager.status();
  } finally {
    await manager.stop();
    kv.close();
  }
}

/**
 * `plugins install`: `deno cache` of each module plugin, so that a plugin not granted `import`
 * finds its `npm:` and remote modules in Deno's cache (it may not fetch them itself). Resolved as
 * the plugin is, without hookhost's `deno.json`.
 */
export async function pluginsInstall(flags: LocationOptions): Promise<void> {
  const ctx = await context(flags);
  if (Deno.build.standalone) {
    throw new HookhostError(
      "plugins_install_needs_deno",
      "The compiled binary cannot fill Deno's cache; run 'deno cache --no-config FILE' with Deno 2.9.6 for each plugin",
    );
  }
  const modules = (await discover(ctx.paths.pluginsDir)).filter((f) => f.kind === "module");
  const failed: string[] = [];
  for (const f of modules) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["cache", "--no-config", "--quiet", f.module!],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (out.success) {
      console.log(`Cached the imports of '${f.fileName}' (${f.module})`);
    } else {
      const why = new TextDecoder().decode(out.stderr).trim().split("\n")[0];
      console.error(`hookhost: plugin '${f.fileName}': ${why}`);
      failed.push(f.fileName);
    }
  }
  if (!modules.length) console.error(`(no module plugins in ${ctx.paths.pluginsDir})`);
  if (failed.length) {
    throw new HookhostError(
      "plugins_install_failed",
      `Could not cache the imports of ${failed.map((n) => `'${n}'`).join(", ")}`,
    );
  }
}

/** `plugins types`: prints the plugin API types module. */
export async function pluginsTypes(): Promise<void> {
  console.log(await Deno.readTextFile(PLUGIN_TYPES_URL));
}
