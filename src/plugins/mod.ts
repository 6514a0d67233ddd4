/**
 * Plugins: drop-in TS/JS modules (each in its own Worker under its own Deno permissions) and
 * executable scripts in the plugins folder, served at `/hooks/<name>`.
 *
 * @module
 */
export { discover, type Found } from "./discover.ts";
export {
  type Entry,
  PluginManager,
  type PluginManagerOptions,
  type PluginSettings,
  type PluginStatus,
} from "./manager.ts";
export { deniedPermission, ModulePlugin, PluginUnavailableError } from "./module_plugin.ts";
export type { Invoke } from "./worker_channel.ts";
export {
  checkPermissions,
  describePermissions,
  type Effective,
  effectivePermissions,
  PERMISSION_KINDS,
  type PermissionKind,
} from "./permissions.ts";
export type {
  Call,
  CallMethod,
  FromWorker,
  ToWorker,
  WireCalls,
  WireDone,
  WireHeaders,
  WireRequest,
  WireResult,
} from "./protocol.ts";
export { moduleWebhook, pluginRouter, type ServeOptions, servePlugin } from "./serve.ts";
export type * from "./types.ts";
