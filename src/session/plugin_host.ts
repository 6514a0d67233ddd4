/**
 * The plugins side of a running session: the plugin manager over the plugins folder, its
 * `[server]` routes, and the hooks that route to plugins.
 *
 * @module
 */
import type { Logger } from "../output/log.ts";
import type { Config } from "../config/schema.ts";
import type { EventBus } from "../events/bus.ts";
import type { Message, NewMessage } from "../inbox/message.ts";
import { PluginManager } from "../plugins/manager.ts";
import { pluginRouter, type ServeOptions } from "../plugins/serve.ts";
import type { HookRun } from "../webhook/script_hook.ts";
import type { InjectMeta, Middleware } from "../webhook/chain.ts";

/** Default `[server] bind`. */
export const DEFAULT_SERVER_BIND = "127.0.0.1:9800";
/** Default body limit of the plugin server. */
const DEFAULT_MAX_BODY = 10 * 1024 * 1024;

/** What the plugin host needs from the session. */
export interface PluginHostOptions {
  /** Session name. */
  session: string;
  /** Plugins folder. */
  dir: string;
  /** Validated config (`[server]`, `[plugins.NAME]`). */
  config: Config;
  /** KV for plugin stores. */
  kv: Deno.Kv;
  /** Event bus. */
  bus: EventBus;
  /** Builds the webhook script handler of a script plugin (30 s timeout, `maxBody` bytes). */
  scriptHook: (name: string, path: string, maxBody: number) => (req: Request) => Promise<Response>;
  /**
   * Takes a plugin's webhook answer (source `webhook`, label `webhook NAME`) for this session,
   * committed with `meta.also`.
   */
  webhook: (plugin: string, content: string, meta: InjectMeta) => Promise<unknown>;
  /** The guard steps of a plugin's route, by its file's name. */
  steps: (fileName: string) => readonly Middleware[];
  /** Puts a message into `session`'s inbox (this or another session). */
  inject: (session: string, message: NewMessage) => Promise<Message>;
  /** Told about every request served. */
  onRun: (run: HookRun) => void;
  /** Aborting kills running scripts and cuts slow bodies (shutdown past grace). */
  signal: AbortSignal;
  /** Log. */
  log: Logger;
  /** How bodies are read: the shared budget, the stall timeout. */
  body?: ServeOptions["body"];
}

/** A started plugin host. */
export interface PluginHost {
  /** The manager (routing, status, message fan-out). */
  manager: PluginManager;
  /** How plugin webhooks are served (for `[[hooks]] plugin = …`). */
  serve: ServeOptions;
  /** Serves the `[server]` routes (`/hooks/NAME`, `/healthz`, …). */
  router: (req: Request) => Promise<Response>;
  /** Stops every plugin. */
  stop(): Promise<void>;
}

/** Loads the plugins of `dir` and prepares their server. */
export async function startPlugins(options: PluginHostOptions): Promise<PluginHost> {
  const { config, session, log } = options;
  const maxBody = config.server?.max_body ?? DEFAULT_MAX_BODY;
  const serve: ServeOptions = {
    maxBody,
    inject: options.webhook,
    steps: options.steps,
    onRun: options.onRun,
    log,
    signal: options.signal,
    body: options.body,
  };
  const manager = new PluginManager({
    dir: options.dir,
    session,
    kv: options.kv,
    log,
    bus: options.bus,
    settings: (name) => config.plugins[name],
    inject: options.inject,
    scriptHandler: (name, path) => options.scriptHook(name, path, maxBody),
  });
  await manager.start();
  return {
    manager,
    serve,
    router: pluginRouter(manager, { ...serve, session }),
    stop: () => manager.stop(),
  };
}
