/**
 * Deno KV plumbing: opening the database, key prefixes and ordered ids.
 *
 * @module
 */
export { hasQueues, openKv } from "./open.ts";
export { boundRemoteCalls, KvUnreachableError, REMOTE_DEADLINE_MS } from "./remote.ts";
export {
  isBusy,
  retryBusy,
  type RetryBusyOptions,
  retryBusyWrites,
  StorageBusyError,
} from "./busy.ts";
export { isStorageError, StorageHealth, type StorageHealthOptions } from "./storage_health.ts";
export { checkOwnEntry, privateDir, privateFiles, UnsafeStateError } from "./private_dir.ts";
export { type IdFactory, monotonicUlid, newId } from "./ids.ts";
export * as keys from "./keys.ts";
