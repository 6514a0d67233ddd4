/**
 * hookhost as a container's first process (PID 1), in the way of `tini` and `docker --init`.
 *
 * A PID 1 inherits every orphan of its namespace: a script that backgrounds a child and exits
 * leaves that child to PID 1, which must reap it when it ends or it stays a zombie, holding a pid,
 * for good. hookhost's daemon cannot simply reap every child (`waitpid(-1)`): it would take the
 * exit statuses of its own scripts and plugin processes from the code waiting for them. So, as
 * PID 1, hookhost starts itself again as its only child, with the same arguments, and stays a
 * small init: it forwards the signals a container gets (SIGTERM from `docker stop`, SIGINT, …)
 * to that child, reaps every other child that ends, and exits with the child's exit code once
 * it is gone. The daemon in the child turns SIGTERM into its graceful shutdown as it does
 * anywhere else.
 *
 * Orphans reach the init because it is PID 1; {@linkcode runInit}'s `subreaper` makes a process
 * that is not PID 1 collect them too (`prctl(PR_SET_CHILD_SUBREAPER)`, as `tini -s`).
 *
 * @module
 */
import { SELF_ENTRY } from "../assets.ts";
import { LIBC_NAMES } from "./libc.ts";
import { statFields } from "./native_spawn.ts";

/** Signals the init passes on to its child. */
export const FORWARDED_SIGNALS: readonly Deno.Signal[] = [
  "SIGTERM",
  "SIGINT",
  "SIGHUP",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
];

const SYMBOLS = {
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
} as const;
const WNOHANG = 1;
const PR_SET_CHILD_SUBREAPER = 36;

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** libc's `waitpid` and `prctl`, or `null` without FFI (or off Linux). */
function openLib(): Lib | null {
  if (Deno.build.os !== "linux") return null;
  for (const name of LIBC_NAMES) {
    try {
      return Deno.dlopen(name, SYMBOLS).symbols;
    } catch {
      // Not this one, or FFI not permitted.
    }
  }
  return null;
}

/**
 * Whether hookhost should run as an init: it is PID 1 on Linux and `HOOKHOST_INIT` is not `0`
 * (`1` asks for it anywhere: then it is a subreaper).
 */
export function wantsInit(): "pid1" | "subreaper" | null {
  if (Deno.build.os !== "linux") return null;
  const env = Deno.env.get("HOOKHOST_INIT");
  if (env === "0") return null;
  if (Deno.pid === 1) return "pid1";
  return env === "1" ? "subreaper" : null;
}

/**
 * The command that starts hookhost itself with `args`: the binary, or `deno run` with the flags
 * of `deno task hookhost` (the compiled binary has them built in).
 */
export function selfCommand(args: readonly string[]): [string, string[]] {
  if (Deno.build.standalone) return [Deno.execPath(), [...args]];
  const flags = [
    "--allow-all",
    "--unstable-kv",
    "--unstable-worker-options",
    "--unstable-net",
    "--no-prompt",
    ...(SELF_ENTRY.endsWith(".js") ? ["--no-config"] : []),
  ];
  return [Deno.execPath(), ["run", ...flags, SELF_ENTRY, ...args]];
}

/** The pids of `parent`'s children that have ended and wait to be reaped, but `except`. */
export function zombieChildren(parent: number, except: ReadonlySet<number>): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || except.has(pid)) continue;
    let fields: string[];
    try {
      fields = statFields(Deno.readTextFileSync(`/proc/${pid}/stat`));
    } catch {
      continue; // Gone meanwhile.
    }
    // Field 3 is the state, field 4 the parent's pid.
    if (fields[0] === "Z" && Number(fields[1]) === parent) found.push(pid);
  }
  return found;
}

/** Options of {@linkcode runInit}. */
export interface InitOptions {
  /** Collect orphans although not PID 1 (`prctl(PR_SET_CHILD_SUBREAPER)`); default false. */
  subreaper?: boolean;
  /** How often zombies are looked for besides at each SIGCHLD, in ms; default 1000. */
  sweepMs?: number;
}

/**
 * Runs `command` as the only child of this init and reaps every other child until it ends;
 * returns its exit code (128 + the signal's number when a signal ended it), or `null`, having
 * started nothing, when FFI is not available here (the caller then runs the command itself).
 */
export async function runInit(
  command: [string, string[]],
  options: InitOptions = {},
): Promise<number | null> {
  const lib = openLib();
  if (!lib) return null;
  if (options.subreaper) lib.prctl(PR_SET_CHILD_SUBREAPER, 1n, 0n, 0n, 0n);
  const child = new Deno.Command(command[0], {
    args: command[1],
    // The child is the daemon, never an init again (with `HOOKHOST_INIT=1` it would be).
    env: { HOOKHOST_INIT: "0" },
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  // Deno waits for the child itself: reaping it here would take its status from `child.status`.
  const own = new Set([child.pid]);
  const status = new Int32Array(1);
  const sweep = () => {
    try {
      for (const pid of zombieChildren(Deno.pid, own)) lib.waitpid(pid, status, WNOHANG);
    } catch {
      // /proc unreadable: the next sweep tries again.
    }
  };
  const forward = new Map<Deno.Signal, () => void>();
  for (const sig of FORWARDED_SIGNALS) {
    const pass = () => {
      try {
        child.kill(sig);
      } catch {
        // Already gone.
      }
    };
    forward.set(sig, pass);
    Deno.addSignalListener(sig, pass);
  }
  Deno.addSignalListener("SIGCHLD", sweep);
  const timer = setInterval(sweep, options.sweepMs ?? 1000);
  try {
    const { code, signal } = await child.status;
    sweep();
    return signal ? 128 + signalNumber(signal) : code;
  } finally {
    clearInterval(timer);
    Deno.removeSignalListener("SIGCHLD", sweep);
    for (const [sig, pass] of forward) Deno.removeSignalListener(sig, pass);
  }
}

/** Linux signal numbers of the signals a child usually dies of. */
const NUMBERS: Partial<Record<Deno.Signal, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

function signalNumber(signal: Deno.Signal): number {
  return NUMBERS[signal] ?? 1;
}
