/**
 * The durable inbox: one ordered keyspace per session in Deno KV. Keys are
 * `["m", session, sourceRank, id]`, so a prefix scan yields messages in drain order: by source
 * priority, then first-in-first-out by monotonic id. A message is deleted only when acknowledged.
 *
 * @module
 */
import { CHUNK, DEAD, MESSAGE } from "../kv/keys.ts";
import { type IdFactory, newId } from "../kv/ids.ts";
import { HookhostError } from "../errors.ts";
import { commitFenced } from "../kv/fence.ts";
import { type Entry, GroupCommit } from "./group_commit.ts";
import {
  type DeadLetter,
  type Message,
  type NewMessage,
  type Source,
  sourceRank,
  SOURCES,
  type StoredMessage,
} from "./message.ts";
import { concatBytes } from "../bytes.ts";

/** Strings up to this many UTF-16 units fit one KV value (64 KiB) whatever their characters. */
const INLINE_CHARS = 30_000;
const CHUNK_BYTES = 64_000;
const CHUNKS_PER_COMMIT = 10;
const MUTATIONS_PER_COMMIT = 900;
/** Longest message label: a label is stored inline with the message record. */
const MAX_LABEL = 1024;

/** Options of {@linkcode InboxStore}. */
export interface InboxStoreOptions {
  /** Id factory; default the process-wide monotonic ULID factory. */
  ids?: IdFactory;
  /** Clock in Unix ms; default `Date.now`. */
  now?: () => number;
  /**
   * Called as an `add()` to `session` starts; what it returns is called once that add is over,
   * durable or failed. Lets a runner know a message may be on its way into the inbox.
   */
  onAdd?: (session: string) => () => void;
}

function messageKey(session: string, m: { source: Source; id: string }): Deno.KvKey {
  return [MESSAGE, session, sourceRank(m.source), m.id];
}

/** Reads and writes inboxes and dead letters in one KV database. */
export class InboxStore {
  /** The KV database. */
  readonly kv: Deno.Kv;
  #ids: IdFactory;
  #now: () => number;
  #group: GroupCommit;
  #onAdd: ((session: string) => () => void) | undefined;

  /** Uses `kv`; see {@linkcode InboxStoreOptions} for the seams. */
  constructor(kv: Deno.Kv, options: InboxStoreOptions = {}) {
    this.kv = kv;
    this.#ids = options.ids ?? newId;
    this.#now = options.now ?? Date.now;
    this.#group = new GroupCommit(kv);
    this.#onAdd = options.onAdd;
  }

  /**
   * Adds messages to `session`'s inbox. Resolves once every one is durable; concurrent calls
   * share KV commits. `also` are more writes (e.g. the delete of the job a message came from)
   * committed with the message records: all or nothing, as long as they fit one commit.
   */
  async add(
    session: string,
    items: readonly NewMessage[],
    options: { also?: readonly Entry[] } = {},
  ): Promise<Message[]> {
    const messages = this.prepare(items);
    const done = this.#onAdd?.(session);
    try {
      await this.#commit(session, messages, options.also ?? []);
    } finally {
      done?.();
    }
    return messages;
  }

  async #commit(
    session: string,
    messages: readonly Message[],
    also: readonly Entry[],
  ): Promise<void> {
    const entries: Entry[] = [];
    for (const m of messages) {
      const { content, ...meta } = m;
      let stored: StoredMessage = m;
      if (content.length > INLINE_CHARS) {
        // Chunks first: the message record's commit is what makes the message exist.
        stored = { ...meta, chunks: await this.#writeChunks(session, m.id, content) };
      }
      entries.push({
        key: messageKey(session, m),
        value: stored,
        size: 200 + m.label.length * 2 + (stored.content?.length ?? 0) * 2,
      });
    }
    await this.#group.write([...entries, ...also]);
  }

  /**
   * The messages `add()` would store, with their ids and timestamps, without storing them (for
   * a message delivered at once). Throws `RangeError` for an unknown source or a long label.
   */
  prepare(items: readonly NewMessage[]): Message[] {
    return items.map((item) => {
      if ((item.label?.length ?? 0) > MAX_LABEL) {
        throw new RangeError(`Label is longer than ${MAX_LABEL} characters`);
      }
      sourceRank(item.source);
      return {
        id: item.id ?? this.#ids(),
        source: item.source,
        label: item.label ?? item.source,
        content: item.content,
        ts: this.#now(),
        attempts: 0,
        ...(item.request_id === undefined ? {} : { request_id: item.request_id }),
      };
    });
  }

  async #writeChunks(session: string, id: string, content: string): Promise<number> {
    const bytes = new TextEncoder().encode(content);
    const count = Math.ceil(bytes.length / CHUNK_BYTES);
    for (let first = 0; first < count; first += CHUNKS_PER_COMMIT) {
      const op = this.kv.atomic();
      for (let n = first; n < Math.min(count, first + CHUNKS_PER_COMMIT); n++) {
        op.set([CHUNK, session, id, n], bytes.subarray(n * CHUNK_BYTES, (n + 1) * CHUNK_BYTES));
      }
      await op.commit();
    }
    return count;
  }

  async #load(session: string, stored: StoredMessage): Promise<Message> {
    if (stored.content !== undefined || !stored.chunks) {
      return { ...stored, content: stored.content ?? "" };
    }
    const parts: Uint8Array[] = [];
    for await (const e of this.kv.list<Uint8Array>({ prefix: [CHUNK, session, stored.id] })) {
      parts.push(e.value);
    }
    return { ...stored, content: new TextDecoder().decode(concatBytes(parts)) };
  }

  /** The first `limit` pending messages of `session`, in drain order, content loaded. */
  async peek(session: string, limit = 1): Promise<Message[]> {
    const out: Message[] = [];
    const iter = this.kv.list<StoredMessage>({ prefix: [MESSAGE, session] }, {
      limit,
      batchSize: Math.min(limit, 500),
    });
    for await (const e of iter) out.push(await this.#load(session, e.value));
    return out;
  }

  /** Every pending message of `session` in drain order (content loaded). */
  async list(session: string): Promise<Message[]> {
    return await this.peek(session, Number.MAX_SAFE_INTEGER);
  }

  /** Pending message count of `session` per source. */
  async pending(session: string): Promise<Record<Source, number>> {
    const counts = Object.fromEntries(SOURCES.map((s) => [s, 0])) as Record<Source, number>;
    for (const source of SOURCES) {
      const prefix = [MESSAGE, session, sourceRank(source)];
      for await (const _ of this.kv.list({ prefix }, { batchSize: 1000 })) counts[source]++;
    }
    return counts;
  }

  /**
   * Removes processed messages (and their chunks) from `session`'s inbox. With `fence` (the
   * session lease's check), nothing is removed unless the lease is still held: then it throws
   * `LostLeaseError`.
   */
  async ack(
    session: string,
    messages: readonly Message[],
    options: { fence?: Deno.AtomicCheck } = {},
  ): Promise<void> {
    const keys: Deno.KvKey[] = [];
    for (const m of messages) keys.push(messageKey(session, m));
    if (options.fence) {
      // Fenced writes commit alone: one failed check must not fail others' messages.
      for (let i = 0; i < keys.length; i += MUTATIONS_PER_COMMIT) {
        const op = this.kv.atomic();
        for (const key of keys.slice(i, i + MUTATIONS_PER_COMMIT)) op.delete(key);
        await commitFenced(op, options.fence, { session });
      }
    } else {
      // Through the group commit: under load, deletes share commits with new messages.
      await this.#group.write(keys.map((key) => ({ key, value: null, size: 100, delete: true })));
    }
    // Chunk deletes come after: a crash between leaves unreferenced chunks, never a half message.
    await this.#deleteAll(await this.#chunkKeys(session, messages));
  }

  async #chunkKeys(session: string, messages: readonly Message[]): Promise<Deno.KvKey[]> {
    const keys: Deno.KvKey[] = [];
    for (const m of messages) {
      if (m.content.length <= INLINE_CHARS) continue;
      for await (const e of this.kv.list({ prefix: [CHUNK, session, m.id] })) keys.push(e.key);
    }
    return keys;
  }

  async #deleteAll(keys: readonly Deno.KvKey[]): Promise<void> {
    for (let i = 0; i < keys.length; i += MUTATIONS_PER_COMMIT) {
      const op = this.kv.atomic();
      for (const key of keys.slice(i, i + MUTATIONS_PER_COMMIT)) op.delete(key);
      await op.commit();
    }
  }

  /**
   * Records a handler attempt (and its `error`) on a pending message; with `fence`, only while
   * the session's lease is held (as {@linkcode ack}).
   */
  async recordAttempt(
    session: string,
    message: Message,
    options: { error?: string; fence?: Deno.AtomicCheck } = {},
  ): Promise<void> {
    const key = messageKey(session, message);
    const current = await this.kv.get<StoredMessage>(key);
    if (!current.value) return;
    const next: StoredMessage = { ...current.value, attempts: message.attempts };
    if (options.error !== undefined) next.last_error = options.error;
    // Under a lease only its holder changes a pending message: a failed check is the fence's.
    await commitFenced(this.kv.atomic().check(current).set(key, next), options.fence, { session });
  }

  /**
   * Moves a pending message to `session`'s dead letters, failed with `options.error`; with
   * `fence`, only while the session's lease is held (as {@linkcode ack}).
   */
  async bury(
    session: string,
    message: Message,
    options: { error: string; fence?: Deno.AtomicCheck },
  ): Promise<DeadLetter> {
    const { error } = options;
    const key = messageKey(session, message);
    const current = await this.kv.get<StoredMessage>(key);
    const base = current.value ?? { ...message };
    const dead = { ...base, attempts: message.attempts, failed_at: this.#now(), error };
    const op = this.kv.atomic().delete(key).set([DEAD, session, message.id], dead);
    await commitFenced(op, options.fence, { session });
    return { ...dead, content: message.content };
  }

  /** `session`'s dead letters, oldest first. */
  async dead(session: string): Promise<DeadLetter[]> {
    const out: DeadLetter[] = [];
    type StoredDead = StoredMessage & { failed_at: number; error: string };
    for await (const e of this.kv.list<StoredDead>({ prefix: [DEAD, session] })) {
      out.push(await this.#load(session, e.value) as DeadLetter);
    }
    return out;
  }

  /**
   * Moves dead letters back into the inbox with their attempts reset: those named by `ids`, or
   * all. Unknown ids are an error and nothing is moved.
   */
  async replay(session: string, ids?: readonly string[]): Promise<string[]> {
    const stored = new Map<string, Deno.KvEntry<StoredMessage>>();
    for await (const e of this.kv.list<StoredMessage>({ prefix: [DEAD, session] })) {
      stored.set(e.value.id, e);
    }
    const wanted = ids?.length ? [...new Set(ids)] : [...stored.keys()];
    const missing = wanted.filter((id) => !stored.has(id));
    if (missing.length) {
      throw new HookhostError(
        "no_dead_letter",
        `No dead letter ${missing.map((id) => `'${id}'`).join(", ")} in session '${session}'`,
      );
    }
    for (const id of wanted) {
      const entry = stored.get(id)!;
      const { failed_at: _f, error: _e, last_error: _l, ...rest } = entry.value as
        & StoredMessage
        & { failed_at?: number; error?: string };
      const revived: StoredMessage = { ...rest, attempts: 0 };
      await this.kv.atomic().check(entry).delete(entry.key)
        .set(messageKey(session, revived), revived).commit();
    }
    return wanted;
  }
}
