/**
 * The host end of a plugin Worker's call channel: handler calls get ids and one shared deadline
 * timer, and go to the Worker in batches — while a batch is unanswered, the calls made meanwhile
 * wait and go together as the next (one message and one wake-up of the Worker for many calls).
 * The Worker's answers settle them. What the channel carries is in protocol.ts.
 *
 * @module
 */
import { HookhostError } from "../errors.ts";
import {
  type Call,
  type Done,
  type FromWorker,
  packCalls,
  type ToWorker,
  unpackDone,
  type WireResult,
} from "./protocol.ts";
import type { PluginPort } from "./plugin_process.ts";

/** A handler call before it has an id. */
export type Invoke = Call extends infer C ? C extends Call ? Omit<C, "id"> : never : never;

/** Bodies of a batch from this many bytes on are transferred to the Worker rather than copied. */
const TRANSFER_BYTES = 64 * 1024;

/** Options of {@linkcode WorkerChannel}. */
export interface WorkerChannelOptions {
  /** How long a call may wait for its answer, in ms. */
  timeoutMs: number;
  /** The error a call past its deadline is rejected with. */
  timeoutError: () => Error;
  /** Told after the oldest call ran past its deadline (and was rejected): the Worker hangs. */
  onTimeout: () => void;
  /** Told about every answer, before its call settles (a call that threw: `ok: false`). */
  onDone?: (done: Done) => void;
  /** Gets every message that is not an answer to a call (`call`, `log`, …). */
  onMessage: (msg: Exclude<FromWorker, { t: "done" }>) => void;
}

interface Waiter {
  resolve: (r?: WireResult) => void;
  reject: (e: Error) => void;
  /** `performance.now()` past which it has timed out. */
  deadline: number;
}

/** Calls to one Worker; see the module doc. */
export class WorkerChannel {
  #worker: PluginPort;
  #o: WorkerChannelOptions;
  #nextId = 1;
  /** Calls awaiting an answer, oldest first (one timeout for all, so also by deadline). */
  #pending = new Map<number, Waiter>();
  #sweep: ReturnType<typeof setTimeout> | undefined;
  /** Calls made while the Worker had a batch unanswered: they go together as the next one. */
  #queue: Call[] = [];
  /** A batch of calls is with the Worker, unanswered. */
  #batchOut = false;
  #closed = false;

  /** Takes over `worker`'s messages. */
  constructor(worker: PluginPort, options: WorkerChannelOptions) {
    if (!(options.timeoutMs > 0)) throw new RangeError("timeoutMs must be > 0");
    this.#worker = worker;
    this.#o = options;
    worker.onmessage = (e: MessageEvent<FromWorker>) => this.#receive(e.data);
  }

  /** Calls awaiting their answer. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Runs a handler in the Worker: resolves with its result, rejects with a `plugin_error` when it
   * threw, with `timeoutError()` past the deadline, and with the error of {@linkcode close}.
   */
  invoke(call: Invoke): Promise<WireResult | undefined> {
    if (this.#closed) return Promise.reject(new Error("The channel is closed"));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, deadline: performance.now() + this.#o.timeoutMs });
      // One timer per channel, not one per call: it is armed for the oldest call's deadline.
      this.#sweep ??= setTimeout(() => this.#expire(), this.#o.timeoutMs);
      const withId = { ...call, id } as Call;
      if (this.#batchOut) this.#queue.push(withId);
      else this.#send([withId]);
    });
  }

  /** Posts a message that is not a call (e.g. a reply to the Worker's own `call`). */
  post(msg: ToWorker): void {
    if (!this.#closed) this.#worker.postMessage(msg);
  }

  /** Terminates the Worker and rejects every call still waiting with `error()`. Idempotent. */
  close(error: () => Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#worker.terminate();
    clearTimeout(this.#sweep);
    this.#sweep = undefined;
    for (const [, p] of this.#pending) p.reject(error());
    this.#pending.clear();
    this.#queue = [];
  }

  #receive(msg: FromWorker): void {
    // A terminated Worker's last words: its calls were settled when it was closed.
    if (this.#closed) return;
    if (msg.t !== "done") return this.#o.onMessage(msg);
    for (const done of unpackDone(msg)) this.#settle(done);
    if (msg.batch) {
      this.#batchOut = false;
      if (this.#queue.length) this.#send(this.#queue);
    }
  }

  #settle(done: Done): void {
    const waiter = this.#pending.get(done.id);
    this.#pending.delete(done.id);
    this.#o.onDone?.(done);
    if (done.ok) waiter?.resolve(done.result);
    else waiter?.reject(new HookhostError("plugin_error", done.error));
  }

  /** Sends `calls` as one batch (see `ToWorker` "calls"). */
  #send(calls: Call[]): void {
    this.#queue = [];
    this.#batchOut = true;
    const msg = { t: "calls", ...packCalls(calls) } satisfies ToWorker;
    // The bodies' buffer is this batch's own: large bodies are moved, not copied a second time.
    // (A transfer list costs more than copying a few small bodies.)
    if (msg.body.length >= TRANSFER_BYTES) this.#worker.postMessage(msg, [msg.body.buffer]);
    else this.#worker.postMessage(msg);
  }

  /** Fails the oldest call if it ran past its deadline; otherwise waits for that deadline. */
  #expire(): void {
    this.#sweep = undefined;
    const first = this.#pending.entries().next();
    if (first.done) return;
    const [id, waiter] = first.value;
    const left = waiter.deadline - performance.now();
    if (left > 0) {
      this.#sweep = setTimeout(() => this.#expire(), left);
      return;
    }
    this.#pending.delete(id);
    waiter.reject(this.#o.timeoutError());
    this.#o.onTimeout();
  }
}
