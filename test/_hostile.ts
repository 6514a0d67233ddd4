/**
 * A real daemon to attack (`hookhost run` on 127.0.0.1 in a temp folder), shared by
 * test/hostile_test.ts, test/proxy_test.ts and `deno task attack` (scripts/attack.ts).
 *
 * @module
 */
import { join } from "node:path";
import { config, envFor, Proc, script, tempDir } from "./_helpers.ts";
import { writeAll } from "./_raw.ts";
import { pause } from "./_poll.ts";

/** What the body of {@linkcode withDaemon} gets. */
export interface Daemon {
  /** The temp folder: `hookhost.toml`, the scripts, `state/`. */
  dir: string;
  d: Proc;
  /** The port of hook `name`, or of `[server]` for `"server"`. */
  port: (name: string) => Promise<number>;
  /** Lines of `runs.log`, which the scripts append to (`echo run >> "$DIR/runs.log"`). */
  runs: () => Promise<string[]>;
}

/** Options of {@linkcode withDaemon}. */
export interface DaemonOptions {
  /** hookhost.toml; its hooks are served. */
  toml: string;
  /** Hooks to serve (default `["h"]`). */
  hooks?: string[];
  /**
   * Scripts by file name, `$DIR` replaced by the folder. Default `hook.sh` notes a run and
   * prints its body.
   */
  scripts?: Record<string, string>;
  /**
   * Plugins in `DIR/plugins`, served by `[server]` of `toml`: `.ts`/`.js` files as they are,
   * anything else a shell script.
   */
  plugins?: Record<string, string>;
  /** A command that execs the daemon, such as `prlimit`. */
  prefix?: string[];
  /** Session name (default `hostile`). */
  name?: string;
  /** Whether the daemon must stop with exit 0 (default true). */
  cleanExit?: boolean;
}

/** `[[hooks]]` named `name` on 127.0.0.1, port 0, running `script`, with `extra` lines. */
export const hook = (extra = "", name = "h", file = "./hook.sh"): string =>
  `[[hooks]]\nname = "${name}"\nbind = "127.0.0.1:0"\nscript = "${file}"\n${extra}\n`;

/** Runs `body` against a daemon in a temp folder set up by `options`; stops it after. */
export async function withDaemon<T>(
  options: DaemonOptions,
  body: (ctx: Daemon) => Promise<T>,
): Promise<T> {
  const tmp = await tempDir();
  try {
    const scripts = { "hook.sh": 'echo run >> "$DIR/runs.log"; cat', ...options.scripts };
    for (const [name, text] of Object.entries(scripts)) {
      await script(tmp.path, name, text.replaceAll("$DIR", tmp.path));
    }
    await config(tmp.path, options.toml);
    const hooks = (options.hooks ?? ["h"]).flatMap((h) => ["--hook", h]);
    if (options.plugins) {
      const dir = join(tmp.path, "plugins");
      await Deno.mkdir(dir);
      for (const [name, text] of Object.entries(options.plugins)) {
        const body = text.replaceAll("$DIR", tmp.path);
        if (/\.[jt]s$/.test(name)) await Deno.writeTextFile(join(dir, name), body);
        else await script(dir, name, body);
      }
      hooks.push("--plugins", dir);
    }
    const name = options.name ?? "hostile";
    const d = Proc.start(["run", "--name", name, "--daemon", "--format", "jsonl", ...hooks], {
      env: envFor(tmp.path),
      prefix: options.prefix,
    });
    const port = async (hook: string) => Number((await d.addr(hook)).split(":").pop());
    const runs = async () => {
      try {
        return (await Deno.readTextFile(join(tmp.path, "runs.log"))).split("\n").filter(Boolean);
      } catch {
        return [];
      }
    };
    let result: T;
    try {
      result = await body({ dir: tmp.path, d, port, runs });
    } catch (e) {
      await d.stop();
      throw e;
    }
    const code = await d.stop();
    if (options.cleanExit !== false && code !== 0) {
      throw new Error(`The daemon exited ${code}: ${d.stderr}`);
    }
    return result;
  } finally {
    await tmp.cleanup();
  }
}

/** Writes `text` to `conn` a character every `everyMs` (scaled); stops once it is closed. */
export async function trickle(conn: Deno.Conn, text: string, everyMs: number): Promise<void> {
  for (const ch of text) {
    if (!await writeAll(conn, ch)) return;
    await pause(everyMs);
  }
}
