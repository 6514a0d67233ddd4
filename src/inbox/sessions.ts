/**
 * The registry of known sessions: a session exists once it has run.
 *
 * @module
 */
import { SESSION } from "../kv/keys.ts";

/** What KV remembers about a session. */
export interface SessionRecord {
  /** Session name. */
  name: string;
  /** First run (Unix ms). */
  created_at: number;
  /** Latest start (Unix ms). */
  started_at: number;
  /** Latest clean stop (Unix ms), if any after the latest start. */
  stopped_at?: number;
  /** Pid of the latest start. */
  pid: number;
}

/** Session names: letters, digits, `.`, `_` and `-`, starting with a letter or digit. */
export const SESSION_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Records that `name` started now in process `pid`. */
export async function recordStart(
  kv: Deno.Kv,
  name: string,
  options: { pid: number; now?: number },
): Promise<SessionRecord> {
  const now = options.now ?? Date.now();
  const prev = await kv.get<SessionRecord>([SESSION, name]);
  const record: SessionRecord = {
    name,
    created_at: prev.value?.created_at ?? now,
    started_at: now,
    pid: options.pid,
  };
  await kv.set([SESSION, name], record);
  return record;
}

/** Records that `name` stopped cleanly. */
export async function recordStop(kv: Deno.Kv, name: string, now = Date.now()): Promise<void> {
  const prev = await kv.get<SessionRecord>([SESSION, name]);
  if (prev.value) await kv.set([SESSION, name], { ...prev.value, stopped_at: now });
}

/** The record of `name`, or `null` when no such session ever ran. */
export async function getSession(kv: Deno.Kv, name: string): Promise<SessionRecord | null> {
  return (await kv.get<SessionRecord>([SESSION, name])).value;
}

/** Every known session, by name. */
export async function listSessions(kv: Deno.Kv): Promise<SessionRecord[]> {
  const out: SessionRecord[] = [];
  for await (const e of kv.list<SessionRecord>({ prefix: [SESSION] })) out.push(e.value);
  return out;
}
