/**
 * The event bus: `emit()` fires an event at the matching hooks of hooks.json (and at
 * subscribers, such as plugins), all concurrently and in the background, under a concurrency
 * cap. Callers never wait on hooks, except through `emitAndWait()` (`hookhost emit`).
 *
 * @module
 */
import type { Logger } from "../output/log.ts";
import { processSpawner, type Spawner } from "../exec/spawn.ts";
import { type EventData, type HookResult, runEventHook } from "./execute.ts";
import { type EventHook, type HooksConfig, type HooksFile, matchingHooks } from "./hooks_file.ts";
import { Limiter, QueueFullError } from "./limiter.ts";

const NO_HOOKS: HooksConfig = new Map();

/** Something told of events (plugins' `on` handlers): all, or those it says it wants. */
export type Subscriber = (data: EventData) => void | Promise<unknown>;

/** Options of {@linkcode EventBus}. */
export interface EventBusOptions {
  /** Where failures are logged. */
  log: Logger;
  /** Runs command hooks; default real processes. */
  spawner?: Spawner;
  /** Hook runs at once; default 8. */
  maxConcurrent?: number;
  /** Hook runs waiting at most; more are refused and counted; default 10000. */
  queueLimit?: number;
  /** Clock (Unix ms); default `Date.now`. */
  now?: () => number;
  /** Aborting kills running command hooks and cancels http hooks. */
  signal?: AbortSignal;
}

function describe(hook: EventHook): string {
  return hook.type === "command" ? `command '${hook.command}'` : `http ${hook.method} ${hook.url}`;
}

/** Fires events at hooks and subscribers. */
export class EventBus {
  #file: HooksFile | null;
  #o: Required<Omit<EventBusOptions, "signal">> & { signal?: AbortSignal };
  #limiter: Limiter;
  /** One more cap per target (a command, an http origin), inside the global one. */
  #targets = new Map<string, Limiter>();
  /** Subscribers, each with the events it wants (all when absent). */
  #subscribers = new Map<Subscriber, ((event: string) => boolean) | undefined>();
  #background = new Set<Promise<unknown>>();
  /** When a refusal was last logged (`now()`), and how many were refused by then. */
  #overflowLoggedAt = -Infinity;
  #overflowLogged = 0;
  /** Hook runs refused, by event. */
  #refusedBy = new Map<string, number>();
  /** Hook runs finished and failed, by event. */
  #ranBy = new Map<string, { runs: number; failures: number }>();

  /** Fires at the hooks of `file` (none when `null`). */
  constructor(file: HooksFile | null, options: EventBusOptions) {
    this.#file = file;
    this.#o = {
      spawner: processSpawner,
      maxConcurrent: 8,
      queueLimit: 10_000,
      now: Date.now,
      ...options,
    };
    this.#limiter = new Limiter(this.#o.maxConcurrent, this.#o.queueLimit);
  }

  /** Hook runs refused because the queue was full, since start. */
  get overflowed(): number {
    // Counted where refused, synchronously: a storm's first log line already sees all of it.
    let n = this.#limiter.overflowed;
    for (const t of this.#targets.values()) n += t.overflowed;
    return n;
  }

  /** Hook runs refused since start, by event name. */
  refusals(): Record<string, number> {
    return Object.fromEntries(this.#refusedBy);
  }

  /** Hook runs since start by event name: finished, failed (of those) and refused. */
  stats(): Record<string, { runs: number; failures: number; refused: number }> {
    const out: Record<string, { runs: number; failures: number; refused: number }> = {};
    for (const [event, r] of this.#ranBy) out[event] = { ...r, refused: 0 };
    for (const [event, n] of this.#refusedBy) {
      const ran = this.#ranBy.get(event) ?? { runs: 0, failures: 0 };
      out[event] = { ...ran, refused: n };
    }
    return out;
  }

  /** Most hook runs seen at once. */
  get peakConcurrency(): number {
    return this.#limiter.peak;
  }

  /**
   * Adds a subscriber, told of every event, or only of those `wants` says yes to when it is
   * given; returns a function that removes it.
   */
  subscribe(fn: Subscriber, wants?: (event: string) => boolean): () => void {
    this.#subscribers.set(fn, wants);
    return () => this.#subscribers.delete(fn);
  }

  /**
   * Whether {@linkcode emit} of `event` may reach anything now: a hook for it in hooks.json (or
   * a file changed since it was read), or a subscriber that wants it. Callers on a hot path ask
   * first, to build no parameters for nobody.
   */
  listens(event: string): boolean {
    const config = this.#file ? this.#file.unchanged() : NO_HOOKS;
    return config === null || config.has(event) || this.#wanted(event);
  }

  #wanted(event: string): boolean {
    for (const wants of this.#subscribers.values()) if (!wants || wants(event)) return true;
    return false;
  }

  /** The event data for `event` (docs/event-hooks.md). */
  data(event: string, params: Record<string, unknown> = {}): EventData {
    return { event, fullEvent: `event-${event}`, params, timestamp: this.#o.now() };
  }

  /** Fires `event` in the background; never throws, never waits. */
  emit(event: string, params: Record<string, unknown> = {}): void {
    // The common case under load: no hook matches. Then the event costs no promise of its own.
    const config = this.#file ? this.#file.unchanged() : NO_HOOKS;
    if (config && !matchingHooks(config, event, params).length) {
      if (this.#wanted(event)) this.#notify(this.data(event, params));
      return;
    }
    const data = this.data(event, params);
    this.#track(
      this.#dispatch(data, false).catch((e) =>
        this.#o.log.error("event '{event}' could not be dispatched: {error}", {
          event,
          error: (e as Error)?.message ?? String(e),
        })
      ),
    );
  }

  /** Fires `event` and waits for every matching hook (each bounded by its timeout). */
  async emitAndWait(event: string, params: Record<string, unknown> = {}): Promise<HookResult[]> {
    return await this.#dispatch(this.data(event, params), true);
  }

  /** Resolves once every background hook run has finished. */
  async idle(): Promise<void> {
    while (this.#background.size) await Promise.allSettled([...this.#background]);
  }

  #track(p: Promise<unknown>): void {
    this.#background.add(p);
    // Tracked promises are handled by their creators; this chain must not reject on its own.
    p.finally(() => this.#background.delete(p)).catch(() => {});
  }

  /** Tells the subscribers (plugins); their work runs in the background. */
  #notify(data: EventData): void {
    for (const [sub, wants] of this.#subscribers) {
      if (wants && !wants(data.event)) continue;
      try {
        const r = sub(data);
        if (r instanceof Promise) this.#track(r.catch((e) => this.#subscriberFailed(data, e)));
      } catch (e) {
        this.#subscriberFailed(data, e);
      }
    }
  }

  async #dispatch(data: EventData, wait: boolean): Promise<HookResult[]> {
    this.#notify(data);
    if (!this.#file) return [];
    const hooks = matchingHooks(await this.#file.current(), data.event, data.params);
    const runs = hooks.map((hook) => this.#runOne(hook, data, wait));
    return (await Promise.all(runs)).filter((r): r is HookResult => r !== null);
  }

  /**
   * The limiter of `hook`'s target: its command line, or its URL's origin. Each target may use
   * half the global slots (at least one), so one slow target cannot take them all.
   */
  #target(hook: EventHook): Limiter {
    let key: string;
    if (hook.type === "command") key = `command ${hook.command}`;
    else {
      try {
        key = `http ${new URL(hook.url).origin}`;
      } catch {
        key = `http ${hook.url}`;
      }
    }
    let limiter = this.#targets.get(key);
    if (!limiter) {
      const share = Math.max(1, Math.floor(this.#o.maxConcurrent / 2));
      limiter = new Limiter(share, this.#o.queueLimit);
      this.#targets.set(key, limiter);
    }
    return limiter;
  }

  async #runOne(hook: EventHook, data: EventData, wait: boolean): Promise<HookResult | null> {
    const { log, spawner, signal } = this.#o;
    try {
      // A run first takes a slot of its target, then a global one: runs that hang on one target
      // (an http endpoint that never answers) hold at most its share of the global slots, and
      // runs waiting for that target hold none, so other hooks keep running meanwhile.
      const result = await this.#target(hook).run(() =>
        this.#limiter.run(() => runEventHook(hook, data, { spawner, signal }))
      );
      const ran = this.#ranBy.get(data.event) ?? { runs: 0, failures: 0 };
      this.#ranBy.set(data.event, {
        runs: ran.runs + 1,
        failures: ran.failures + (result.ok ? 0 : 1),
      });
      if (!result.ok) {
        log.error("event '{event}' hook {hook} ({where}) failed: {error}{output}", {
          event: data.event,
          hook: describe(hook),
          where: hook.where,
          error: result.error,
          output: result.output ? `; output: ${result.output}` : "",
        });
      } else if (result.output) {
        log.info("event '{event}' hook {hook}: {output}", {
          event: data.event,
          hook: describe(hook),
          output: result.output,
        });
      }
      return result;
    } catch (e) {
      if (!(e instanceof QueueFullError)) throw e;
      // Counted always, by event; logged at most once a second while refusing, so a storm
      // neither floods the log nor goes by with one line.
      this.#refusedBy.set(data.event, (this.#refusedBy.get(data.event) ?? 0) + 1);
      const at = this.#o.now();
      if (at - this.#overflowLoggedAt >= 1000) {
        this.#overflowLoggedAt = at;
        log.warn(
          "event '{event}' hook {hook} not run: {reason}; {since} refused since the last such line, {count} in all",
          {
            event: data.event,
            hook: describe(hook),
            reason: e.message,
            since: this.overflowed - this.#overflowLogged,
            count: this.overflowed,
          },
        );
        this.#overflowLogged = this.overflowed;
      }
      const refused: HookResult = {
        hook,
        ok: false,
        timedOut: false,
        durationMs: 0,
        output: "",
        error: e.message,
      };
      return wait ? refused : null;
    }
  }

  #subscriberFailed(data: EventData, e: unknown): void {
    this.#o.log.error("event '{event}' subscriber failed: {error}", {
      event: data.event,
      error: (e as Error).message,
    });
  }
}
