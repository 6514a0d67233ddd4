/**
 * Configuration: where files are (docs/config.md), the TOML config and its validation.
 *
 * @module
 */
export {
  type LocationOptions,
  type ResolvedPaths,
  type ResolveOptions,
  resolvePaths,
} from "./paths.ts";
export { type BindAddress, bindsClash, formatAddr, parseBind } from "./bind.ts";
export { formatPath, locate, type Position } from "./locate.ts";
export { loadConfig, validateConfig, type ValidationResult } from "./load.ts";
// The type of ValidationResult.problems (and of parseHooksFile's problems).
export type { ConfigProblem } from "../errors.ts";
export type {
  AdminConfig,
  AuthKeys,
  Config,
  EnvKeys,
  EventsConfig,
  HookConfig,
  LimitsConfig,
  MatchCondition,
  PluginSettingsConfig,
  ServerConfig,
  SessionConfig,
  TlsKeys,
} from "./schema.ts";
export { isLoopback } from "./bind.ts";
