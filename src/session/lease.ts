/**
 * One drainer per session across daemons sharing a KV store: a lease in KV.
 *
 * The lease record (`["ls", session]`) names its holder and when it expires; the holder renews
 * it every third of its time to live, another daemon takes it only once it has expired (or was
 * released), with an atomic check on the record, so two can never hold it at once. Taking it
 * rewrites the fencing record (`["lf", session]`): every write the holder makes to the inbox
 * (acks, attempts, dead letters) checks that record's versionstamp, so a holder that lost the
 * lease without knowing it (paused by SIGSTOP, cut off from remote KV) changes nothing.
 *
 * Printing cannot be fenced by KV, so the holder also keeps time itself: it counts the lease as
 * valid only for three quarters of its time to live after its last renewal was sent, by its own
 * monotonic clock. A paused holder resumes with a lease it no longer counts as valid, and prints
 * nothing before it has renewed, which fails if another daemon took over meanwhile.
 *
 * @module
 */
import { LostLeaseError } from "../kv/fence.ts";
import { LEASE, LEASE_FENCE } from "../kv/keys.ts";
import { sleep } from "./notifier.ts";

/** The default time to live of a lease, in ms (`[session] lease_ttl`). */
export const DEFAULT_LEASE_TTL_MS = 10_000;

/** What the lease record holds. */
export interface LeaseRecord {
  /** The holding daemon's id (random per start). */
  holder: string;
  /** Fencing token: one more at every change of holder. */
  token: number;
  /** Unix ms past which another daemon may take it. */
  expires: number;
  /** The holder's pid and host name, for `sessions`. */
  pid: number;
  /** The holder's host. */
  host: string;
  /** Unix ms since it holds it. */
  since: number;
  /** The session lock its holder held (`OpenSessionOptions.lockName`), if any. */
  lock?: string;
}

export { LostLeaseError };

/** Options of {@linkcode SessionLease}. */
export interface LeaseOptions {
  /** Time to live in ms; default {@linkcode DEFAULT_LEASE_TTL_MS}. */
  ttlMs?: number;
  /** Wall clock in Unix ms, for the expiry in KV; default `Date.now`. */
  now?: () => number;
  /** Monotonic clock in ms, for the holder's own count; default `performance.now`. */
  monotonic?: () => number;
  /** This daemon's id; default a random UUID. */
  id?: string;
  /** Host name shown to others; default `Deno.hostname()`. */
  host?: string;
  /**
   * The session lock this daemon holds: a lease recorded under the same lock is a dead
   * process's (this one holds the lock now) and is taken over without waiting for it to expire.
   */
  lock?: string;
}

interface Held {
  token: number;
  /** Versionstamp of the lease record as this holder last wrote it. */
  versionstamp: string;
  /** Versionstamp of the fencing record written when the lease was taken. */
  fence: string;
  /** Monotonic time before the last successful renewal (or the taking) was sent. */
  renewedAt: number;
  since: number;
}

/** A daemon's side of a session's lease. */
export class SessionLease {
  /** This daemon's id. */
  readonly id: string;
  /** Time to live in ms. */
  readonly ttlMs: number;
  #kv: Deno.Kv;
  #session: string;
  #now: () => number;
  #mono: () => number;
  #host: string;
  #lock: string | undefined;
  #held: Held | null = null;
  #waiters: (() => void)[] = [];
  #lost = new Set<() => void>();

  /** The lease of `session` in `kv`, as daemon `options.id` sees it. */
  constructor(kv: Deno.Kv, session: string, options: LeaseOptions = {}) {
    this.#kv = kv;
    this.#session = session;
    this.ttlMs = options.ttlMs ?? DEFAULT_LEASE_TTL_MS;
    if (!(this.ttlMs >= 100)) throw new RangeError(`ttlMs must be >= 100, got ${this.ttlMs}`);
    this.#now = options.now ?? Date.now;
    this.#mono = options.monotonic ?? (() => performance.now());
    this.id = options.id ?? crypto.randomUUID();
    this.#host = options.host ?? safeHostname();
    this.#lock = options.lock;
  }

  /** Whether this daemon holds the lease and may still count on it (see the module doc). */
  valid(): boolean {
    return this.#held !== null && this.#mono() < this.#held.renewedAt + this.ttlMs * 0.75;
  }

  /** Whether this daemon took the lease and has not seen it lost (it may no longer be valid). */
  get held(): boolean {
    return this.#held !== null;
  }

  /**
   * The check every write of the holder to the inbox carries; throws {@linkcode LostLeaseError}
   * when the lease is not held.
   */
  fence(): Deno.AtomicCheck {
    if (!this.#held) throw new LostLeaseError(this.#session);
    return { key: [LEASE_FENCE, this.#session], versionstamp: this.#held.fence };
  }

  /** The lease record, or `null` when nobody holds it. */
  current(): Promise<LeaseRecord | null> {
    return readLease(this.#kv, this.#session, this.#now());
  }

  /**
   * Takes the lease if nobody holds it (or it expired), or renews it if this daemon holds it.
   * Resolves whether this daemon holds it afterwards; a renewal that finds another holder calls
   * the loss listeners.
   */
  async refresh(): Promise<boolean> {
    const key = [LEASE, this.#session];
    const sent = this.#mono();
    const wall = this.#now();
    const [lease, fence] = await this.#kv.getMany<[LeaseRecord, number]>([
      key,
      [LEASE_FENCE, this.#session],
    ]);
    const rec = lease.value;
    const mine = this.#held !== null && rec?.holder === this.id &&
      rec.token === this.#held.token && lease.versionstamp === this.#held.versionstamp;
    if (this.#held && !mine) {
      this.#lose();
      return false;
    }
    const orphaned = this.#lock !== undefined && rec?.lock === this.#lock;
    if (!mine && rec && rec.expires > wall && !orphaned) return false; // Someone else's, alive.
    const token = mine ? this.#held!.token : Math.max(rec?.token ?? 0, fence.value ?? 0) + 1;
    const next: LeaseRecord = {
      holder: this.id,
      token,
      expires: wall + this.ttlMs,
      pid: Deno.pid,
      host: this.#host,
      since: mine ? this.#held!.since : wall,
      ...(this.#lock === undefined ? {} : { lock: this.#lock }),
    };
    const op = this.#kv.atomic().check(lease).set(key, next);
    // Taking it moves the fence: the previous holder's writes fail from now on.
    if (!mine) op.check(fence).set([LEASE_FENCE, this.#session], token);
    const res = await op.commit();
    if (!res.ok) {
      if (mine) this.#lose();
      return false;
    }
    this.#held = {
      token,
      versionstamp: res.versionstamp,
      fence: mine ? this.#held!.fence : res.versionstamp,
      renewedAt: sent,
      since: next.since,
    };
    if (!mine) { for (const w of this.#waiters.splice(0)) w(); }
    return true;
  }

  /** Resolves once this daemon holds the lease, or when `signal` aborts. */
  whenHeld(signal: AbortSignal): Promise<void> {
    if (this.#held || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.#waiters.push(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  /** Calls `listener` when this daemon learns it lost the lease; returns the unsubscribe. */
  onLost(listener: () => void): () => void {
    this.#lost.add(listener);
    return () => this.#lost.delete(listener);
  }

  #lose(): void {
    this.#held = null;
    for (const l of [...this.#lost]) l();
  }

  /**
   * Keeps the lease until `signal` aborts: renews it while held, takes it when it is free, and
   * looks again when the holder's lease is due to expire. `onError` hears failed KV calls (they
   * are tried again at the next turn); `delayFirst` waits a turn before the first try (the
   * caller just made one).
   */
  async maintain(
    signal: AbortSignal,
    options: { onError?: (e: unknown) => void; delayFirst?: boolean } = {},
  ) {
    const period = this.ttlMs / 3;
    if (options.delayFirst) await sleep(period, signal);
    while (!signal.aborted) {
      let wait = period;
      try {
        if (!(await this.refresh())) {
          // Look again just after the holder's lease would expire, if that is sooner.
          const rec = await this.current();
          if (rec) wait = Math.min(period, Math.max(10, rec.expires - this.#now() + 10));
        }
      } catch (e) {
        options.onError?.(e);
      }
      await sleep(wait, signal);
    }
  }

  /** Gives the lease up (when held), so that a standby takes over at once. */
  async release(): Promise<void> {
    const held = this.#held;
    if (!held) return;
    this.#held = null;
    const key = [LEASE, this.#session];
    await this.#kv.atomic().check({ key, versionstamp: held.versionstamp }).delete(key).commit();
  }
}

/** `session`'s lease record in `kv`, or `null` when nobody holds it at Unix ms `now`. */
export async function readLease(
  kv: Deno.Kv,
  session: string,
  now: number = Date.now(),
): Promise<LeaseRecord | null> {
  const e = await kv.get<LeaseRecord>([LEASE, session]);
  return e.value && e.value.expires > now ? e.value : null;
}

/** This machine's host name, or `unknown` when it cannot be read. */
export function safeHostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}
