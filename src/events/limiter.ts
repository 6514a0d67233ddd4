/**
 * A concurrency cap with a bounded in-memory queue: at most `max` tasks run at once, up to
 * `queueLimit` wait, and what overflows is refused, counted and reported, never dropped silently.
 *
 * @module
 */
import { HookhostError } from "../errors.ts";

/** The queue was full. */
export class QueueFullError extends HookhostError {
  /** Says how full. */
  constructor(limit: number) {
    super("queue_full", `Event hook queue is full (${limit} waiting)`);
  }
}

/** Runs tasks with a concurrency cap. */
export class Limiter {
  readonly #max: number;
  readonly #queueLimit: number;
  #active = 0;
  #waiting: (() => void)[] = [];
  #idle: (() => void)[] = [];
  /** Tasks refused because the queue was full, since start. */
  overflowed = 0;
  /** Highest number of tasks seen running at once. */
  peak = 0;

  /** At most `max` at once, at most `queueLimit` waiting. */
  constructor(max: number, queueLimit: number) {
    if (!(Number.isInteger(max) && max >= 1)) throw new RangeError(`max must be >= 1, got ${max}`);
    if (!(queueLimit >= 0)) throw new RangeError(`queueLimit must be >= 0, got ${queueLimit}`);
    this.#max = max;
    this.#queueLimit = queueLimit;
  }

  /** Tasks running now. */
  get active(): number {
    return this.#active;
  }

  /** Tasks waiting now. */
  get queued(): number {
    return this.#waiting.length;
  }

  /** Runs `task` when a slot is free; rejects with {@linkcode QueueFullError} on overflow. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.#max) {
      if (this.#waiting.length >= this.#queueLimit) {
        this.overflowed++;
        throw new QueueFullError(this.#queueLimit);
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#active++;
    }
    this.peak = Math.max(this.peak, this.#active);
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      // The slot passes straight to the next waiter, so `active` never exceeds `max`.
      if (next) next();
      else {
        this.#active--;
        if (this.#active === 0) { for (const r of this.#idle.splice(0)) r(); }
      }
    }
  }

  /** Resolves when nothing runs or waits. */
  idle(): Promise<void> {
    if (this.#active === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }
}
