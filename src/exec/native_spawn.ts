/**
 * The fast path of {@linkcode runProcess} on Linux: `posix_spawn(3)` through FFI, so the child
 * leads its own process group without an extra exec, the spawn itself runs off the main thread,
 * and the pipes and the exit (a pidfd) are watched by one {@linkcode FdReactor}.
 *
 * @module
 */
import { BufferPool, C, cStrings, describeErrno, errno, type LibcSymbols } from "./libc.ts";
import { FdReactor } from "./fd_reactor.ts";
import type { RunOptions, RunResult } from "./spawn.ts";
import { ChildLostError } from "./errors.ts";
import { niceArgs, niceFailure, nicePath } from "./wrappers.ts";
import { LimitedBuffer } from "../bytes.ts";

/** `RunOptions.waitDelayMs` when unset: short, since most scripts close their output as they exit. */
export const DEFAULT_WAIT_DELAY_MS = 500;

/**
 * posix_spawn failed: `errno` says why (`ENOENT`, `EACCES`, …). When `nice(1)` could not exec the
 * command (see {@linkcode RunOptions.nice}), it is `ENOENT` for its exit 127, `EACCES` for 126.
 */
export class NativeSpawnError extends Error {
  /** The error number. */
  readonly errno: number;
  /** Wraps error number `code`. */
  constructor(message: string, code: number) {
    super(message);
    this.name = "NativeSpawnError";
    this.errno = code;
  }
}

const SIGNALS = [
  "",
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGILL",
  "SIGTRAP",
  "SIGABRT",
  "SIGBUS",
  "SIGFPE",
  "SIGKILL",
  "SIGUSR1",
  "SIGSEGV",
  "SIGUSR2",
  "SIGPIPE",
  "SIGALRM",
  "SIGTERM",
  "SIGSTKFLT",
  "SIGCHLD",
  "SIGCONT",
  "SIGSTOP",
  "SIGTSTP",
  "SIGTTIN",
  "SIGTTOU",
  "SIGURG",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGVTALRM",
  "SIGPROF",
  "SIGWINCH",
  "SIGIO",
  "SIGPWR",
  "SIGSYS",
];

/**
 * The fields of a /proc/PID/stat text from the third (`state`) on, so field N of proc(5) is at
 * index N - 3. Split after the last `)`: the command name in parentheses may hold spaces and `)`.
 */
export function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/**
 * `waitpid(2)` as the native spawner calls it (always with `WNOHANG`): the pid, 0 while the child
 * runs, or -1 with `errno` set by the call, which is read right after it.
 */
export type WaitPid = (pid: number, status: Int32Array, flags: number) => number;

/** This process's niceness (field 19 of /proc/self/stat); 0 when that cannot be read. */
function ownNice(): number {
  try {
    return Number(statFields(Deno.readTextFileSync("/proc/self/stat"))[16]) || 0;
  } catch {
    return 0;
  }
}

/**
 * Whether this process has a controlling terminal (`tty_nr`, field 7 of /proc/self/stat); true
 * when that cannot be read, which keeps children away from any terminal.
 */
export function hasTerminal(): boolean {
  try {
    return Number(statFields(Deno.readTextFileSync("/proc/self/stat"))[4]) !== 0;
  } catch {
    return true;
  }
}

/**
 * The signals a child gets back at their default action: all but those this process ignores,
 * and SIGPIPE, which Deno ignores and Deno.Command gives back. Why all: glibc's posix_spawn child
 * visits every signal before its exec, with one system call for a signal in this set (set it to
 * the default) and two for any other (read it, then reset a handler). Handlers are reset by the
 * exec anyway, so only ignored signals must stay out; they stay ignored, as with Deno.Command.
 * With the 30-odd signals Deno handles, this took the child from ~120 calls to ~64.
 */
function defaultedSignals(lib: LibcSymbols): Uint8Array {
  const set = new Uint8Array(128);
  lib.sigemptyset(set);
  // struct sigaction starts with the handler on Linux (x86_64 and aarch64 alike).
  const old = new Uint8Array(256);
  const handler = new DataView(old.buffer);
  for (let sig = 1; sig < 65; sig++) {
    // glibc refuses its own internal signals, and a kernel may have fewer than 64.
    if (lib.sigaction(sig, null, old) !== 0) continue;
    if (handler.getBigUint64(0, true) !== C.SIG_IGN) lib.sigaddset(set, sig);
  }
  lib.sigaddset(set, C.SIGPIPE);
  return set;
}

/** Runs processes through posix_spawn; one per process, sharing one reactor. */
export class NativeSpawner {
  #lib: LibcSymbols;
  #reactor: FdReactor;
  #buffer = new Uint8Array(65_536);
  #sigmask: Uint8Array;
  #sigdefault: Uint8Array;
  #pidfds = true;
  /** posix_spawn flags: a new group or a new session, the signal mask and defaults. */
  #flags: number;
  #pool = new BufferPool();
  #waitpid: WaitPid;
  /** Formatted entries of each `baseEnv` passed (see `RunOptions.baseEnv`). */
  #bases = new WeakMap<object, [string, string][]>();
  #inherited: [string, string][] | null = null;
  /** The `environ` array `#inherited` was read from: its address and its entries (NULL-ended). */
  #environ: { array: bigint; entries: BigUint64Array } | null = null;

  /**
   * A spawner over `lib`. `pidfds: false` waits for exits the way it must on Linux before 5.3
   * (by polling once the pipes are closed); by default pidfds are used when the kernel has them.
   * `session: true` starts each child in a session of its own rather than only a process group
   * of its own; by default it does so when this process has a controlling terminal.
   * `waitpid` replaces libc's for reaping (a seam for tests: one that lets something else reap
   * the child first).
   */
  constructor(
    lib: LibcSymbols,
    options: { pidfds?: boolean; session?: boolean; waitpid?: WaitPid } = {},
  ) {
    this.#lib = lib;
    this.#pidfds = options.pidfds ?? true;
    this.#waitpid = options.waitpid ?? ((pid, status, flags) => lib.waitpid(pid, status, flags));
    // A process group of its own (the attribute's default group, 0, means the child's pid) in
    // hookhost's session: Linux gives every new session its own scheduling autogroup, as heavy
    // as the whole daemon, so busy scripts in sessions of their own would starve hookhost (and
    // everything else) of CPU, and `nice` would mean nothing across groups. With a controlling
    // terminal, though, a script in hookhost's session could stop on it (SIGTTIN, SIGTTOU) or
    // take it over: then each gets a session of its own, without a terminal.
    const session = options.session ?? hasTerminal();
    this.#flags = (session ? C.POSIX_SPAWN_SETSID : C.POSIX_SPAWN_SETPGROUP) |
      C.POSIX_SPAWN_SETSIGMASK | C.POSIX_SPAWN_SETSIGDEF;
    this.#reactor = new FdReactor(lib);
    this.#sigmask = new Uint8Array(128);
    lib.sigemptyset(this.#sigmask);
    this.#sigdefault = defaultedSignals(lib);
  }

  /** Whether `options` can take this path (a working directory needs glibc ≥ 2.29). */
  supports(options: RunOptions): boolean {
    return options.cwd === undefined ||
      this.#lib.posix_spawn_file_actions_addchdir_np !== null;
  }

  /**
   * The libc `environ` array as it is now: its address and a copy of its entries, or `null` when
   * the symbol is missing.
   */
  #readEnviron(): { array: bigint; entries: BigUint64Array } | null {
    const symbol = this.#lib.environ;
    if (!symbol) return null;
    const array = new Deno.UnsafePointerView(symbol).getPointer();
    if (!array) return { array: 0n, entries: new BigUint64Array(1) };
    const view = new Deno.UnsafePointerView(array);
    let n = 0;
    while (view.getPointer(8 * n)) n++;
    const entries = new BigUint64Array(Deno.UnsafePointerView.getArrayBuffer(array, 8 * (n + 1)))
      .slice();
    return { array: BigInt(Deno.UnsafePointer.value(array)), entries };
  }

  /**
   * Whether the environment may have changed since `#inherited` was read: `Deno.env.set()` and
   * `delete()` go through libc's setenv/unsetenv, which put a new string pointer in `environ`'s
   * array, or a new array, or shift the array; comparing pointers costs a fraction of reading
   * the variables again.
   */
  #environChanged(): boolean {
    const seen = this.#environ;
    if (!seen) return true;
    const symbol = this.#lib.environ!;
    const array = new Deno.UnsafePointerView(symbol).getPointer();
    if (BigInt(Deno.UnsafePointer.value(array)) !== seen.array) return true;
    if (!array) return false;
    // The same array as before, so as long as it was then: reading that much of it is safe.
    const now = new BigUint64Array(
      Deno.UnsafePointerView.getArrayBuffer(array, seen.entries.byteLength),
    );
    for (let i = 0; i < now.length; i++) if (now[i] !== seen.entries[i]) return true;
    return false;
  }

  /**
   * `KEY=VALUE` for the child: this process's environment as it is now, as `Deno.Command` gives
   * it, overridden by `extra`. The variables are read again only when libc's `environ` changed:
   * reading them per spawn cost several percent of the daemon's time under load.
   */
  #environment(
    extra: Record<string, string> | undefined,
    base: Readonly<Record<string, string>> | undefined,
  ): string[] {
    let entries: [string, string][];
    if (base) {
      let cached = this.#bases.get(base);
      if (!cached) {
        cached = Object.entries(base).map(([k, v]) => [k, `${k}=${v}`]);
        this.#bases.set(base, cached);
      }
      entries = cached;
    } else {
      if (!this.#inherited || this.#environChanged()) {
        this.#environ = this.#readEnviron();
        this.#inherited = Object.entries(Deno.env.toObject()).map(([k, v]) => [k, `${k}=${v}`]);
      }
      entries = this.#inherited;
    }
    const out: string[] = [];
    for (const [key, entry] of entries) {
      if (!extra || !Object.hasOwn(extra, key)) out.push(entry);
    }
    for (const key in extra) out.push(`${key}=${extra[key]}`);
    return out;
  }

  #pipe(): [number, number] {
    const fds = new Int32Array(2);
    if (this.#lib.pipe2(fds, C.O_CLOEXEC) !== 0) {
      const code = errno(this.#lib);
      throw new NativeSpawnError(describeErrno(this.#lib, code), code);
    }
    return [fds[0], fds[1]];
  }

  /** Our end of a fresh pipe: its only status flag is the access mode, which F_SETFL keeps. */
  #nonblocking(fd: number): void {
    this.#lib.fcntl(fd, C.F_SETFL, C.O_NONBLOCK);
  }

  /** Starts `list` (the file, then its arguments) with `stdio` as its fds 0, 1 and 2. */
  async #spawn(
    list: readonly string[],
    options: Pick<RunOptions, "env" | "cwd" | "baseEnv"> & { stdio: number[] },
  ): Promise<number> {
    const lib = this.#lib;
    const pool = this.#pool;
    const command = list[0];
    const stdio = options.stdio;
    const argv = cStrings(list, pool);
    const path = argv.subarray(8 * (1 + list.length)); // argv[0], NUL-terminated.
    const taken = [argv];
    try {
      const envp = cStrings(this.#environment(options.env, options.baseEnv), pool);
      taken.push(envp);
      const cwd = options.cwd === undefined ? null : cStrings([options.cwd], pool);
      if (cwd) taken.push(cwd);
      // posix_spawn_file_actions_t and posix_spawnattr_t take 80 and 336 bytes with glibc.
      const actions = pool.take(512);
      const attr = pool.take(512);
      // Off V8's heap: the pool thread writes here while the main thread runs on.
      const pid = pool.take(8);
      taken.push(actions, attr, pid);
      lib.posix_spawn_file_actions_init(actions);
      lib.posix_spawnattr_init(attr);
      try {
        stdio.forEach((fd, target) => lib.posix_spawn_file_actions_adddup2(actions, fd, target));
        if (cwd) lib.posix_spawn_file_actions_addchdir_np!(actions, cwd.subarray(16));
        lib.posix_spawnattr_setflags(attr, this.#flags);
        lib.posix_spawnattr_setsigmask(attr, this.#sigmask);
        lib.posix_spawnattr_setsigdefault(attr, this.#sigdefault);
        const spawn = command.includes("/") ? lib.posix_spawn : lib.posix_spawnp;
        const rc = await spawn(pid, path, actions, attr, argv, envp);
        if (rc !== 0) throw new NativeSpawnError(describeErrno(lib, rc), rc);
        return new Int32Array(pid.buffer, 0, 1)[0];
      } finally {
        lib.posix_spawn_file_actions_destroy(actions);
        lib.posix_spawnattr_destroy(attr);
      }
    } finally {
      for (const b of taken) pool.give(b);
    }
  }

  /** Reads what `fd` has; returns false at end of file (or on an error). */
  #drain(fd: number, sink: LimitedBuffer): boolean {
    while (true) {
      const n = Number(this.#lib.read(fd, this.#buffer, BigInt(this.#buffer.length)));
      if (n > 0) {
        // A copy: the read buffer is reused. Past the limit, output is read and dropped.
        if (!sink.full) sink.add(this.#buffer.slice(0, n));
        continue;
      }
      if (n === 0) return false;
      const code = errno(this.#lib);
      if (code === C.EINTR) continue;
      return code === C.EAGAIN;
    }
  }

  /** Writes from `bytes[offset]`; returns the new offset, or -1 when the reader is gone. */
  #write(fd: number, bytes: Uint8Array, offset: number): number {
    while (offset < bytes.length) {
      const n = Number(this.#lib.write(fd, bytes.subarray(offset), BigInt(bytes.length - offset)));
      if (n > 0) {
        offset += n;
        continue;
      }
      const code = errno(this.#lib);
      if (code === C.EINTR) continue;
      return code === C.EAGAIN ? offset : -1;
    }
    return offset;
  }

  /**
   * Reaps `pid` if it has exited: its wait status, else null. Throws when it cannot be waited
   * for (`ECHILD`: something else reaped it), since its status is then unknown.
   */
  #reap(pid: number): number | null {
    const status = new Int32Array(1);
    while (true) {
      const r = this.#waitpid(pid, status, C.WNOHANG);
      if (r === pid) return status[0];
      if (r === 0) return null;
      const code = r < 0 ? errno(this.#lib) : 0;
      if (code === C.EINTR) continue;
      throw new Error(
        code ? describeErrno(this.#lib, code) : `waitpid returned '${r}' for pid '${pid}'`,
      );
    }
  }

  /**
   * Runs `command` to completion; see {@linkcode RunOptions}. Throws {@linkcode NativeSpawnError}
   * if it cannot start and {@linkcode ChildLostError} if its exit status cannot be collected.
   */
  async run(
    command: string,
    options: RunOptions,
    kill: (pid: number, reaped: boolean) => void,
  ): Promise<RunResult> {
    // Through nice(1), as the Deno.Command path does: see RunOptions.nice.
    const nice = options.nice ? nicePath() : null;
    const list = nice
      ? [nice, ...niceArgs(options.nice!, [command, ...(options.args ?? [])])]
      : [command, ...(options.args ?? [])];
    const result = await this.#run(list, { ...options, kill, command, niced: nice !== null });
    const failure = nice ? niceFailure(command, result) : null;
    if (failure !== null) {
      throw new NativeSpawnError(failure, result.code === 127 ? C.ENOENT : C.EACCES);
    }
    return result;
  }

  /**
   * Runs `list` (the file, then its arguments); `command` is the one the caller named, for
   * errors, and `niced` whether `list` starts with nice(1).
   */
  async #run(
    list: readonly string[],
    options: RunOptions & {
      kill: (pid: number, reaped: boolean) => void;
      command: string;
      niced: boolean;
    },
  ): Promise<RunResult> {
    const { kill, command } = options;
    const lib = this.#lib;
    const reactor = this.#reactor;
    const started = performance.now();
    const input = options.stdin === undefined
      ? null
      : typeof options.stdin === "string"
      ? new TextEncoder().encode(options.stdin)
      : options.stdin;
    const opened = new Set<number>();
    let pid: number;
    let stdin: number, stdout: number, stderr: number;
    // How much of `input` is in the pipe; -1 once the reader is gone.
    let offset = 0;
    try {
      const pipe = () => {
        const fds = this.#pipe();
        for (const fd of fds) opened.add(fd);
        return fds;
      };
      const [inPipe, outPipe, errPipe] = [pipe(), pipe(), pipe()];
      [stdin, stdout, stderr] = [inPipe[1], outPipe[0], errPipe[0]];
      for (const fd of [stdin, stdout, stderr]) this.#nonblocking(fd);
      // The input goes in before the child starts: up to a pipe's capacity (64 KiB, at least 4
      // KiB) it all fits, so the child never waits for it and the pipe needs no watching.
      if (input?.length) offset = this.#write(stdin, input, 0);
      if (!input || offset < 0 || offset >= input.length) {
        lib.close(stdin);
        opened.delete(stdin);
      }
      pid = await this.#spawn(list, { ...options, stdio: [inPipe[0], outPipe[1], errPipe[1]] });
      for (const fd of [inPipe[0], outPipe[1], errPipe[1]]) {
        lib.close(fd);
        opened.delete(fd);
      }
      // Without nice(1) (see run()), only from outside and after the start: PRIO_PROCESS, on top
      // of this process's niceness as nice(1) would; the child's later descendants inherit it.
      if (options.nice && !options.niced) {
        lib.setpriority(0, pid, Math.min(19, ownNice() + options.nice));
      }
    } catch (e) {
      for (const fd of opened) lib.close(fd);
      throw e;
    }
    const max = options.maxOutputBytes ?? 64 * 1024 * 1024;
    const out = new LimitedBuffer(max);
    const err = new LimitedBuffer(max);

    return await new Promise<RunResult>((resolve, reject) => {
      let status: number | null = null;
      // Why the exit status could not be collected, once that happened.
      let lost: ChildLostError | null = null;
      let timedOut = false;
      let killed = false;
      let open = new Set<number>();
      // -1: no pidfd (the exit is polled); -2: closed once the exit was seen.
      let pidfd = -1;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let retry: ReturnType<typeof setTimeout> | undefined;
      // The wait delay (RunOptions.waitDelayMs): once exited, output quiet this long ends the run.
      let quiet: ReturnType<typeof setTimeout> | undefined;
      let graced = false;
      const waitDelay = options.waitDelayMs ?? DEFAULT_WAIT_DELAY_MS;
      const armQuiet = () => {
        if (status === null || lost !== null) return;
        clearTimeout(quiet);
        quiet = setTimeout(() => {
          graced = true;
          finish();
        }, waitDelay);
      };

      const closeFd = (fd: number) => {
        if (!open.delete(fd)) return;
        reactor.unwatch(fd, { closing: true });
        lib.close(fd);
      };
      const finish = () => {
        if (lost === null && (status === null || open.has(stdout) || open.has(stderr))) {
          // Once killed, descendants that escaped the group must not hold the answer back; once
          // exited, nor do descendants still holding the pipes, past the wait delay.
          if (!(status !== null && (killed || graced))) return;
        }
        for (const fd of [...open]) closeFd(fd);
        if (pidfd >= 0) {
          reactor.unwatch(pidfd, { closing: true });
          lib.close(pidfd);
          pidfd = -2;
        }
        clearTimeout(timer);
        clearTimeout(retry);
        clearTimeout(quiet);
        options.signal?.removeEventListener("abort", onAbort);
        // A lost child is not waited for any longer: descendants may hold its pipes forever.
        if (lost) return reject(lost);
        const s = status!;
        const signaled = (s & 0x7f) !== 0 && (s & 0x7f) !== 0x7f;
        resolve({
          code: signaled ? null : (s >> 8) & 0xff,
          signal: signaled ? SIGNALS[s & 0x7f] ?? `SIG${s & 0x7f}` : null,
          stdout: out.bytes(),
          stderr: err.bytes(),
          timedOut,
          durationMs: Math.round(performance.now() - started),
        });
      };
      const checkExit = () => {
        if (status !== null || lost !== null) return;
        try {
          status = this.#reap(pid);
        } catch (e) {
          lost = new ChildLostError(command, { pid, cause: e });
        }
        if (status === null && lost === null) return;
        // A pidfd stays readable once its process is gone: watched any longer, it would wake
        // every wait at once while a descendant keeps the pipes open.
        if (pidfd >= 0) {
          reactor.unwatch(pidfd, { closing: true });
          lib.close(pidfd);
          pidfd = -2;
        }
        armQuiet();
        finish();
      };
      // Without pidfds (Linux < 5.3), the exit is polled once the pipes are closed.
      let delay = 1;
      let polling = false;
      const pollExit = () => {
        if (polling) return; // One poll at a time: the reader and a kill may both start it.
        polling = true;
        const poll = () => {
          checkExit();
          if (status === null && lost === null) {
            retry = setTimeout(poll, delay);
            delay = Math.min(delay * 2, 50);
          }
        };
        poll();
      };
      const doKill = () => {
        if (killed) return;
        killed = true;
        kill(pid, status !== null || lost !== null);
        if (pidfd === -1) pollExit();
        finish();
      };
      const onAbort = () => doKill();

      // Still ours: the pipes we read, and the input's if it did not fit.
      open = opened;
      const reader = (fd: number, sink: LimitedBuffer) => () => {
        if (!this.#drain(fd, sink)) {
          closeFd(fd);
          if (pidfd === -1 && !open.has(stdout) && !open.has(stderr)) pollExit();
          finish();
        } else armQuiet();
      };
      reactor.watch(stdout, C.EPOLLIN, reader(stdout, out));
      reactor.watch(stderr, C.EPOLLIN, reader(stderr, err));
      if (input && open.has(stdin)) {
        reactor.watch(stdin, C.EPOLLOUT, (revents) => {
          offset = revents & C.EPOLLOUT ? this.#write(stdin, input, offset) : -1;
          if (offset < 0 || offset >= input.length) closeFd(stdin);
        });
      }
      if (this.#pidfds) {
        pidfd = Number(lib.syscall(BigInt(C.SYS_PIDFD_OPEN), BigInt(pid), 0n));
        if (pidfd < 0) {
          // Kernels before 5.3 (or a seccomp filter) refuse it for good; a pid something else
          // has reaped already (ESRCH) or a full fd table only for this run, whose exit is then
          // polled for once the pipes close (and found lost, if it was reaped).
          const code = errno(lib);
          if (code === C.ENOSYS || code === C.EPERM) this.#pidfds = false;
          pidfd = -1;
        } else reactor.watch(pidfd, C.EPOLLIN, checkExit);
      }
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          timedOut = true;
          doKill();
        }, options.timeoutMs);
      }
      options.signal?.addEventListener("abort", onAbort, { once: true });
      if (options.signal?.aborted) doKill();
      // It may have exited before its pidfd was opened; a pidfd of a reaped pid fails instead.
      if (pidfd >= 0) checkExit();
    });
  }
}
