/**
 * The daemons of a session sharing one KV store: each keeps a member record (`["mb", session,
 * id]`) saying whether it holds the inbox's lease or stands by, refreshed with its lease and
 * expiring by itself when the daemon dies, so `hookhost sessions` can show holder and standbys
 * of every host. And the wake key (`["wk", session]`) a standby bumps after it stored something,
 * which the holder watches: on remote KV that wakes it at once; on a local file, where Deno KV
 * tells no other process of a write, the holder's periodic look finds it instead.
 *
 * @module
 */
import { MEMBER, WAKE } from "../kv/keys.ts";

/** A daemon of a session, as its member record gives it. */
export interface Member {
  /** The daemon's id (its lease id). */
  id: string;
  /** Its pid, on `host`. */
  pid: number;
  /** Its host name. */
  host: string;
  /** Whether it drains the inbox (`holder`) or waits to take over (`standby`). */
  role: "holder" | "standby";
  /** Unix ms of its last refresh. */
  seen: number;
}

/** Writes (or refreshes) `member`'s record, kept for `ttlMs` unless refreshed. */
export async function writeMember(
  kv: Deno.Kv,
  session: string,
  options: { member: Member; ttlMs: number },
): Promise<void> {
  await kv.set([MEMBER, session, options.member.id], options.member, {
    expireIn: options.ttlMs,
  });
}

/** Removes daemon `id`'s record (at its graceful stop). */
export async function removeMember(kv: Deno.Kv, session: string, id: string): Promise<void> {
  await kv.delete([MEMBER, session, id]);
}

/**
 * The live daemons of `session`: records refreshed within `staleMs` (default 30 s; expired
 * records may linger in KV a while before Deno deletes them), the holder first.
 */
export async function listMembers(
  kv: Deno.Kv,
  session: string,
  options: { now?: number; staleMs?: number } = {},
): Promise<Member[]> {
  const now = options.now ?? Date.now();
  const out: Member[] = [];
  for await (const e of kv.list<Member>({ prefix: [MEMBER, session] })) {
    if (now - e.value.seen <= (options.staleMs ?? 30_000)) out.push(e.value);
  }
  return out.sort((a, b) => (a.role === b.role ? a.seen - b.seen : a.role === "holder" ? -1 : 1));
}

/** Tells the holder of `session` that something was stored (see the module doc). */
export async function bumpWake(kv: Deno.Kv, session: string): Promise<void> {
  await kv.set([WAKE, session], Date.now());
}

/**
 * Calls `onWake` whenever `session`'s wake key changes, until `signal` aborts (the first value
 * `watch` reports, the current one, is skipped).
 */
export async function watchWake(
  kv: Deno.Kv,
  session: string,
  options: { signal: AbortSignal; onWake: () => void },
): Promise<void> {
  const stream = kv.watch([[WAKE, session]]);
  const reader = stream.getReader();
  const stop = () => reader.cancel().catch(() => {});
  options.signal.addEventListener("abort", stop, { once: true });
  try {
    let first = true;
    while (!options.signal.aborted) {
      const { done } = await reader.read();
      if (done) return;
      if (!first) options.onWake();
      first = false;
    }
  } finally {
    options.signal.removeEventListener("abort", stop);
    reader.releaseLock();
  }
}
