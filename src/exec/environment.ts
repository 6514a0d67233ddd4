/**
 * What a child process inherits: this process's environment minus the variables it must never
 * see (secrets, KV tokens, hookhost's own settings), narrowed to an allowlist when one is given,
 * plus the values set for it.
 *
 * @module
 */
import type { RunOptions, Spawner } from "./spawn.ts";

/** Options of {@linkcode childEnv}. */
export interface ChildEnvOptions {
  /**
   * Only these variables are passed on (still never a hidden one); unset, all but the hidden.
   * A `HOOKHOST_*` variable named here is passed on.
   */
  allow?: readonly string[];
  /** Values set for the child, over what is inherited. */
  set?: Readonly<Record<string, string>>;
  /** Names never passed on, whatever `allow` says (the secrets of `secret_env`). */
  secrets?: Iterable<string>;
  /** The environment to start from; default this process's, as it is now. */
  source?: Readonly<Record<string, string>>;
}

/** Never inherited: the token of remote KV. */
export const KV_TOKEN = "DENO_KV_ACCESS_TOKEN";

/**
 * The environment a child starts from: see {@linkcode ChildEnvOptions}. `HOOKHOST_*` variables
 * are hidden unless `allow` names them; `KV_TOKEN` and `secrets` always are.
 */
export function childEnv(options: ChildEnvOptions = {}): Record<string, string> {
  const source = options.source ?? Deno.env.toObject();
  const never = new Set([KV_TOKEN, ...options.secrets ?? []]);
  const allow = options.allow ? new Set(options.allow) : null;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(source)) {
    if (never.has(name)) continue;
    if (allow ? !allow.has(name) : name.startsWith("HOOKHOST_")) continue;
    out[name] = value;
  }
  return Object.assign(out, options.set);
}

/**
 * `spawner` with every child started from `base` (or what `base()` gives at each start) instead
 * of this process's environment. A function should give the same object until it changes:
 * spawners keep the formatted form of the last one.
 */
export function withEnv(
  spawner: Spawner,
  base: Readonly<Record<string, string>> | (() => Readonly<Record<string, string>>),
): Spawner {
  const current = typeof base === "function" ? base : () => base;
  return {
    run: (command: string, options: RunOptions = {}) =>
      spawner.run(command, { ...options, baseEnv: current() }),
  };
}
