/**
 * One persistent worker process: the hook's script started once, in a process group of its own
 * (so a kill reaches what it started), killed by the kernel if the daemon dies however it dies
 * (util-linux `setpriv --pdeathsig KILL`, where there is one), with lines in on stdin and lines
 * out on stdout, and its stderr handed on line by line.
 *
 * @module
 */
import { setprivPath, setsidPath } from "../exec/mod.ts";

/** Options of {@linkcode WorkerProcess}. */
export interface WorkerProcessOptions {
  /** The worker's environment (nothing else is inherited). */
  env: Record<string, string>;
  /** Working directory; default the daemon's. */
  cwd?: string;
  /** Each line the worker writes to stdout. */
  onLine: (line: string) => void;
  /** Each line the worker writes to stderr. */
  onStderr: (line: string) => void;
}

/** Characters of one stdout or stderr line kept at most; the rest of the line is dropped. */
export const MAX_LINE = 16 * 1024 * 1024;

/** How long after a worker exited its pipes are still read, in ms. */
const PIPE_WAIT_MS = 500;

/** How a worker process ended. */
export interface WorkerExit {
  /** Exit code, or `null` when a signal ended it. */
  code: number | null;
  /** The signal that ended it, if one did. */
  signal: Deno.Signal | null;
}

/** A running worker process. */
export class WorkerProcess {
  /** Its pid (it leads its process group). */
  readonly pid: number;
  /** Settles once it exited and its output was read. */
  readonly exited: Promise<WorkerExit>;
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #enc = new TextEncoder();
  #closed = false;
  /** Lines written in this task, sent at its end in one write (BENCHMARKS.md). */
  #queued: string[] = [];
  #group: boolean;

  /** Starts `script`; throws when it cannot be started (missing, not executable). */
  constructor(script: string, options: WorkerProcessOptions) {
    const setsid = setsidPath();
    const setpriv = setprivPath();
    let list = [script];
    if (setsid) list = [setsid, "--", ...list];
    if (setpriv) list = [setpriv, "--pdeathsig", "KILL", "--", ...list];
    // Without setsid, `detached` makes the group (a setsid() in a fork of the runtime).
    this.#group = Deno.build.os !== "windows";
    if (setsid || setpriv) {
      // Their exec of the script would report a missing one as their own exit 127.
      const info = Deno.statSync(script);
      if (!info.isFile) throw new Deno.errors.NotFound(`'${script}' is not a file`);
      if (!((info.mode ?? 0o100) & 0o111)) {
        throw new Deno.errors.PermissionDenied(`'${script}' is not executable`);
      }
    }
    const child = this.#child = new Deno.Command(list[0], {
      args: list.slice(1),
      cwd: options.cwd,
      env: options.env,
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      detached: !setsid && this.#group,
    }).spawn();
    this.pid = this.#child.pid;
    this.#writer = this.#child.stdin.getWriter();
    // A worker that died leaves writes failing: its requests are answered by the exit.
    this.#writer.closed.catch(() => {});
    const stopReading = new AbortController();
    const out = readLines(child.stdout, options.onLine, stopReading.signal);
    const err = readLines(child.stderr, options.onStderr, stopReading.signal);
    this.exited = (async () => {
      const status = await child.status;
      // What it wrote before it exited is read; a descendant of another session that still
      // holds its pipes (not reached by the group kill) does not hold the exit back.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<void>((r) => (timer = setTimeout(r, PIPE_WAIT_MS)));
      await Promise.race([Promise.allSettled([out, err]), late]);
      clearTimeout(timer);
      stopReading.abort();
      return { code: status.signal ? null : status.code, signal: status.signal };
    })();
  }

  /** Writes `line` and a newline to its stdin; false once stdin is closed or broken. */
  write(line: string): boolean {
    if (this.#closed) return false;
    if (this.#queued.push(line) === 1) queueMicrotask(() => this.#flush());
    return true;
  }

  #flush(): void {
    const lines = this.#queued;
    this.#queued = [];
    if (!lines.length) return;
    this.#writer.write(this.#enc.encode(lines.join("\n") + "\n")).catch(() => {});
  }

  /** Closes its stdin: a worker that reads to the end then exits. */
  closeStdin(): void {
    if (this.#closed) return;
    this.#closed = true;
    // What was written before goes out first.
    this.#flush();
    this.#writer.close().catch(() => {});
  }

  /** Kills its process group (the worker and what it started). */
  kill(): void {
    this.#closed = true;
    try {
      Deno.kill(this.#group ? -this.pid : this.pid, "SIGKILL");
    } catch {
      try {
        Deno.kill(this.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  }
}

/**
 * Calls `onLine` with each line of `stream` (without its newline; a last one without too) until
 * it ends or `signal` aborts. A line is searched for in each new chunk only and joined once, so
 * a long one costs its length, not its length squared; past {@linkcode MAX_LINE} characters the
 * rest of it is dropped.
 */
async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const dec = new TextDecoder();
  const reader = stream.getReader();
  const cancel = () => reader.cancel().catch(() => {});
  signal.addEventListener("abort", cancel, { once: true });
  let parts: string[] = [];
  let held = 0;
  let dropping = false;
  const emit = (tail: string) => {
    if (!dropping) {
      const line = parts.length ? parts.join("") + tail : tail;
      onLine(line.endsWith("\r") ? line.slice(0, -1) : line);
    }
    parts = [];
    held = 0;
    dropping = false;
  };
  const take = (text: string) => {
    let from = 0;
    let nl;
    while ((nl = text.indexOf("\n", from)) >= 0) {
      emit(text.slice(from, nl));
      from = nl + 1;
    }
    const rest = text.slice(from);
    if (!rest || dropping) return;
    parts.push(rest);
    held += rest.length;
    if (held > MAX_LINE) {
      // An endless line: hand on what fits, drop the rest of it.
      onLine(parts.join("").slice(0, MAX_LINE));
      parts = [];
      held = 0;
      dropping = true;
    }
  };
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      take(dec.decode(value, { stream: true }));
    }
    take(dec.decode());
    if (parts.length && !dropping) emit("");
  } catch {
    // Cancelled, or the pipe broke: what was read was handed on.
  } finally {
    signal.removeEventListener("abort", cancel);
  }
}
