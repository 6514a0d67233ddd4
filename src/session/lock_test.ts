import assert from "node:assert/strict";
import { AlreadyRunningError, runningPid, SessionLock, sessionPaths } from "./lock.ts";

async function withStateDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hh-lock" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("SessionLock.acquire() twice throws AlreadyRunningError naming the pid", async () => {
  await withStateDir(async (dir) => {
    const lock = await SessionLock.acquire(dir, "demo");
    try {
      assert.equal(lock.path, sessionPaths(dir, "demo").lock);
      assert.equal((await Deno.readTextFile(lock.path)).trim(), String(Deno.pid));
      await assert.rejects(() => SessionLock.acquire(dir, "demo"), (e: unknown) => {
        assert.ok(e instanceof AlreadyRunningError);
        assert.equal(e.pid, Deno.pid);
        assert.equal(e.code, "already_running");
        assert.equal(e.exitCode, 1);
        assert.equal(e.message, `Session 'demo' is already running (pid ${Deno.pid})`);
        return true;
      });
      // The refused attempt must not have released the holder's lock.
      await assert.rejects(() => SessionLock.acquire(dir, "demo"), AlreadyRunningError);
      assert.equal(await runningPid(dir, "demo"), Deno.pid);
      // Other names are independent.
      const other = await SessionLock.acquire(dir, "other");
      other.release();
    } finally {
      lock.release();
    }
  });
});

Deno.test("SessionLock.release() lets the session be acquired again", async () => {
  await withStateDir(async (dir) => {
    const first = await SessionLock.acquire(dir, "demo");
    first.release();
    const second = await SessionLock.acquire(dir, "demo");
    second.release();
  });
});

Deno.test("runningPid() reports the holder's pid, and null when nobody holds the lock", async () => {
  await withStateDir(async (dir) => {
    assert.equal(await runningPid(dir, "demo"), null);
    const lock = await SessionLock.acquire(dir, "demo");
    try {
      assert.equal(await runningPid(dir, "demo"), Deno.pid);
      // Asking does not take the lock away.
      assert.equal(await runningPid(dir, "demo"), Deno.pid);
    } finally {
      lock.release();
    }
    assert.equal(await runningPid(dir, "demo"), null);
  });
});

Deno.test("SessionLock.acquire() succeeds once the process holding the lock is killed", async () => {
  await withStateDir(async (dir) => {
    const { lock } = sessionPaths(dir, "demo");
    await Deno.mkdir(`${dir}/sessions`);
    await Deno.writeTextFile(lock, "999999\n");
    // A real other process takes the lock on fd 9 and keeps it across exec into sleep.
    const holder = new Deno.Command("/bin/sh", {
      args: ["-c", `exec 9<>'${lock}'; flock --exclusive 9; echo locked; exec sleep 30`],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    try {
      const reader = holder.stdout.getReader();
      await reader.read(); // "locked"
      reader.releaseLock();
      await assert.rejects(() => SessionLock.acquire(dir, "demo"), AlreadyRunningError);
      assert.equal(await runningPid(dir, "demo"), 999999);
    } finally {
      holder.kill("SIGKILL");
      await holder.status;
      await holder.stdout.cancel();
    }
    const lockAfter = await SessionLock.acquire(dir, "demo");
    lockAfter.release();
  });
});
