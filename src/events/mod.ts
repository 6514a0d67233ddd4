/**
 * Event hooks: EnConvo-compatible `hooks.json` (command and http hooks), the event bus that
 * fires them in the background under a concurrency cap, and the built-in events.
 *
 * @module
 */
export { EventBus, type EventBusOptions, type Subscriber } from "./bus.ts";
export { type EventData, type HookResult, runEventHook } from "./execute.ts";
export {
  type CommandHook,
  DEFAULT_HOOK_TIMEOUT_MS,
  type EventHook,
  type HookGroup,
  type HooksConfig,
  HooksFile,
  type HttpHook,
  matchingHooks,
  matchKey,
  parseHooksFile,
} from "./hooks_file.ts";
export { Limiter, QueueFullError } from "./limiter.ts";
export { type JsonPositions, JsonSyntaxError, parseJsonWithPositions } from "./json_locate.ts";
