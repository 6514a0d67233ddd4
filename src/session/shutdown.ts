/**
 * A session's graceful stop: once asked to stop it refuses new work at once and closes its
 * sockets; what is in flight gets the grace period, then the hard stop kills running scripts and
 * handlers and cuts slow request bodies, and a short while later the wait for the sockets ends
 * whatever a client still holds open.
 *
 * @module
 */
import type { Logger } from "../output/log.ts";

/** Options of {@linkcode Shutdown}. */
export interface ShutdownOptions {
  /** From the stop request to the hard stop, in ms (`[session] shutdown_grace`). */
  graceMs: number;
  /** Closes the sockets and waits for their requests in flight; default nothing. */
  close?: () => Promise<void>;
  /** How long after the hard stop the wait for `close` is given up, in ms; default 2000. */
  cutoffMs?: number;
  /** Where a failure of `close` is logged (debug). */
  log?: Logger;
}

/** The stop sequence of one session. */
export class Shutdown {
  #o: ShutdownOptions;
  #requested = new AbortController();
  #hard = new AbortController();
  #grace: ReturnType<typeof setTimeout> | undefined;
  #closing: Promise<void> | null = null;
  #unlink: (() => void)[] = [];

  /** See {@linkcode ShutdownOptions}. */
  constructor(options: ShutdownOptions) {
    this.#o = options;
  }

  /** Aborts when a stop is requested. */
  get signal(): AbortSignal {
    return this.#requested.signal;
  }

  /** Aborts when the grace period is over (or at once on {@linkcode abort}). */
  get hard(): AbortSignal {
    return this.#hard.signal;
  }

  /** Whether new work is still taken. */
  get accepting(): boolean {
    return this.#closing === null;
  }

  /** Requests a stop when `signal` aborts (e.g. SIGTERM); undone by {@linkcode dispose}. */
  follow(signal: AbortSignal | undefined): void {
    if (!signal) return;
    const onAbort = () => this.request();
    signal.addEventListener("abort", onAbort, { once: true });
    this.#unlink.push(() => signal.removeEventListener("abort", onAbort));
    if (signal.aborted) onAbort();
  }

  /** Requests a stop: work is refused from now, the grace period starts. Idempotent. */
  request(): void {
    if (this.#requested.signal.aborted) return;
    this.#requested.abort();
    this.#grace = setTimeout(() => this.#hard.abort(), this.#o.graceMs);
    void this.stopAccepting();
  }

  /** Stops at once: the stop request and the hard stop together. */
  abort(): void {
    this.request();
    this.#hard.abort();
  }

  /** Refuses new work and closes the sockets; settles once closed or cut off. Idempotent. */
  stopAccepting(): Promise<void> {
    return this.#closing ??= this.#close();
  }

  async #close(): Promise<void> {
    const hard = this.#hard.signal;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const cutoff = Promise.withResolvers<void>();
    const after = () => timer = setTimeout(cutoff.resolve, this.#o.cutoffMs ?? 2000);
    if (hard.aborted) after();
    else hard.addEventListener("abort", after, { once: true });
    try {
      await Promise.race([this.#o.close?.(), cutoff.promise]);
    } catch (e) {
      this.#o.log?.debug("closing listeners: {error}", { error: (e as Error).message });
    } finally {
      clearTimeout(timer);
      hard.removeEventListener("abort", after);
    }
  }

  /** Clears the grace timer and stops following signals. */
  dispose(): void {
    clearTimeout(this.#grace);
    for (const unlink of this.#unlink.splice(0)) unlink();
  }
}
