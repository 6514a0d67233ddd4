/**
 * Child processes: run with stdin, captured output, timeouts that kill the process group.
 *
 * @module
 */
export {
  ChildLostError,
  processSpawner,
  runCommand,
  type RunOptions,
  runProcess,
  type RunResult,
  type Spawner,
  SpawnError,
} from "./spawn.ts";
export { childEnv, type ChildEnvOptions, KV_TOKEN, withEnv } from "./environment.ts";
export { setprivPath, setsidPath } from "./wrappers.ts";
export { statFields } from "./native_spawn.ts";
// The base of SpawnError and ChildLostError: callers branch on its `code`.
export { HookhostError } from "../errors.ts";
