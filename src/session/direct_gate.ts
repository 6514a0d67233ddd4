/**
 * The direct-delivery gate of a session runner: whether a message may be written to the output at
 * once, unstored, which is the same as storing it and draining only while the inbox is empty, the
 * runner is draining, no handler must run for it and the output keeps up. The gate follows the
 * runner's looks at the inbox and every message on its way in, so that no message overtakes one
 * stored before it.
 *
 * @module
 */
import type { OutputSink } from "../output/sink.ts";

/**
 * How far the output may lag for messages to be delivered at once: past this many characters
 * queued, or a write waiting {@linkcode MAX_DIRECT_STALL_MS} (a slow reader of stdout), they are
 * stored instead, and KV is the buffer.
 */
export const MAX_DIRECT_BACKLOG = 256 * 1024;
/** See {@linkcode MAX_DIRECT_BACKLOG}; also how long a look may keep a request waiting. */
export const MAX_DIRECT_STALL_MS = 50;

/** Options of {@linkcode DirectGate}. */
export interface DirectGateOptions {
  /** The output: the gate shuts while it lags. */
  sink: Pick<OutputSink, "backlog" | "stalledFor">;
  /** Never opens: every message goes through the inbox (a handler must run for each). */
  disabled?: boolean;
  /** Once aborted, the gate stays shut (shutdown past its grace). */
  hardStop?: AbortSignal;
}

/** Decides whether messages may skip the inbox; see the module doc. */
export class DirectGate {
  #o: DirectGateOptions;
  /** Between `start()` and `stop()`: the runner drains. */
  #live = false;
  /** The last look found the inbox empty and nothing was stored since. */
  #empty = false;
  /** Counts every sign that a message may have entered the inbox. */
  #wakes = 0;
  /** Messages on their way into the inbox (see `hold()`). */
  #holds = 0;
  /** A look at the inbox is in progress. */
  #looking = false;
  /** The batch being processed was smaller than a full one: the next look may find it empty. */
  #tail = false;
  /** Settled when the look in progress, or the next one, ends (see `whenAccepting()`). */
  #looked: PromiseWithResolvers<void> | null = null;

  /** See {@linkcode DirectGateOptions}. */
  constructor(options: DirectGateOptions) {
    this.#o = options;
  }

  /** The runner started draining: the gate may open once a look finds the inbox empty. */
  start(): void {
    this.#live = true;
  }

  /** The runner stopped draining: the gate shuts, and whoever waits is answered. */
  stop(): void {
    this.#live = false;
    this.#empty = false;
    this.#lookEnded();
  }

  /** A message may have entered the inbox: a look in progress cannot vouch for it being empty. */
  mayHaveMore(): void {
    this.#wakes++;
    this.#empty = false;
  }

  /**
   * Says a message is being stored in the inbox: until the returned function is called (once it
   * is durable, or failed), and after that until a look at the inbox, the gate stays shut, so
   * that no later message overtakes it. Calling the function again does nothing.
   */
  hold(): () => void {
    this.#holds++;
    this.mayHaveMore();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#holds--;
      this.mayHaveMore();
    };
  }

  /** Whether messages may be delivered directly now. */
  accepts(): boolean {
    return this.#empty && this.#open();
  }

  /**
   * Resolves whether messages may be delivered directly, after waiting for the look at the inbox
   * in progress, or for the one after the last batch being processed, when that look may find the
   * inbox empty. Waiting costs a request a look (well under a millisecond) or the rest of a short
   * batch (its write, its delete, a look); storing costs it a KV commit, costs the daemon two KV
   * writes and a read, and keeps direct delivery off until the runner has drained it.
   */
  async whenAccepting(): Promise<boolean> {
    // Twice at most: a look that finds a last, short batch is followed by one that finds none.
    for (let i = 0; i < 2; i++) {
      if (this.accepts()) return true;
      if (!this.#open() || !(this.#looking || this.#tail)) return false;
      await this.#nextLook();
    }
    return this.accepts();
  }

  /**
   * Takes a look at the inbox: `peek` reads up to `size` messages. Finding none opens the gate,
   * unless a message may have entered the inbox meanwhile; finding fewer than `size` makes
   * {@linkcode whenAccepting} wait for the next look.
   */
  async look<T>(peek: () => Promise<T[]>, size: number): Promise<T[]> {
    const wakes = this.#wakes;
    this.#empty = false;
    this.#looking = true;
    this.#tail = false;
    let found: T[];
    try {
      found = await peek();
    } finally {
      this.#looking = false;
    }
    // A wake during the look may stand for a message the look did not see.
    if (!found.length) this.#empty = wakes === this.#wakes;
    else this.#tail = found.length < size;
    this.#lookEnded();
    return found;
  }

  /**
   * Settles when the look in progress (or the next) ends, or after the output's stall limit: a
   * batch stuck in a write to a stopped reader of stdout must not hold requests, which are then
   * stored. One timer for all who wait.
   */
  #nextLook(): Promise<void> {
    if (!this.#looked) {
      const looked = this.#looked = Promise.withResolvers<void>();
      const timer = setTimeout(
        () => this.#looked === looked && this.#lookEnded(),
        MAX_DIRECT_STALL_MS,
      );
      looked.promise.then(() => clearTimeout(timer));
    }
    return this.#looked.promise;
  }

  /** Everything {@linkcode accepts} asks but the look's answer. */
  #open(): boolean {
    const { sink } = this.#o;
    return this.#live && this.#holds === 0 && !this.#o.disabled && !this.#o.hardStop?.aborted &&
      sink.backlog <= MAX_DIRECT_BACKLOG && sink.stalledFor() < MAX_DIRECT_STALL_MS;
  }

  /** Lets whoever waits in {@linkcode whenAccepting} ask again. */
  #lookEnded(): void {
    const looked = this.#looked;
    this.#looked = null;
    looked?.resolve();
  }
}
