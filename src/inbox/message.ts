/**
 * What an inbox holds: messages from five sources, drained in priority order.
 *
 * @module
 */

/** The five sources, highest priority first (the drain order). */
export const SOURCES = ["schedule", "background", "skill", "inject", "webhook"] as const;

/** Where a message came from. */
export type Source = typeof SOURCES[number];

/** Priority rank of a source: 0 is drained first. */
export function sourceRank(source: Source): number {
  const rank = SOURCES.indexOf(source);
  if (rank < 0) throw new TypeError(`Unknown source '${source}'`);
  return rank;
}

/** Whether `value` names a source. */
export function isSource(value: unknown): value is Source {
  return typeof value === "string" && (SOURCES as readonly string[]).includes(value);
}

/** A message to add to an inbox. */
export interface NewMessage {
  /** Where it comes from. */
  source: Source;
  /** Human label, e.g. `webhook github-push`; defaults to the source. */
  label?: string;
  /** The message text. */
  content: string;
  /** Id to store it under; default a fresh monotonic ULID. */
  id?: string;
  /** The id of the webhook request it came from. */
  request_id?: string;
}

/** A message in an inbox. */
export interface Message {
  /** Monotonic ULID; stable across retries, restarts and replays. */
  id: string;
  /** Where it came from. */
  source: Source;
  /** Human label, e.g. `webhook github-push`. */
  label: string;
  /** The message text. */
  content: string;
  /** When it entered the inbox (Unix ms). */
  ts: number;
  /** Handler attempts made so far. */
  attempts: number;
  /** Last handler error, if any. */
  last_error?: string;
  /** The id of the webhook request it came from (`X-Request-Id`), if any. */
  request_id?: string;
}

/** A message that exhausted its handler attempts. */
export interface DeadLetter extends Message {
  /** When it was moved to the dead letters (Unix ms). */
  failed_at: number;
  /** Why the last attempt failed. */
  error: string;
}

/** Message as stored: content inline, or in `chunks` chunk records when large. */
export interface StoredMessage extends Omit<Message, "content"> {
  /** Inline content (absent when chunked). */
  content?: string;
  /** Number of chunk records holding the UTF-8 content. */
  chunks?: number;
}
