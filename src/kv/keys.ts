/**
 * Every KV key prefix hookhost writes, in one place so layouts never collide.
 *
 * @module
 */

/** `["s", session]` → session record. */
export const SESSION = "s";
/** `["m", session, sourceRank, id]` → pending message; order is the key order. */
export const MESSAGE = "m";
/** `["c", session, id, n]` → chunk n of a message too large for one KV value. */
export const CHUNK = "c";
/** `["d", session, id]` → dead letter. */
export const DEAD = "d";
/** `["sch", id]` → schedule. */
export const SCHEDULE = "sch";
