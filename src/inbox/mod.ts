/**
 * The durable, ordered, per-session inbox in Deno KV and the session registry.
 *
 * @module
 */
export {
  type DeadLetter,
  isSource,
  type Message,
  type NewMessage,
  type Source,
  sourceRank,
  SOURCES,
} from "./message.ts";
export { InboxStore, type InboxStoreOptions } from "./store.ts";
export { type Entry, GroupCommit } from "./group_commit.ts";
export {
  getSession,
  listSessions,
  recordStart,
  recordStop,
  SESSION_NAME,
  type SessionRecord,
} from "./sessions.ts";
