/**
 * Opening the Deno KV database: a local file (its folder is created) or a remote KV Connect URL.
 *
 * @module
 */
import { dirname } from "../path.ts";
import { HookhostError } from "../errors.ts";
import { privateDir, privateFiles } from "./private_dir.ts";
import { retryBusyWrites } from "./busy.ts";
import { boundRemoteCalls } from "./remote.ts";

/** Handles opened on a KV Connect URL (see {@linkcode hasQueues}). */
const REMOTE = new WeakSet<Deno.Kv>();

/**
 * Whether `kv` has Deno KV's queues (`enqueue`, `listenQueue`): a local file or memory does; a
 * remote database does not, since KV Connect has no queues (a commit with an enqueue fails,
 * `listenQueue` waits forever). Remote KV's `watch` does see other processes' writes.
 */
export function hasQueues(kv: Deno.Kv): boolean {
  return !REMOTE.has(kv);
}

/**
 * Opens KV at `location`: `:memory:`, a file path, or an `http(s)://` URL (KV Connect, token in
 * `DENO_KV_ACCESS_TOKEN`). A file's folder is created 0700 and refused when others may write
 * to it ({@linkcode privateDir}); the file (and SQLite's journal files beside it) is 0600. A
 * file's writes retry when another process holds its write lock ({@linkcode retryBusyWrites});
 * a remote database's calls fail after a deadline instead of waiting out an outage
 * ({@linkcode boundRemoteCalls}).
 */
export async function openKv(location: string): Promise<Deno.Kv> {
  const remote = /^https?:\/\//i.test(location);
  const file = !remote && location !== ":memory:";
  if (file) {
    await privateDir(dirname(location), "KV folder");
    // Created 0600 before SQLite opens it: SQLite gives its -wal and -shm files the same mode.
    (await Deno.open(location, { create: true, write: true, mode: 0o600 })).close();
    await privateFiles([location, `${location}-wal`, `${location}-shm`]);
  }
  try {
    const kv = await Deno.openKv(location);
    if (remote) {
      REMOTE.add(kv);
      return boundRemoteCalls(kv, location);
    }
    return file ? retryBusyWrites(kv) : kv;
  } catch (e) {
    throw new HookhostError(
      "kv_open_failed",
      `Cannot open KV database '${location}': ${(e as Error).message}`,
      { cause: e },
    );
  }
}
