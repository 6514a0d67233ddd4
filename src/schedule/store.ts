/**
 * Durable schedules in KV. A schedule record `["sch", id]` holds when it fires next; firing is
 * one atomic commit that puts the message into the session's inbox (source `schedule`) and moves
 * the record on, so a due run is delivered exactly once. Timers are Deno KV queue messages with
 * a delay: they survive restarts, and each carries the record's current `token`, so timers
 * superseded by a re-arm are ignored. Remote KV has no queues: there the store arms no timers and
 * the session's daemon looks for due schedules every second instead ({@linkcode ScheduleStore.timers}).
 *
 * @module
 */
import { HookhostError } from "../errors.ts";
import { type IdFactory, newId } from "../kv/ids.ts";
import { hasQueues } from "../kv/open.ts";
import { MESSAGE, SCHEDULE } from "../kv/keys.ts";
import { type Message, sourceRank, type StoredMessage } from "../inbox/message.ts";
import { firstRun, nextRun, type ScheduleSpec } from "./spec.ts";

/** A stored schedule. */
export interface ScheduleRecord {
  /** Schedule id. */
  id: string;
  /** Session whose inbox receives the message. */
  session: string;
  /** Message text. */
  message: string;
  /** When it fires. */
  spec: ScheduleSpec;
  /** Next firing (Unix ms). */
  next_at: number;
  /** Creation time (Unix ms). */
  created_at: number;
  /** Times fired so far. */
  fired: number;
  /** Id of the current timer; older timers are stale. */
  token: string;
}

/** The KV queue message of a schedule timer. */
export interface TimerMessage {
  /** Discriminator. */
  kind: "hookhost.schedule";
  /** Schedule id. */
  id: string;
  /** Token of the timer. */
  token: string;
}

/** What {@linkcode ScheduleStore.onTimer} did with a timer it acted on. */
export interface TimerOutcome {
  /** The schedule's session. */
  session: string;
  /** Whether it fired here; `false` when it is due but another session's, left to its own run. */
  fired: boolean;
}

/** Deno KV refuses queue delays beyond 30 days; longer waits re-arm on the way. */
const MAX_DELAY_MS = 30 * 86_400_000;
/** Kept inline in one KV value (see the inbox store). */
export const MAX_SCHEDULE_MESSAGE = 30_000;

/** Whether a queue message is a schedule timer. */
export function isTimer(value: unknown): value is TimerMessage {
  return typeof value === "object" && value !== null &&
    (value as TimerMessage).kind === "hookhost.schedule";
}

/** Options of {@linkcode ScheduleStore}. */
export interface ScheduleStoreOptions {
  /** Clock (Unix ms); default `Date.now`. */
  now?: () => number;
  /** Id factory; default monotonic ULIDs. */
  ids?: IdFactory;
  /** Told about every message a schedule put into an inbox. */
  onFired?: (session: string, message: Message) => void;
  /**
   * Called as a schedule starts putting a message into `session`'s inbox; what it returns is
   * called once that commit is over, done or not (as `InboxStoreOptions.onAdd`).
   */
  onAdd?: (session: string) => () => void;
  /** Whether to arm KV queue timers; default whether `kv` has queues (`hasQueues`). */
  timers?: boolean;
}

/** Adds, lists, removes and fires schedules. */
export class ScheduleStore {
  #kv: Deno.Kv;
  #now: () => number;
  #ids: IdFactory;
  #onFired?: (session: string, message: Message) => void;
  #onAdd?: (session: string) => () => void;
  /** Tokens of timers this process enqueued (and will therefore be woken for). */
  readonly armed: Set<string> = new Set();
  /**
   * Whether schedules have KV queue timers. Without (remote KV), nothing wakes a daemon when
   * one is due: it calls {@linkcode fireDue} periodically.
   */
  readonly timers: boolean;

  /** Uses `kv`. */
  constructor(kv: Deno.Kv, options: ScheduleStoreOptions = {}) {
    this.#kv = kv;
    this.#now = options.now ?? Date.now;
    this.#ids = options.ids ?? newId;
    this.#onFired = options.onFired;
    this.#onAdd = options.onAdd;
    this.timers = options.timers ?? hasQueues(kv);
  }

  #timer(op: Deno.AtomicOperation, record: ScheduleRecord): void {
    if (!this.timers) return;
    const delay = Math.min(MAX_DELAY_MS, Math.max(0, record.next_at - this.#now()));
    const msg: TimerMessage = { kind: "hookhost.schedule", id: record.id, token: record.token };
    op.enqueue(msg, { delay });
    this.armed.add(record.token);
  }

  /** Adds a schedule for `session` and arms its timer. */
  async add(session: string, spec: ScheduleSpec, message: string): Promise<ScheduleRecord> {
    if (!message.trim()) throw new TypeError("Schedule message must not be empty");
    if (message.length > MAX_SCHEDULE_MESSAGE) {
      throw new RangeError(`Schedule message is longer than ${MAX_SCHEDULE_MESSAGE} characters`);
    }
    const now = this.#now();
    const next_at = firstRun(spec, now);
    if (spec.kind === "at" && next_at <= now) {
      throw new RangeError(`Time '${new Date(next_at).toISOString()}' is in the past`);
    }
    const record: ScheduleRecord = {
      id: this.#ids(),
      session,
      message,
      spec,
      next_at,
      created_at: now,
      fired: 0,
      token: this.#ids(),
    };
    const op = this.#kv.atomic().set([SCHEDULE, record.id], record);
    this.#timer(op, record);
    await op.commit();
    return record;
  }

  /** Schedules, soonest first; only `session`'s when given. */
  async list(session?: string): Promise<ScheduleRecord[]> {
    const out: ScheduleRecord[] = [];
    for await (const e of this.#kv.list<ScheduleRecord>({ prefix: [SCHEDULE] })) {
      if (!session || e.value.session === session) out.push(e.value);
    }
    return out.sort((a, b) => a.next_at - b.next_at);
  }

  /** Removes schedule `id`; throws when there is none. */
  async remove(id: string): Promise<ScheduleRecord> {
    const entry = await this.#kv.get<ScheduleRecord>([SCHEDULE, id]);
    if (!entry.value) {
      throw new HookhostError("no_schedule", `No schedule with id '${id}'`);
    }
    await this.#kv.delete([SCHEDULE, id]);
    return entry.value;
  }

  /**
   * Fires `entry` if it is due: one atomic commit puts the message into the inbox and moves the
   * schedule on (or deletes a one-off). Returns the session fired into, or `null`.
   */
  async #fire(entry: Deno.KvEntry<ScheduleRecord>): Promise<string | null> {
    const r = entry.value;
    const now = this.#now();
    if (r.next_at > now) return null;
    const message: StoredMessage = {
      id: this.#ids(),
      source: "schedule",
      label: `schedule ${r.id}`,
      content: r.message,
      ts: now,
      attempts: 0,
    };
    const op = this.#kv.atomic().check(entry)
      .set([MESSAGE, r.session, sourceRank("schedule"), message.id], message);
    const next = nextRun(r.spec, r.next_at, now);
    if (next === null) {
      op.delete(entry.key);
    } else {
      const moved = { ...r, next_at: next, fired: r.fired + 1, token: this.#ids() };
      op.set(entry.key, moved);
      this.#timer(op, moved);
    }
    const done = this.#onAdd?.(r.session);
    let result: Deno.KvCommitResult | Deno.KvCommitError;
    try {
      result = await op.commit();
    } finally {
      done?.();
    }
    if (!result.ok) return null;
    this.#onFired?.(r.session, { ...message, content: r.message });
    return r.session;
  }

  /** Fires every due schedule (of `session`, when given). Returns the sessions fired into. */
  async fireDue(session?: string): Promise<Set<string>> {
    const fired = new Set<string>();
    const now = this.#now();
    for await (const e of this.#kv.list<ScheduleRecord>({ prefix: [SCHEDULE] })) {
      if (session && e.value.session !== session) continue;
      if (e.value.next_at > now) continue;
      const s = await this.#fire(e);
      if (s) fired.add(s);
    }
    return fired;
  }

  /**
   * Arms a timer in this process for every schedule (of `session`) whose current timer was set
   * by some other process, which may not be alive to be woken by it.
   */
  async armForeign(session?: string): Promise<void> {
    if (!this.timers) return;
    for await (const e of this.#kv.list<ScheduleRecord>({ prefix: [SCHEDULE] })) {
      if ((session && e.value.session !== session) || this.armed.has(e.value.token)) continue;
      const moved = { ...e.value, token: this.#ids() };
      const op = this.#kv.atomic().check(e).set(e.key, moved);
      this.#timer(op, moved);
      await op.commit();
    }
  }

  /**
   * Handles a timer from the KV queue (which delivers to whichever process on the database
   * dequeues it): fires its schedule when due and the timer is current, re-arms a long wait that
   * the 30-day delay cap cut short. With `options.session`, a due schedule of another session is
   * not fired here: only a session's own runs fire its schedules, so a stopped session's pile up
   * nowhere and fire once when it next runs ({@linkcode fireDue}). Returns what happened.
   */
  async onTimer(
    timer: TimerMessage,
    options: { session?: string } = {},
  ): Promise<TimerOutcome | null> {
    const entry = await this.#kv.get<ScheduleRecord>([SCHEDULE, timer.id]);
    if (!entry.value || entry.value.token !== timer.token) return null;
    if (entry.value.next_at > this.#now()) {
      const moved = { ...entry.value, token: this.#ids() };
      const op = this.#kv.atomic().check(entry as Deno.KvEntry<ScheduleRecord>).set(
        entry.key,
        moved,
      );
      this.#timer(op, moved);
      await op.commit();
      return null;
    }
    const owner = entry.value.session;
    if (options.session && owner !== options.session) return { session: owner, fired: false };
    const fired = await this.#fire(entry as Deno.KvEntry<ScheduleRecord>);
    return fired ? { session: fired, fired: true } : null;
  }
}
