/**
 * hookhost's state is private to the user it runs as: folders are created 0700 and files 0600,
 * and a folder that others could write to (or that another user owns) is refused, since whoever
 * can write there can plant a lock or control socket, or swap the KV file.
 *
 * @module
 */
import { HookhostError } from "../errors.ts";

/** A state folder, lock or socket others could tamper with (exit 2). */
export class UnsafeStateError extends HookhostError {
  /** Says what is wrong with `path` and what to do. */
  constructor(message: string) {
    super("unsafe_state", message, { exitCode: 2 });
  }
}

/** Whether `info` belongs to the user this process runs as. */
function ours(info: Deno.FileInfo): boolean {
  const uid = Deno.uid();
  return uid === null || info.uid === null || info.uid === uid;
}

/**
 * Creates folder `path` (and its parents) 0700 if missing, then throws
 * {@linkcode UnsafeStateError} unless it is a folder of this user that no one else may write to.
 * `what` names it in the message (default "State folder").
 */
export async function privateDir(path: string, what = "State folder"): Promise<void> {
  await Deno.mkdir(path, { recursive: true, mode: 0o700 });
  const info = await Deno.stat(path);
  if (!info.isDirectory) throw new UnsafeStateError(`${what} '${path}' is not a folder`);
  if (!ours(info)) {
    throw new UnsafeStateError(
      `${what} '${path}' is owned by another user (uid ${info.uid}); use a folder of your own`,
    );
  }
  const mode = (info.mode ?? 0) & 0o777;
  if (mode & 0o022) {
    throw new UnsafeStateError(
      `${what} '${path}' can be written by others (mode ${
        mode.toString(8)
      }); run chmod 700 '${path}' or use another folder`,
    );
  }
}

/**
 * Throws {@linkcode UnsafeStateError} when `path` exists and is a symlink, not of the `kind`
 * expected, or another user's; `false` when it does not exist.
 */
export async function checkOwnEntry(
  path: string,
  kind: "file" | "socket",
): Promise<boolean> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
  if (info.isSymlink) {
    throw new UnsafeStateError(`'${path}' is a symlink; hookhost never follows one there`);
  }
  if (kind === "file" ? !info.isFile : !info.isSocket) {
    throw new UnsafeStateError(`'${path}' is not a ${kind}`);
  }
  if (!ours(info)) {
    throw new UnsafeStateError(`'${path}' is owned by another user (uid ${info.uid})`);
  }
  return true;
}

/** Makes the files that exist of `paths` readable and writable by their owner only. */
export async function privateFiles(paths: readonly string[]): Promise<void> {
  for (const path of paths) {
    await Deno.chmod(path, 0o600).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
}
