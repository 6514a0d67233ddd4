/**
 * The workers of a session's persistent hooks and persistent script plugins (docs/workers.md):
 * one {@linkcode WorkerPool} each, restarted when its script changes, stopped with the session
 * (at once when it is hard-stopped), and, for a script plugin, when its file is removed.
 *
 * @module
 */
import type { EnvKeys, HookConfig, PluginSettingsConfig } from "../config/schema.ts";
import type { Logger } from "../output/log.ts";
import { WorkerPool, type WorkerStatus } from "../worker/pool.ts";
import { watchScript } from "../worker/watch_script.ts";

/** Options of {@linkcode HookWorkers}. */
export interface HookWorkersOptions {
  /** Session name (each request's `session`, the workers' `HOOK_SESSION`). */
  session: string;
  /** The environment of a long-lived child of a table with `env` / `env_set` keys. */
  envFor: (keys: EnvKeys) => Record<string, string>;
  /** Aborting kills every worker at once. */
  hardStop: AbortSignal;
  /** Where the pools log (failures, the workers' stderr). */
  log: Logger;
  /** Where script changes are logged. */
  sessionLog: Logger;
}

/** A session's worker pools; see the module doc. */
export class HookWorkers {
  #o: HookWorkersOptions;
  #pools = new Map<
    string,
    { pool: WorkerPool; path: string; shape: string; unwatch: () => void }
  >();

  /** Pools of session `options.session`. */
  constructor(options: HookWorkersOptions) {
    this.#o = options;
  }

  #start(
    key: string,
    name: string,
    script: string,
    settings: { keys: EnvKeys; workers: number; maxInflight: number; onGone?: () => void },
  ): WorkerPool {
    const shape = `${settings.workers}×${settings.maxInflight}`;
    const { session } = this.#o;
    const pool = new WorkerPool({
      hook: name,
      session,
      script,
      workers: settings.workers,
      maxInflight: settings.maxInflight,
      env: () => ({ ...this.#o.envFor(settings.keys), HOOK_NAME: name, HOOK_SESSION: session }),
      log: this.#o.log,
    });
    const stopWatching = watchScript(script, () => {
      this.#o.sessionLog.info("hook '{hook}': its script changed; its workers restart", {
        hook: name,
      });
      pool.restart();
    }, { onGone: settings.onGone });
    const kill = () => void pool.stop(0);
    this.#o.hardStop.addEventListener("abort", kill, { once: true });
    const unwatch = () => {
      stopWatching();
      this.#o.hardStop.removeEventListener("abort", kill);
    };
    this.#pools.set(key, { pool, path: script, shape, unwatch });
    return pool;
  }

  /** Starts the workers of persistent `[[hooks]]` entry `hook`. */
  forHook(hook: HookConfig & { script: string }): WorkerPool {
    return this.#start(hook.name, hook.name, hook.script, {
      keys: hook,
      workers: hook.workers,
      maxInflight: hook.max_inflight,
    });
  }

  /**
   * The workers of persistent script plugin `name` at `path`: the running ones when the plugin
   * is reloaded from the same file with the same `workers` and `max_inflight` (they restart
   * themselves when it changes), new ones otherwise; they stop once the file is removed. Listed
   * as `plugin:NAME`.
   */
  forPlugin(name: string, path: string, keys: PluginSettingsConfig): WorkerPool {
    const key = `plugin:${name}`;
    const had = this.#pools.get(key);
    if (had?.path === path && had.shape === `${keys.workers ?? 1}×${keys.max_inflight ?? 1}`) {
      return had.pool;
    }
    if (had) this.#drop(key);
    const pool: WorkerPool = this.#start(key, name, path, {
      keys,
      workers: keys.workers ?? 1,
      maxInflight: keys.max_inflight ?? 1,
      onGone: () => this.#pools.get(key)?.pool === pool && this.#drop(key),
    });
    return pool;
  }

  #drop(key: string): void {
    const had = this.#pools.get(key);
    if (!had) return;
    this.#pools.delete(key);
    had.unwatch();
    void had.pool.stop(0);
  }

  /** The workers of every pool, by hook (`plugin:NAME` for a script plugin). */
  status(): Record<string, WorkerStatus[]> {
    return Object.fromEntries([...this.#pools].map(([key, p]) => [key, p.pool.status()]));
  }

  /** Stops every pool, giving workers `graceMs` to exit once their stdin is closed. */
  async stop(graceMs: number): Promise<void> {
    const all = [...this.#pools.values()];
    this.#pools.clear();
    for (const p of all) p.unwatch();
    await Promise.all(all.map((p) => p.pool.stop(graceMs)));
  }
}
