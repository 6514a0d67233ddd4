/**
 * Whether the daemon may acknowledge a message: its KV file is still the one it opened, and the
 * last write did not fail for want of disk. While it may not, webhooks are answered 503 and
 * `send` fails, instead of a 200 for a message that is not on disk.
 *
 * - A KV file (or session lock) that is deleted or replaced is noticed within `everyMs` and never
 *   recovered from in this process: what was acknowledged before is still drained through the
 *   open file, but nothing new is taken, and a restart is needed.
 * - A write that fails for storage (disk full, I/O error, read-only) stops acknowledging until a
 *   probe write succeeds again, tried every `everyMs`.
 *
 * @module
 */
import { KvUnreachableError } from "./remote.ts";

/** Messages of SQLite errors that mean the storage, not the request, failed. */
const STORAGE_ERROR =
  /database or disk is full|disk I\/O error|readonly database|unable to open database|database disk image is malformed|no space left|not a database|file is not a database/i;

/** Whether `e` is a failure of the storage (disk full, I/O) rather than of the caller. */
export function isStorageError(e: unknown): boolean {
  return e instanceof KvUnreachableError || STORAGE_ERROR.test((e as Error)?.message ?? String(e));
}

/** What {@linkcode StorageHealth} needs; every part has a default. */
export interface StorageHealthOptions {
  /** Files that must stay the ones opened (the KV file, the session lock); none by default. */
  files?: readonly string[];
  /** Writes a probe record; when unset the storage is never probed back to health. */
  probe?: () => Promise<void>;
  /** Told once per change: the problem, or `null` when the storage works again. */
  onChange?: (problem: string | null) => void;
  /** Ms between checks (default 1000); the checks never keep the process alive. */
  everyMs?: number;
}

/**
 * Device and inode of `path`, following links; null when it does not exist, `"?"` when it cannot
 * be told now (out of fds, say), which is never taken for a deletion.
 */
function identity(path: string): string | null {
  try {
    const info = Deno.statSync(path);
    return `${info.dev}:${info.ino}`;
  } catch (e) {
    return e instanceof Deno.errors.NotFound ? null : "?";
  }
}

/**
 * How to tell that `path` is still the file this process has open: the `/proc/self/fd` link of
 * an fd open on it (SQLite's, the lock's), whose inode cannot be reused while it is open. Only
 * where no fd is found (off Linux) is the inode compared with the one seen at the start.
 */
function heldBy(path: string): () => "ok" | "deleted" | "replaced" {
  let fdLink: string | undefined;
  try {
    const real = Deno.realPathSync(path);
    for (const entry of Deno.readDirSync("/proc/self/fd")) {
      const link = `/proc/self/fd/${entry.name}`;
      try {
        if (Deno.readLinkSync(link) === real) {
          fdLink = link;
          break;
        }
      } catch {
        // Closed meanwhile.
      }
    }
  } catch {
    // No such file yet, or no /proc: compare inodes.
  }
  const first = identity(path);
  if (!fdLink) {
    return () => {
      if (first === null || first === "?") return "ok";
      const now = identity(path);
      return now === null ? "deleted" : now === first || now === "?" ? "ok" : "replaced";
    };
  }
  const link = fdLink;
  return () => {
    let open: Deno.FileInfo;
    try {
      open = Deno.statSync(link);
    } catch {
      return "ok"; // The fd was closed: its owner is done with it.
    }
    const now = identity(path);
    if (open.nlink === 0 || now === null) return "deleted";
    return now === "?" || now === `${open.dev}:${open.ino}` ? "ok" : "replaced";
  };
}

/** The storage's state; see the module doc. */
export class StorageHealth {
  #problem: string | null = null;
  #lost = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #probing = false;
  #files: [string, () => "ok" | "deleted" | "replaced"][];

  /** Notes which files `options.files` are now: they are what must stay. */
  constructor(readonly options: StorageHealthOptions = {}) {
    this.#files = (options.files ?? []).map((f) => [f, heldBy(f)]);
  }

  /** Null while messages may be acknowledged; else why not, one line. */
  get problem(): string | null {
    return this.#problem;
  }

  /** Starts the checks. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.check(), this.options.everyMs ?? 1000);
    Deno.unrefTimer(this.#timer);
  }

  /** Stops the checks. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Notes a failed write: true (and acknowledging stops until a probe succeeds) when `e` is a
   * storage error; false for any other error, which changes nothing.
   */
  failed(e: unknown): boolean {
    if (!isStorageError(e)) return false;
    if (!this.#problem) this.#set(`Storage failed: ${(e as Error)?.message ?? String(e)}`);
    return true;
  }

  /** Checks the files, and probes a failed storage; what the timer calls. */
  async check(): Promise<void> {
    if (this.#lost) return;
    for (const [path, state] of this.#files) {
      const now = state();
      if (now === "ok") continue;
      this.#lost = true;
      this.#set(
        `'${path}' was ${now} while the daemon ran; it no longer acknowledges messages (those taken before are still processed): restart it`,
      );
      return;
    }
    if (!this.#problem || this.#probing || !this.options.probe) return;
    this.#probing = true;
    try {
      await this.options.probe();
      this.#set(null);
    } catch {
      // Still failing: try again at the next check.
    } finally {
      this.#probing = false;
    }
  }

  #set(problem: string | null): void {
    if (problem === this.#problem) return;
    this.#problem = problem;
    this.options.onChange?.(problem);
  }
}
