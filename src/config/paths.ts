/**
 * Where hookhost's files are: flag, then environment, then default (docs/config.md).
 *
 * @module
 */
import { dirname, isAbsolute, join, resolve } from "../path.ts";
import { ConfigError } from "../errors.ts";

/** The location flags every command accepts. */
export interface LocationOptions {
  /** `--config FILE` */
  config?: string;
  /** `--events FILE` */
  events?: string;
  /** `--plugins DIR` */
  plugins?: string;
  /** `--state DIR` */
  state?: string;
  /** `--kv PATH_OR_URL` */
  kv?: string;
}

/** The resolved places, all absolute (except a remote KV URL). */
export interface ResolvedPaths {
  /** The TOML config file in use, or `null` when none was found (empty config). */
  configFile: string | null;
  /** Folder relative paths in the config are resolved against. */
  configDir: string;
  /** Event hooks file (it need not exist). */
  eventsFile: string;
  /** Plugins folder (it need not exist). */
  pluginsDir: string;
  /** State folder: KV database, locks and sockets. */
  stateDir: string;
  /** KV path or `http(s)://` URL. */
  kv: string;
}

/** Seams for {@linkcode resolvePaths}; defaults are the real process environment. */
export interface ResolveOptions {
  /** Environment variables; default `Deno.env.toObject()`. */
  env?: Record<string, string | undefined>;
  /** Working directory; default `Deno.cwd()`. */
  cwd?: string;
  /** Whether a path is an existing file; default a `Deno.statSync` check. */
  isFile?: (path: string) => boolean;
}

function defaultIsFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function home(env: Record<string, string | undefined>): string {
  return env.HOME ?? env.USERPROFILE ?? "/";
}

/**
 * Resolves the config, events, plugins, state and KV locations: flag, then `HOOKHOST_*`
 * environment variable, then the default. An explicitly named config file that does not exist
 * is a {@linkcode ConfigError}.
 */
export function resolvePaths(flags: LocationOptions, options: ResolveOptions = {}): ResolvedPaths {
  const env = options.env ?? Deno.env.toObject();
  const cwd = options.cwd ?? Deno.cwd();
  const isFile = options.isFile ?? defaultIsFile;
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(cwd, p));

  let configFile: string | null = null;
  const named = flags.config ?? env.HOOKHOST_CONFIG;
  if (named) {
    configFile = abs(named);
    if (!isFile(configFile)) {
      throw new ConfigError([{ file: configFile, message: "Config file not found" }]);
    }
  } else {
    const local = join(cwd, "hookhost.toml");
    const xdgConfig = env.XDG_CONFIG_HOME || join(home(env), ".config");
    const user = join(xdgConfig, "hookhost", "config.toml");
    configFile = isFile(local) ? local : isFile(user) ? user : null;
  }
  const configDir = configFile ? dirname(configFile) : cwd;

  const eventsNamed = flags.events ?? env.HOOKHOST_EVENTS;
  const eventsFile = eventsNamed ? abs(eventsNamed) : join(configDir, "hooks.json");

  const pluginsNamed = flags.plugins ?? env.HOOKHOST_PLUGINS;
  const pluginsDir = pluginsNamed
    ? abs(pluginsNamed)
    : configFile
    ? join(configDir, "plugins")
    : join(cwd, "plugins");

  const stateNamed = flags.state ?? env.HOOKHOST_STATE;
  const xdgState = env.XDG_STATE_HOME || join(home(env), ".local", "state");
  const stateDir = stateNamed ? abs(stateNamed) : join(xdgState, "hookhost");

  const kvNamed = flags.kv ?? env.HOOKHOST_KV;
  const kv = kvNamed
    ? /^https?:\/\//i.test(kvNamed) ? kvNamed : abs(kvNamed)
    : join(stateDir, "hookhost.kv");

  return { configFile, configDir, eventsFile, pluginsDir, stateDir, kv };
}
