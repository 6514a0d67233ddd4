/**
 * Running a child process the way hooks and handlers need it: stdin written while stdout and
 * stderr are read (no pipe deadlock on large payloads), a timeout that kills the child's whole
 * process group, and a result instead of an exception for every outcome but "could not start".
 *
 * @module
 */
import { libc } from "./libc.ts";
import { DEFAULT_WAIT_DELAY_MS, NativeSpawner } from "./native_spawn.ts";
import { ChildLostError, SpawnError } from "./errors.ts";
import { niceArgs, niceFailure, nicePath, setsidPath } from "./wrappers.ts";
import { LimitedBuffer } from "../bytes.ts";

export { ChildLostError, DEFAULT_WAIT_DELAY_MS, setsidPath, SpawnError };

/** Options of {@linkcode Spawner.run}. */
export interface RunOptions {
  /** Arguments; default none. */
  args?: string[];
  /** Bytes or text written to stdin, which is then closed; default an empty stdin. */
  stdin?: Uint8Array | string;
  /** Variables added to the inherited environment. */
  env?: Record<string, string>;
  /**
   * The environment to start from in place of this process's own (`env` is added on top); see
   * {@linkcode childEnv}. Pass the same object each time: the posix_spawn path keeps its
   * formatted entries per object.
   */
  baseEnv?: Readonly<Record<string, string>>;
  /** Working directory; default the current one. */
  cwd?: string;
  /** Kill the process group after this many ms; default no timeout. */
  timeoutMs?: number;
  /** Kills the process group when aborted. */
  signal?: AbortSignal;
  /**
   * Once the process has exited, how long its stdout and stderr may stay open and quiet before
   * they are closed and the run is answered with what it wrote (like Go's `exec.Cmd.WaitDelay`):
   * a background child that kept them is not waited out to the timeout, nor killed. Each
   * output read starts the wait anew. Default {@linkcode DEFAULT_WAIT_DELAY_MS}.
   */
  waitDelayMs?: number;
  /** Output kept per stream; more is read and discarded. Default 64 MiB. */
  maxOutputBytes?: number;
  /**
   * CPU priority from 0 (default: as this process) to 19, added to this process's niceness as by
   * `nice(1)` (the sum is capped at 19, the lowest). On both paths the command is run through
   * `nice(1)`, which sets it before the command starts, so no early descendant escapes it. On a
   * machine without `nice(1)`, the posix_spawn path sets it right after the start instead, and
   * the `Deno.Command` path cannot set it.
   *
   * Where Linux schedules each session as a group of its own (`sched_autogroup_enabled`, the
   * default on most distributions), niceness only weighs processes of one session against each
   * other. The posix_spawn path keeps children in this process's session (unless it has a
   * terminal), so a niced script yields to hookhost; the `Deno.Command` path always starts one
   * in a session of its own (see {@linkcode runCommand}), where even `nice` 19 takes as much CPU
   * as all of hookhost.
   */
  nice?: number;
}

/** How a process ended. */
export interface RunResult {
  /** Exit code; `null` when killed by a signal. */
  code: number | null;
  /** Signal that ended it, if any. */
  signal: string | null;
  /** Everything it wrote to stdout (up to the limit). */
  stdout: Uint8Array;
  /** Everything it wrote to stderr (up to the limit). */
  stderr: Uint8Array;
  /** Whether it was killed for running past `timeoutMs`. */
  timedOut: boolean;
  /** Wall time in ms. */
  durationMs: number;
}

/** Starts processes; tests may pass one that fails. */
export interface Spawner {
  /**
   * Runs `command` to completion. Throws {@linkcode SpawnError} if it cannot start and
   * {@linkcode ChildLostError} if its exit status cannot be collected; every other outcome is a
   * result.
   */
  run(command: string, options?: RunOptions): Promise<RunResult>;
}

const DEFAULT_MAX_OUTPUT = 64 * 1024 * 1024;

async function collect(
  stream: ReadableStream<Uint8Array>,
  max: number,
  stop: AbortSignal,
  onData: () => void,
): Promise<Uint8Array> {
  const kept = new LimitedBuffer(max);
  const reader = stream.getReader();
  // Once the child is killed, a descendant that escaped its group must not hold the answer back.
  const cancel = () => void reader.cancel().catch(() => {});
  stop.addEventListener("abort", cancel, { once: true });
  while (true) {
    const { value: chunk, done } = await reader.read().catch(() => ({
      value: undefined,
      done: true,
    }));
    if (done || !chunk) break;
    kept.add(chunk);
    onData();
  }
  stop.removeEventListener("abort", cancel);
  return kept.bytes();
}

/**
 * Kills `pid`'s process group. Only while `pid` itself has not been reaped does a failed group
 * kill fall back to the process: once reaped, its pid may already belong to someone else.
 */
function killGroup(pid: number, reaped = false): void {
  try {
    // The child leads its own process group (see runCommand and NativeSpawner), so -pid reaches
    // its descendants too.
    Deno.kill(-pid, "SIGKILL");
  } catch {
    if (reaped) return;
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/** Throws like a failed spawn would for a path that is missing or not executable. */
function checkStartable(command: string): void {
  if (!command.includes("/")) return; // Looked up on PATH by setsid (or nice) itself.
  const info = Deno.statSync(command);
  if (!info.isFile) throw new Deno.errors.PermissionDenied(`'${command}' is not a file`);
  if (((info.mode ?? 0) & 0o111) === 0) {
    throw new Deno.errors.PermissionDenied("Permission denied (os error 13)");
  }
}

/** setsid's own message when it could not run the command (e.g. a missing interpreter). */
function startFailure(stderr: Uint8Array): string | null {
  const text = new TextDecoder().decode(stderr.subarray(0, 1024));
  const m = /^setsid: failed to execute [^:]*: (.*)$/m.exec(text);
  return m ? m[1] : null;
}

function checkOptions(options: RunOptions): void {
  const { timeoutMs, nice } = options;
  if (nice !== undefined && !(Number.isInteger(nice) && nice >= 0 && nice <= 19)) {
    throw new RangeError(`nice must be a whole number from 0 to 19, got ${nice}`);
  }
  if (timeoutMs !== undefined && !(timeoutMs > 0 && timeoutMs <= 2 ** 31 - 1)) {
    throw new RangeError(`timeoutMs must be from 1 to 2147483647, got ${timeoutMs}`);
  }
}

let native: NativeSpawner | null | undefined;

/**
 * The native spawner, made when the first script starts (see {@linkcode libc}); `null`, for the
 * portable path, when libc cannot be opened or the spawner cannot be set up (say, no epoll).
 */
function nativeSpawner(): NativeSpawner | null {
  if (native === undefined) {
    const lib = libc();
    try {
      native = lib ? new NativeSpawner(lib) : null;
    } catch {
      native = null;
    }
  }
  return native;
}

/**
 * Runs `command` with {@linkcode RunOptions}; the default {@linkcode Spawner}. On Linux it uses
 * `posix_spawn` through FFI (see `native_spawn.ts`), elsewhere — or with
 * `HOOKHOST_SPAWN=command` — {@linkcode runCommand}.
 */
export async function runProcess(command: string, options: RunOptions = {}): Promise<RunResult> {
  checkOptions(options);
  const native = nativeSpawner();
  if (!native?.supports(options)) return await runCommand(command, options);
  try {
    return await native.run(command, options, killGroup);
  } catch (e) {
    // It started, but its end was not seen: no start failure.
    if (e instanceof ChildLostError) throw e;
    throw new SpawnError(command, e);
  }
}

/**
 * {@linkcode runProcess} through `Deno.Command`: portable, and slower, since a process group of
 * its own costs one more exec (util-linux `setsid`) or a fork of the whole runtime.
 */
export async function runCommand(command: string, options: RunOptions = {}): Promise<RunResult> {
  checkOptions(options);
  const { timeoutMs, signal } = options;
  const started = performance.now();
  const setsid = setsidPath();
  // Through nice(1), in front of setsid (whose exec of the command then reports a failure to
  // start as without it), as on the posix_spawn path: see RunOptions.nice.
  const nice = options.nice ? nicePath() : null;
  let list = setsid ? [setsid, "--", command, ...(options.args ?? [])] : [
    command,
    ...(options.args ?? []),
  ];
  if (nice) list = [nice, ...niceArgs(options.nice!, list)];
  let child: Deno.ChildProcess;
  try {
    // The child must lead its own process group so a timeout can kill its descendants too.
    // `setsid` does that and keeps Deno on its fast posix_spawn path; `detached` also does it
    // (a setsid() in a fork of the whole runtime, several times slower under load; Deno 2.9.6
    // honours it in spawn() only, not in output()). Either way the child gets a session of its
    // own, so a scheduling autogroup of its own: see RunOptions.nice.
    if (setsid || nice) checkStartable(command);
    child = new Deno.Command(list[0], {
      args: list.slice(1),
      cwd: options.cwd,
      env: options.baseEnv ? { ...options.baseEnv, ...options.env } : options.env,
      clearEnv: options.baseEnv !== undefined,
      stdin: options.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      detached: !setsid && Deno.build.os !== "windows",
    }).spawn();
  } catch (e) {
    throw new SpawnError(command, e);
  }
  const max = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  const stop = new AbortController();
  let lastOutput = performance.now();
  const onData = () => (lastOutput = performance.now());
  const stdout = collect(child.stdout, max, stop.signal, onData);
  const stderr = collect(child.stderr, max, stop.signal, onData);
  let writing: Promise<void> = Promise.resolve();
  if (options.stdin !== undefined) {
    const bytes = typeof options.stdin === "string"
      ? new TextEncoder().encode(options.stdin)
      : options.stdin;
    const writer = child.stdin.getWriter();
    // A script that exits without reading its stdin breaks the pipe; that is not an error.
    const written = writer.write(bytes).then(() => writer.close()).catch(() => {});
    // Once the child is killed (or lost), a descendant that escaped its group may hold stdin
    // unread for ever, and Deno cannot cancel a write in flight: it is no longer waited for, as
    // the posix_spawn path closes its end then.
    const stopped = new Promise<void>((resolve) => {
      stop.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    writing = Promise.race([written, stopped]);
  }

  let timedOut = false;
  let killed = false;
  let reaped = false;
  // A failed wait (something else reaped it) leaves the pid free for reuse just the same.
  void child.status.then(() => (reaped = true), () => (reaped = true));
  const kill = () => {
    if (!killed) {
      killed = true;
      killGroup(child.pid, reaped);
      stop.abort();
    }
  };
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    kill();
  }, timeoutMs);
  signal?.addEventListener("abort", kill, { once: true });
  if (signal?.aborted) kill();
  try {
    let status: Deno.CommandStatus;
    try {
      status = await child.status;
    } catch (e) {
      // Descendants may hold the pipes open for ever: the readers are stopped, not waited out.
      stop.abort();
      await Promise.all([stdout, stderr, writing]);
      throw new ChildLostError(command, { pid: child.pid, cause: e });
    }
    // Descendants may still hold the pipes open: a kill (timeout or abort) ends the wait, and so
    // does the wait delay once the output went quiet.
    const [out, err] = await settled(Promise.all([stdout, stderr, writing]), {
      quietMs: options.waitDelayMs ?? DEFAULT_WAIT_DELAY_MS,
      lastOutput: () => lastOutput,
      stop,
    });
    if (setsid && status.code === 127 && !timedOut && startFailure(err)) {
      throw new SpawnError(command, new Error(startFailure(err)!));
    }
    const failure = !setsid && nice && !timedOut
      ? niceFailure(command, { code: status.code, stderr: err })
      : null;
    if (failure !== null) throw new SpawnError(command, new Error(failure));
    return {
      code: status.signal ? null : status.code,
      signal: status.signal,
      stdout: out,
      stderr: err,
      timedOut,
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", kill);
  }
}

/**
 * `done` (the readers), or what they read once nothing came for `quietMs` after the exit: then
 * `stop` closes them.
 */
async function settled<T>(
  done: Promise<T>,
  options: { quietMs: number; lastOutput: () => number; stop: AbortController },
): Promise<T> {
  const exited = performance.now();
  let over = false;
  void done.finally(() => (over = true)).catch(() => {});
  while (!over && !options.stop.signal.aborted) {
    const left = Math.max(exited, options.lastOutput()) + options.quietMs - performance.now();
    if (left <= 0) {
      options.stop.abort();
      break;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([done, new Promise((r) => (timer = setTimeout(r, left)))]);
    clearTimeout(timer);
  }
  return await done;
}

/** The default spawner: real processes through `Deno.Command`. */
export const processSpawner: Spawner = { run: runProcess };
