/**
 * One running process per session name: an advisory lock on `<state>/sessions/NAME.lock`.
 * The OS drops the lock when the holder dies, so a lock left by a killed process never blocks.
 *
 * @module
 */
import { join } from "../path.ts";
import { HookhostError } from "../errors.ts";
import { checkOwnEntry, privateDir } from "../kv/private_dir.ts";

/** Paths of a session's lock file and control socket. */
export function sessionPaths(stateDir: string, name: string): { lock: string; socket: string } {
  const dir = join(stateDir, "sessions");
  return { lock: join(dir, `${name}.lock`), socket: join(dir, `${name}.sock`) };
}

/** Another process holds the session. */
export class AlreadyRunningError extends HookhostError {
  /** Pid of the running process, when it could be read. */
  readonly pid: number | null;
  /** Names the running pid. */
  constructor(name: string, pid: number | null) {
    super(
      "already_running",
      `Session '${name}' is already running${pid ? ` (pid ${pid})` : ""}`,
    );
    this.pid = pid;
  }
}

async function readPid(path: string): Promise<number | null> {
  try {
    const pid = Number((await Deno.readTextFile(path)).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** A held session lock. */
export class SessionLock {
  #file: Deno.FsFile;
  /** Lock file path. */
  readonly path: string;

  private constructor(file: Deno.FsFile, path: string) {
    this.#file = file;
    this.path = path;
  }

  /**
   * Takes the lock of `name` or throws {@linkcode AlreadyRunningError}. The state folder and its
   * `sessions` folder must be private ({@linkcode privateDir}), and the lock file no symlink.
   */
  static async acquire(stateDir: string, name: string): Promise<SessionLock> {
    const { lock } = sessionPaths(stateDir, name);
    await privateDir(stateDir);
    await privateDir(join(stateDir, "sessions"));
    await checkOwnEntry(lock, "file");
    const file = await Deno.open(lock, { read: true, write: true, create: true, mode: 0o600 });
    if (!(await file.tryLock(true))) {
      file.close();
      throw new AlreadyRunningError(name, await readPid(lock));
    }
    await file.truncate(0);
    await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
    return new SessionLock(file, lock);
  }

  /** Releases the lock. */
  release(): void {
    try {
      this.#file.unlockSync();
    } finally {
      this.#file.close();
    }
  }
}

/** Pid of the process running `name`, or `null` when none is. */
export async function runningPid(stateDir: string, name: string): Promise<number | null> {
  const { lock } = sessionPaths(stateDir, name);
  if (!await checkOwnEntry(lock, "file")) return null;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(lock, { read: true, write: true });
  } catch {
    return null;
  }
  try {
    if (await file.tryLock(true)) {
      await file.unlock();
      return null;
    }
    return (await readPid(lock)) ?? -1;
  } finally {
    file.close();
  }
}
