/**
 * Configuration: where files are (docs/config.md), the TOML config and its validation.
 *
 * @module
 */
export { type LocationOptions, type ResolvedPaths, resolvePaths } from "./paths.ts";
export { type BindAddress, bindsClash, formatAddr, parseBind } from "./bind.ts";
export { formatPath, locate } from "./locate.ts";
export { loadConfig, validateConfig, type ValidationResult } from "./load.ts";
export type {
  Config,
  HookConfig,
  PluginSettingsConfig,
  ServerConfig,
  SessionConfig,
} from "./schema.ts";
