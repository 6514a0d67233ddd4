/**
 * Plugins: drop-in TS/JS modules (each in its own Worker under its own Deno permissions) and
 * executable scripts in the plugins folder, served at `/hooks/<name>`.
 *
 * @module
 */
export { discover, type Found } from "./discover.ts";
export {
  PluginManager,
  type PluginManagerOptions,
  type PluginSettings,
  type PluginStatus,
} from "./manager.ts";
export { deniedPermission, ModulePlugin, PluginUnavailableError } from "./module_plugin.ts";
export {
  checkPermissions,
  describePermissions,
  type Effective,
  effectivePermissions,
  PERMISSION_KINDS,
} from "./permissions.ts";
export type { FromWorker, ToWorker } from "./protocol.ts";
export { moduleWebhook, pluginRouter, servePlugin } from "./serve.ts";
export type * from "./types.ts";
