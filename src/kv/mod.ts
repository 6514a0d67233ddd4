/**
 * Deno KV plumbing: opening the database, key prefixes and ordered ids.
 *
 * @module
 */
export { openKv } from "./open.ts";
export { type IdFactory, monotonicUlid, newId } from "./ids.ts";
export * as keys from "./keys.ts";
