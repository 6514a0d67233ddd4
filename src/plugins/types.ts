/**
 * The hookhost plugin API: the types a plugin's default export and its `ctx` follow. Import them
 * in your plugin for editor help (`hookhost plugins types > hookhost_plugin.ts`):
 *
 * ```ts
 * import type { Plugin } from "./hookhost_plugin.ts";
 *
 * export default {
 *   name: "hello",
 *   permissions: { env: ["GREETING"] },
 *   webhook(request, ctx) {
 *     return `${Deno.env.get("GREETING") ?? "hello"} from ${new URL(request.url).pathname}`;
 *   },
 *   on: {
 *     run_status_changed(event, ctx) {
 *       if (event.params.runStatus === "failed") ctx.log.warn(`failed: ${event.params.messageId}`);
 *     },
 *   },
 * } satisfies Plugin;
 * ```
 *
 * @module
 */

/** A permission: absent or `false` = denied, `true` = all, a list = only those. */
export type PermissionValue = boolean | string[];

/** Deno permissions a plugin asks for (absent kinds are denied). */
export interface PluginPermissions {
  /** Hosts (`example.com`, `example.com:443`, `127.0.0.1:8080`) the plugin may reach. */
  net?: PermissionValue;
  /** Paths it may read. */
  read?: PermissionValue;
  /** Paths it may write. */
  write?: PermissionValue;
  /** Environment variables it may read. */
  env?: PermissionValue;
  /** Programs it may run. */
  run?: PermissionValue;
  /** Libraries it may load. */
  ffi?: PermissionValue;
  /** System information (`hostname`, `osRelease`, …) it may query. */
  sys?: PermissionValue;
  /** Hosts it may import modules from at run time. */
  import?: PermissionValue;
}

/** The event data of event hooks (docs/event-hooks.md). */
export interface PluginEvent {
  /** Short event name. */
  event: string;
  /** `event-<event>`. */
  fullEvent: string;
  /** Event-specific payload. */
  params: Record<string, unknown>;
  /** Unix ms. */
  timestamp: number;
}

/** A processed inbox message, as `message()` sees it. */
export interface PluginMessage {
  /** Message id. */
  id: string;
  /** Session it was processed in. */
  session: string;
  /** `schedule`, `background`, `skill`, `inject` or `webhook`. */
  source: string;
  /** Label, e.g. `webhook github-push`. */
  label: string;
  /** The text. */
  content: string;
}

/** A key in the plugin's store: a string, or a list of strings and numbers. */
export type StoreKey = string | (string | number)[];

/** The plugin's own key-value namespace in the host's KV; values are JSON-compatible. */
export interface PluginStore {
  /** The value at `key`, or `null`. */
  get<T = unknown>(key: StoreKey): Promise<T | null>;
  /** Stores `value` at `key`. */
  set(key: StoreKey, value: unknown): Promise<void>;
  /** Removes `key`. */
  delete(key: StoreKey): Promise<void>;
  /** Entries whose key starts with `prefix` (all when absent), in key order. */
  list<T = unknown>(prefix?: StoreKey): Promise<{ key: (string | number)[]; value: T }[]>;
}

/** What a plugin can do with its host. */
export interface PluginContext {
  /** The plugin's name. */
  name: string;
  /** The session the host runs. */
  session: string;
  /**
   * Puts `content` into a session's inbox (default: the host's session) as source `skill` or
   * `background` (default `background`); resolves with the message id once it is durable.
   */
  inject(
    content: string,
    options?: { session?: string; source?: "skill" | "background" },
  ): Promise<string>;
  /** Fires an event at the event hooks and subscribing plugins. */
  emit(event: string, params?: Record<string, unknown>): Promise<void>;
  /** Writes to the host's log, prefixed with the plugin's name. */
  log: {
    debug(message: string): void;
    info(message: string): void;
    warn(message: string): void;
    error(message: string): void;
  };
  /** The plugin's own persistent key-value store. */
  store: PluginStore;
}

/** What `webhook()` may return: a response, a message to inject (200), or nothing (204). */
export type WebhookResult = Response | string | undefined | null | void;

/** A plugin module's default export. */
export interface Plugin {
  /** Name (default: the file name without extension, or the folder name). */
  name?: string;
  /** Deno permissions the plugin needs; absent kinds are denied. */
  permissions?: PluginPermissions;
  /** Serves `POST|GET … /hooks/<name>` on the host's `[server] bind`. */
  webhook?(request: Request, ctx: PluginContext): WebhookResult | Promise<WebhookResult>;
  /** Event handlers by event name (built-in and custom events). */
  on?: Record<string, (event: PluginEvent, ctx: PluginContext) => void | Promise<void>>;
  /** Sees every processed inbox message. */
  message?(message: PluginMessage, ctx: PluginContext): void | Promise<void>;
}
