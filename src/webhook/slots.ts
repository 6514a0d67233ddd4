/**
 * Admission of a script hook's requests: slots (at most `concurrency` scripts at once, at most
 * `queue` requests waiting for a turn, in arrival order, so a flood costs waiting requests and
 * never processes), the methods it answers and the paths it can read.
 *
 * @module
 */
import { type Middleware, text } from "./chain.ts";

/** A counting semaphore with a bounded wait list. */
export class Slots {
  #running = 0;
  #waiting: (() => void)[] = [];

  /** `concurrency` at once (at least 1), at most `queue` waiting. */
  constructor(readonly concurrency: number, readonly queue: number) {
    if (!(concurrency >= 1)) throw new RangeError(`concurrency must be >= 1, got ${concurrency}`);
  }

  /** Requests running now. */
  get running(): number {
    return this.#running;
  }

  /** Requests waiting now. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Resolves with a release function once a slot is free; `null` at once when the queue is full. */
  acquire(): Promise<(() => void) | null> {
    if (this.#running < this.concurrency) {
      this.#running++;
      return Promise.resolve(this.#release());
    }
    if (this.#waiting.length >= this.queue) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiting.push(() => resolve(this.#release())));
  }

  #release(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.#waiting.shift();
      // The slot passes straight to the next in line.
      if (next) next();
      else this.#running--;
    };
  }
}

/**
 * A step answering 405 with `Allow` to a method not in `methods` (`"*"` allows any): a hook
 * meant for POSTs runs nothing for a crawler's GET.
 */
export function methodsStep(methods: readonly string[]): Middleware | null {
  if (methods.includes("*")) return null;
  const allowed = new Set(methods);
  const allow = methods.join(", ");
  return (ctx, next) => {
    if (allowed.has(ctx.request.method)) return next();
    const answer = text(405, `Method '${ctx.request.method}' is not allowed; use ${allow}\n`);
    answer.headers.set("allow", allow);
    return Promise.resolve(answer);
  };
}

/**
 * A step answering 400 to a path whose percent-encoding is malformed (`/%ZZ`): scripts get the
 * path decoded nowhere, but a path nothing can decode is a client's error, never a 500 later.
 */
export const pathStep: Middleware = (ctx, next): Promise<Response> => {
  const path = ctx.request.url.replace(/^[a-z]+:\/\/[^/]*/i, "").replace(/[?#].*$/s, "");
  try {
    decodeURIComponent(path);
  } catch {
    return Promise.resolve(text(400, "Malformed percent-encoding in the path\n"));
  }
  return next();
};
