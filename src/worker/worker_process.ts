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
    const out = readLines(child.stdout, options.onLine);
    const err = readLines(child.stderr, options.onStderr);
    this.exited = (async () => {
      const status = await child.status;
      await Promise.allSettled([out, err]);
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

/** Calls `onLine` with each line of `stream` (without its newline; a last one without too). */
async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  const dec = new TextDecoder();
  let buf = "";
  let dropping = false;
  for await (const chunk of stream) {
    buf += dec.decode(chunk, { stream: true });
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!dropping) onLine(line.endsWith("\r") ? line.slice(0, -1) : line);
      dropping = false;
    }
    if (buf.length > MAX_LINE) {
      // An endless line: hand on what fits, drop the rest of it.
      if (!dropping) onLine(buf.slice(0, MAX_LINE));
      buf = "";
      dropping = true;
    }
  }
  buf += dec.decode();
  if (buf && !dropping) onLine(buf);
}
