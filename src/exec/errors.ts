/**
 * The errors a run of a child process can end in, besides a result: it could not start, or its
 * end could not be observed.
 *
 * @module
 */
import { HookhostError } from "../errors.ts";

/** The process could not be started (missing file, not executable, …). */
export class SpawnError extends HookhostError {
  /** Wraps the reason `command` could not start. */
  constructor(command: string, cause: unknown) {
    super("spawn_failed", `Cannot start '${command}': ${(cause as Error).message}`, { cause });
  }
}

/**
 * The process started, but its exit status could not be collected: waiting for it failed, say
 * with `ECHILD` because something else in this process reaped it first. Its outcome is unknown,
 * so it must not pass for a success (which an exit code of 0 would).
 */
export class ChildLostError extends HookhostError {
  /** The pid the child had; it may already belong to another process. */
  readonly pid: number;

  /** `command` ran as `pid`; `cause` says why waiting for it failed. */
  constructor(command: string, options: { pid: number; cause: unknown }) {
    const { pid, cause } = options;
    super(
      "child_lost",
      `Cannot collect the exit status of '${command}' (pid '${pid}'): ${(cause as Error).message}`,
      { cause },
    );
    this.pid = pid;
  }
}
