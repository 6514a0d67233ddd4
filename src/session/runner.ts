/**
 * The session runner: takes messages from the inbox in drain order, writes them to the output,
 * runs the optional handler with retries and backoff, and only then removes them. A crash at
 * any point leaves unfinished messages in the inbox, so they are processed after a restart
 * (at-least-once, with the same id).
 *
 * @module
 */
import type { Logger } from "../output/log.ts";
import type { Spawner } from "../exec/spawn.ts";
import type { InboxStore } from "../inbox/store.ts";
import type { Message } from "../inbox/message.ts";
import type { OutputSink } from "../output/sink.ts";
import type { StorageHealth } from "../kv/storage_health.ts";
import { LostLeaseError } from "../kv/fence.ts";
import { DirectGate } from "./direct_gate.ts";
import { Notifier, sleep } from "./notifier.ts";

/** The session handler settings (`[session]` in the config). */
export interface HandlerSettings {
  /** Absolute path of the handler executable. */
  command: string;
  /** Per-attempt timeout in ms. */
  timeoutMs: number;
  /** Attempts before a message becomes a dead letter. */
  maxAttempts: number;
  /** First retry delay in ms; doubles per attempt, capped at 5 minutes. */
  backoffMs: number;
}

/** Options of {@linkcode SessionRunner}. */
export interface RunnerOptions {
  /**
   * Told of failed KV writes: a storage error (disk full) while draining is then retried with
   * backoff (1 s doubling to 30 s) instead of ending `run()`; none by default.
   */
  storage?: StorageHealth;
  /** Session name. */
  session: string;
  /** The inbox store. */
  store: InboxStore;
  /** Where records go. */
  sink: OutputSink;
  /** Where problems are logged. */
  log: Logger;
  /** Runs the handler; required with `handler`. */
  spawner: Spawner;
  /** The optional handler. */
  handler?: HandlerSettings;
  /** Messages taken per batch without a handler; default 256. */
  batchSize?: number;
  /** Aborting kills a running handler (shutdown past its grace). */
  hardStop?: AbortSignal;
  /** Told when a message starts and ends processing (events). */
  onStatus?: (message: Message, status: "running" | "completed" | "failed") => void;
  /**
   * The session's lease, when daemons may share the inbox (lease.ts): nothing is printed unless
   * it is `valid()`, every write to the inbox carries its `fence()`, and `run()` ends with
   * `LostLeaseError` once it is lost. None: this runner is the only drainer.
   */
  lease?: RunnerLease;
}

/** What the runner needs of the session's lease (`SessionLease`). */
export interface RunnerLease {
  /** Whether printing is safe now. */
  valid(): boolean;
  /** The check of the lease's fencing record; throws `LostLeaseError` when it is not held. */
  fence(): Deno.AtomicCheck;
}

const MAX_BACKOFF_MS = 5 * 60_000;
const decoder = new TextDecoder();

/** Drains a session's inbox. */
export class SessionRunner {
  #o: RunnerOptions;
  #notifier = new Notifier();
  /** Whether {@linkcode deliver} may skip the inbox; follows every look at it. */
  #gate: DirectGate;
  /** Messages fully processed since start. */
  processed = 0;

  /** See {@linkcode RunnerOptions}. */
  constructor(options: RunnerOptions) {
    if (options.handler) {
      const h = options.handler;
      if (!(h.maxAttempts >= 1)) throw new RangeError("maxAttempts must be >= 1");
      if (!(h.timeoutMs > 0)) throw new RangeError("timeoutMs must be > 0");
    }
    this.#o = options;
    this.#gate = new DirectGate({
      sink: options.sink,
      disabled: options.handler !== undefined,
      hardStop: options.hardStop,
    });
  }

  /** Tells the runner new messages may be waiting. */
  wake(): void {
    this.#gate.mayHaveMore();
    this.#notifier.wake();
  }

  /**
   * Says a message is being stored in this session's inbox: until the returned function is
   * called (once it is durable, or failed), and after that until the runner looked at the inbox
   * again, {@linkcode deliver} takes nothing, so that no later message overtakes it.
   */
  hold(): () => void {
    return this.#gate.hold();
  }

  /** Whether {@linkcode deliver} would take messages now. */
  accepts(): boolean {
    return this.#gate.accepts();
  }

  /**
   * Resolves whether {@linkcode deliver} takes messages now, after waiting for the look at the
   * inbox in progress, or for the one after the last batch being written (see
   * {@linkcode DirectGate.whenAccepting}).
   */
  whenAccepting(): Promise<boolean> {
    return this.#gate.whenAccepting();
  }

  /**
   * Processes `messages` at once, without storing them, when that is the same as storing them
   * and draining: inside `run()`, with no handler, the inbox found empty since the last
   * `wake()`, and the output keeping up. Resolves true once their `injected` records were
   * written; false when it did not take them (nothing written), or when the output failed
   * (they may have been written): the caller then stores them.
   */
  async deliver(messages: readonly Message[]): Promise<boolean> {
    const { sink } = this.#o;
    if (!this.#gate.accepts() || (this.#o.lease && !this.#o.lease.valid())) return false;
    for (const m of messages) {
      this.#o.onStatus?.(m, "running");
      sink.write(injected(m));
    }
    try {
      // The scheduled write: under load, the records of many requests share one.
      await sink.written();
    } catch {
      return false;
    }
    this.processed += messages.length;
    for (const m of messages) this.#o.onStatus?.(m, "completed");
    return true;
  }

  /**
   * Processes messages until the inbox is empty or `signal` aborts (the message in hand is
   * finished first).
   */
  async drain(signal?: AbortSignal): Promise<void> {
    while (!signal?.aborted) {
      const more = this.#o.handler ? await this.#handleOne(signal) : await this.#batch();
      if (!more) return;
    }
  }

  /**
   * Drains, then waits for `wake()` (or `recheckMs`, to catch writes made by other processes)
   * and drains again, until `signal` aborts.
   */
  async run(signal: AbortSignal, options: { recheckMs?: number } = {}): Promise<void> {
    const recheck = options.recheckMs ?? 1000;
    const stop = () => this.#gate.stop();
    signal.addEventListener("abort", stop, { once: true });
    if (!signal.aborted) this.#gate.start();
    let failures = 0;
    try {
      while (!signal.aborted) {
        try {
          await this.drain(signal);
          failures = 0;
        } catch (e) {
          // The disk is full or failing: what is stored stays stored; try again later.
          if (!this.#o.storage?.failed(e)) throw e;
          const wait = Math.min(1000 * 2 ** failures++, 30_000);
          await this.#notifier.wait(wait, signal);
          continue;
        }
        await this.#notifier.wait(recheck, signal);
      }
    } finally {
      signal.removeEventListener("abort", stop);
      stop();
    }
  }

  /** The fence of the writes to the inbox, after checking the lease is still good to print. */
  #fence(): Deno.AtomicCheck | undefined {
    const { lease, session } = this.#o;
    if (!lease) return undefined;
    if (!lease.valid()) throw new LostLeaseError(session);
    return lease.fence();
  }

  async #batch(): Promise<boolean> {
    const { store, sink, session } = this.#o;
    const size = this.#o.batchSize ?? 256;
    const batch = await this.#gate.look(() => store.peek(session, size), size);
    if (!batch.length) return false;
    const fence = this.#fence();
    for (const m of batch) {
      this.#o.onStatus?.(m, "running");
      sink.write(injected(m));
    }
    await sink.flush();
    await store.ack(session, batch, { fence });
    this.processed += batch.length;
    for (const m of batch) this.#o.onStatus?.(m, "completed");
    return true;
  }

  async #handleOne(signal?: AbortSignal): Promise<boolean> {
    const { store, sink, session, log } = this.#o;
    const handler = this.#o.handler!;
    const [m] = await store.peek(session, 1);
    if (!m) return false;
    const fence = this.#fence();
    // A message with attempts was shown before a crash or restart; show it only once. So its
    // record must reach the output before the attempt is recorded: a crash between the two
    // would otherwise leave a message that no run ever shows.
    if (m.attempts === 0) {
      sink.write(injected(m));
      await sink.flush();
    }
    this.#o.onStatus?.(m, "running");
    while (true) {
      m.attempts++;
      await store.recordAttempt(session, m, { fence });
      const error = await this.#attempt(m, handler);
      if (error !== null && this.#o.hardStop?.aborted) {
        // Killed by shutdown, not failed: the attempt does not count; the message stays.
        m.attempts--;
        await store.recordAttempt(session, m, { fence });
        return false;
      }
      if (error === null) {
        await store.ack(session, [m], { fence });
        this.processed++;
        this.#o.onStatus?.(m, "completed");
        return true;
      }
      log.warn("session '{session}': handler failed for {id} (attempt {n} of {max}): {error}", {
        session,
        id: m.id,
        n: m.attempts,
        max: handler.maxAttempts,
        error,
      });
      if (m.attempts >= handler.maxAttempts) {
        await store.bury(session, m, { error, fence });
        sink.write({
          type: "error",
          message: `Message ${m.id} moved to dead letters after ${m.attempts} attempt(s): ${error}`,
        });
        await sink.flush();
        this.#o.onStatus?.(m, "failed");
        return true;
      }
      await store.recordAttempt(session, m, { error, fence });
      const delay = Math.min(handler.backoffMs * 2 ** (m.attempts - 1), MAX_BACKOFF_MS);
      sink.write({
        type: "status",
        message:
          `Handler failed for ${m.id} (attempt ${m.attempts} of ${handler.maxAttempts}): ${error}; retrying in ${
            formatMs(delay)
          }`,
      });
      await sleep(delay, signal);
      if (signal?.aborted) return false;
    }
  }

  /** Runs the handler once; `null` on success, else why it failed. */
  async #attempt(m: Message, handler: HandlerSettings): Promise<string | null> {
    const { sink, session, spawner } = this.#o;
    let result;
    try {
      result = await spawner.run(handler.command, {
        stdin: m.content,
        env: { HOOKHOST_SESSION: session, HOOKHOST_SOURCE: m.source, HOOKHOST_MESSAGE_ID: m.id },
        timeoutMs: handler.timeoutMs,
        signal: this.#o.hardStop,
      });
    } catch (e) {
      return (e as Error).message;
    }
    if (result.timedOut) return `timed out after ${formatMs(handler.timeoutMs)}`;
    if (result.code !== 0) {
      const stderr = decoder.decode(result.stderr.subarray(0, 2048)).trim();
      const how = result.code === null ? `killed by ${result.signal}` : `exit code ${result.code}`;
      return stderr ? `${how}: ${stderr}` : how;
    }
    const reply = decoder.decode(result.stdout).trim();
    // A holder paused past its lease while the handler ran prints nothing more: the message
    // stays, and the daemon that took the lease over runs it again.
    if (this.#o.lease && !this.#o.lease.valid()) throw new LostLeaseError(session);
    if (reply) sink.write({ type: "reply", id: m.id, content: reply });
    await sink.flush();
    return null;
  }
}

function injected(m: Message) {
  return {
    type: "injected" as const,
    id: m.id,
    source_kind: m.source,
    source_label: m.label,
    content: m.content,
    ...(m.request_id === undefined ? {} : { request_id: m.request_id }),
  };
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${+(ms / 1000).toFixed(3)} s`;
}
