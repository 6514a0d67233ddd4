/**
 * A persistent hook's workers (docs/workers.md): `workers` copies of its script, started with the
 * daemon, each holding up to `max_inflight` requests at once. A request goes to the worker
 * holding the fewest, or waits for one; its answer maps to the outcome a per-request script's run
 * would have. A worker that exits, times out or breaks the protocol is killed with its process
 * group, its other requests fail (500), and it starts again after a backoff (1 s, doubling to
 * 60 s, back to 1 s once a restarted worker answered). `restart()` replaces the workers once
 * their requests are answered (the script changed); `stop()` closes their stdin and kills what
 * is left after the grace.
 *
 * @module
 */
import type { Logger } from "../output/log.ts";
import type { HookRequest } from "../webhook/env.ts";
import { parseAnswer, ProtocolError, requestLine } from "./protocol.ts";
import { WorkerProcess } from "./worker_process.ts";

/** How a request ended, as a sync hook answers it (the shape of a per-request script's run). */
export interface WorkerOutcome {
  /** 200 (a message), 204 (none), 500 (failed), 504 (no answer in time). */
  status: 200 | 204 | 500 | 504;
  /** The 2xx status the worker asked a message to be answered with, if any. */
  answer?: number;
  /** The message (empty unless `status` is 200). */
  output: string;
  /** Wall time in ms, from the request's arrival at the pool. */
  duration_ms: number;
  /** The worker that took it (its index); absent when none did. */
  worker?: number;
}

/** One worker as `sessions` and the metrics show it. */
export interface WorkerStatus {
  /** Its place among the hook's workers, from 0. */
  index: number;
  /** Its pid, or `null` while it is not running (waiting to restart). */
  pid: number | null;
  /** Times it was started again. */
  restarts: number;
  /** Requests it holds now. */
  inflight: number;
}

/** Options of {@linkcode WorkerPool}. */
export interface WorkerPoolOptions {
  /** The hook's name (logs, `hook` of each request). */
  hook: string;
  /** The session's name. */
  session: string;
  /** Absolute path of the script. */
  script: string;
  /** Copies of the script (default 1). */
  workers?: number;
  /** Requests one worker holds at once (default 1). */
  maxInflight?: number;
  /** The workers' environment. */
  env: () => Record<string, string>;
  /** Where failures and the workers' stderr are logged. */
  log: Logger;
  /** First delay before a restart in ms, doubling (default 1000). */
  backoffMs?: number;
  /** Longest delay before a restart in ms (default 60000). */
  maxBackoffMs?: number;
}

interface Pending {
  finish: (o: Omit<WorkerOutcome, "duration_ms">) => void;
  /** `performance.now()` past which it is answered 504 (see `#sweep`). */
  deadline: number;
  /** Answers it 504 and restarts its worker. */
  expire: () => void;
}

/** How often the requests workers hold are checked against their deadlines, in ms. */
const SWEEP_MS = 50;
/** Characters of one stderr line of a worker logged at most. */
const STDERR_LINE = 4096;

interface Slot {
  index: number;
  proc: WorkerProcess | null;
  pending: Map<string, Pending>;
  restarts: number;
  delay: number;
  /** Set when the process must be replaced once its requests are answered. */
  retire: boolean;
  timer?: ReturnType<typeof setTimeout>;
  /** Whether it answered since it last started (resets the backoff). */
  answered: boolean;
}

/** A persistent hook's workers; see the module doc. */
export class WorkerPool {
  #o: WorkerPoolOptions;
  #slots: Slot[];
  #max: number;
  #waiting = new Set<() => void>();
  #next = 0;
  #stopping = false;
  /** One timer for the deadlines of every request held, not one per request (BENCHMARKS.md). */
  #sweeper: ReturnType<typeof setInterval>;

  /** Starts the workers. */
  constructor(options: WorkerPoolOptions) {
    this.#o = options;
    this.#max = options.maxInflight ?? 1;
    this.#slots = Array.from({ length: options.workers ?? 1 }, (_, index) => ({
      index,
      proc: null,
      pending: new Map(),
      restarts: -1,
      delay: options.backoffMs ?? 1000,
      retire: false,
      answered: false,
    }));
    for (const s of this.#slots) this.#start(s);
    this.#sweeper = setInterval(() => this.#sweep(), SWEEP_MS);
    Deno.unrefTimer(this.#sweeper);
  }

  #sweep(): void {
    const now = performance.now();
    for (const s of this.#slots) {
      for (const p of s.pending.values()) if (p.deadline <= now) p.expire();
    }
  }

  /** The workers now. */
  status(): WorkerStatus[] {
    return this.#slots.map((s) => ({
      index: s.index,
      pid: s.proc?.pid ?? null,
      restarts: Math.max(0, s.restarts),
      inflight: s.pending.size,
    }));
  }

  /**
   * Sends `request` to a worker and resolves with the outcome: waits for a worker with room
   * (restarting ones included) for at most `timeoutMs`, which also bounds the answer.
   */
  async run(
    request: HookRequest,
    options: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<WorkerOutcome> {
    const started = performance.now();
    const deadline = started + options.timeoutMs;
    const done = (o: Omit<WorkerOutcome, "duration_ms">): WorkerOutcome => ({
      ...o,
      duration_ms: Math.round(performance.now() - started),
    });
    let slot = this.#free();
    while (!slot) {
      const left = deadline - performance.now();
      if (left <= 0 || this.#stopping || options.signal?.aborted) {
        // A wake-up it took with it goes to the next waiter.
        if (this.#free()) this.#wakeOne();
        this.#o.log.error(
          "hook '{hook}' (request {request_id}): no worker took the request within {timeout} s",
          { ...this.#at(request), timeout: options.timeoutMs / 1000 },
        );
        return done({ status: 504, output: "" });
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      let wake!: () => void;
      await new Promise<void>((resolve) => {
        wake = resolve;
        this.#waiting.add(wake);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      // Woken or not, it no longer waits: a wake-up meant for it must reach someone else.
      this.#waiting.delete(wake);
      slot = this.#free();
      // Room came too late: answered as if none came, rather than sent with no time to answer.
      if (slot && deadline - performance.now() <= 0) slot = null;
    }
    return {
      ...done(await this.#send(slot, request, deadline - performance.now())),
      worker: slot.index,
    };
  }

  #at(request: HookRequest) {
    return { hook: this.#o.hook, request_id: request.requestId ?? "" };
  }

  /** The running worker with room holding the fewest requests, or `null`. */
  #free(): Slot | null {
    if (this.#stopping) return null;
    let best: Slot | null = null;
    for (const s of this.#slots) {
      if (!s.proc || s.retire || s.pending.size >= this.#max) continue;
      if (!best || s.pending.size < best.pending.size) best = s;
    }
    return best;
  }

  #wakeOne(): void {
    const first = this.#waiting.values().next();
    if (first.done) return;
    this.#waiting.delete(first.value);
    first.value();
  }

  #send(slot: Slot, request: HookRequest, ms: number): Promise<Omit<WorkerOutcome, "duration_ms">> {
    const id = String(++this.#next);
    const line = requestLine(id, request, { hook: this.#o.hook, session: this.#o.session });
    return new Promise((resolve) => {
      slot.pending.set(id, {
        deadline: performance.now() + ms,
        expire: () => {
          this.#o.log.error(
            "hook '{hook}' (request {request_id}): worker {index} gave no answer within {timeout} s; its process group is killed and restarted",
            { ...this.#at(request), index: slot.index, timeout: Math.round(ms) / 1000 },
          );
          slot.pending.delete(id);
          resolve({ status: 504, output: "" });
          this.#fail(slot);
        },
        finish: (o) => {
          slot.pending.delete(id);
          resolve(o);
          this.#settled(slot);
        },
      });
      // Its stdin closed under it (it is being replaced or stopped): another try is the caller's.
      if (!slot.proc!.write(line)) slot.pending.get(id)?.finish({ status: 500, output: "" });
    });
  }

  /** After a request of `slot` ended: another may go to it, or it may retire now. */
  #settled(slot: Slot): void {
    if (slot.retire && slot.pending.size === 0 && slot.proc) {
      const proc = slot.proc;
      slot.proc = null;
      proc.closeStdin();
      // Killed if it does not exit on its own (the replacement starts at once); once it has,
      // its group is killed at once: what it left running in it goes too (a group id is not
      // reused while the group has members).
      const kill = setTimeout(() => proc.kill(), 1000);
      proc.exited.then(() => {
        clearTimeout(kill);
        proc.kill();
      });
      slot.retire = false;
      this.#start(slot);
      return;
    }
    this.#wakeOne();
  }

  #onLine(slot: Slot, line: string): void {
    if (!line.trim()) return;
    let answer;
    try {
      answer = parseAnswer(line);
      if (!slot.pending.has(answer.id)) {
        throw new ProtocolError(`it answered "${answer.id}", which it does not hold`);
      }
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.#o.log.error("hook '{hook}': worker {index} broke the protocol ({reason}): {line}", {
        hook: this.#o.hook,
        index: slot.index,
        reason: e.message,
        line: line.length > 200 ? `${line.slice(0, 200)}…` : line,
      });
      this.#fail(slot);
      return;
    }
    slot.answered = true;
    const p = slot.pending.get(answer.id)!;
    if (answer.error !== undefined) {
      this.#o.log.error("hook '{hook}': worker {index} failed a request: {error}", {
        hook: this.#o.hook,
        index: slot.index,
        error: answer.error,
      });
      return p.finish({ status: 500, output: "" });
    }
    const message = answer.message?.trim() ?? "";
    if (!message) return p.finish({ status: 204, output: "" });
    p.finish({ status: 200, output: message, answer: answer.status });
  }

  /** Kills `slot`'s process and fails what it held; it restarts after the backoff. */
  #fail(slot: Slot): void {
    const proc = slot.proc;
    slot.proc = null;
    proc?.kill();
    for (const [id, p] of slot.pending) {
      slot.pending.delete(id);
      p.finish({ status: 500, output: "" });
    }
    this.#later(slot);
  }

  #later(slot: Slot): void {
    if (this.#stopping) return;
    const wait = slot.delay;
    slot.delay = Math.min(slot.delay * 2, this.#o.maxBackoffMs ?? 60_000);
    clearTimeout(slot.timer);
    slot.timer = setTimeout(() => this.#start(slot), wait);
  }

  #start(slot: Slot): void {
    if (this.#stopping) return;
    // A new process runs the script as it is now: nothing left to retire.
    slot.retire = false;
    clearTimeout(slot.timer);
    if (slot.answered) slot.delay = this.#o.backoffMs ?? 1000;
    slot.answered = false;
    slot.restarts++;
    let proc: WorkerProcess;
    try {
      proc = new WorkerProcess(this.#o.script, {
        env: this.#o.env(),
        onLine: (line) => slot.proc === proc && this.#onLine(slot, line),
        onStderr: (line) =>
          this.#o.log.warn("hook '{hook}' worker {index}: {line}", {
            hook: this.#o.hook,
            index: slot.index,
            line: line.length > STDERR_LINE ? `${line.slice(0, STDERR_LINE)}…` : line,
          }),
      });
    } catch (e) {
      this.#o.log.error("hook '{hook}': worker {index} could not start: {reason}", {
        hook: this.#o.hook,
        index: slot.index,
        reason: (e as Error).message,
      });
      return this.#later(slot);
    }
    slot.proc = proc;
    proc.exited.then((exit) => {
      if (slot.proc !== proc) return; // Replaced or killed on purpose.
      if (!this.#stopping) {
        this.#o.log.error("hook '{hook}': worker {index} (pid {pid}) exited with {how}", {
          hook: this.#o.hook,
          index: slot.index,
          pid: proc.pid,
          how: exit.code === null ? exit.signal : `code ${exit.code}`,
        });
      }
      this.#fail(slot);
    });
    // Requests waiting for room may go to it now.
    for (let i = 0; i < this.#max; i++) this.#wakeOne();
  }

  /** Replaces every worker once the requests it holds are answered (the script changed). */
  restart(): void {
    for (const s of this.#slots) {
      if (!s.proc) {
        // Waiting out a backoff: the new script gets its chance now.
        if (!this.#stopping) {
          s.delay = this.#o.backoffMs ?? 1000;
          this.#start(s);
        }
        continue;
      }
      s.retire = true;
      if (s.pending.size === 0) this.#settled(s);
    }
  }

  /**
   * Stops: no new request goes out; each worker's stdin is closed once its requests are
   * answered, and whatever runs after `graceMs` is killed with its process group.
   */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    // Requests waiting for a worker get none now; those held keep their deadlines until the end.
    for (const w of [...this.#waiting]) w();
    const procs: Promise<unknown>[] = [];
    for (const s of this.#slots) {
      clearTimeout(s.timer);
      const proc = s.proc;
      if (!proc) continue;
      procs.push(proc.exited);
      const drained = Promise.all([...s.pending.values()].map((p) =>
        new Promise<void>((r) => {
          const finish = p.finish;
          p.finish = (o) => (finish(o), r());
        })
      ));
      drained.then(() => proc.closeStdin());
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((r) => (timer = setTimeout(r, graceMs)));
    await Promise.race([Promise.all(procs), late]);
    clearTimeout(timer);
    for (const s of this.#slots) {
      const proc = s.proc;
      s.proc = null;
      proc?.kill();
      for (const p of s.pending.values()) p.finish({ status: 500, output: "" });
    }
    await Promise.all(procs);
    clearInterval(this.#sweeper);
  }
}
