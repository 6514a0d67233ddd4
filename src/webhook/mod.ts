/**
 * Webhook listeners: the request pipeline, script hooks and the server around them.
 *
 * @module
 */
export {
  compose,
  type HookContext,
  limitBody,
  type Middleware,
  storeMessage,
  text,
} from "./chain.ts";
export { headerEnvName, hookEnv } from "./env.ts";
export { type HookRun, scriptHookHandler, type ScriptHookOptions } from "./script_hook.ts";
export { listen, type Listener } from "./server.ts";
