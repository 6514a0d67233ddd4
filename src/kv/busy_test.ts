import assert from "node:assert/strict";
import { holdWriteLock } from "../../test/_kv.ts";
import { isBusy, retryBusy, retryBusyWrites, StorageBusyError } from "./busy.ts";

const locked = () => new TypeError("database is locked");

Deno.test("retryBusy() runs a write again while it fails busy, pausing longer each time", async () => {
  const pauses: number[] = [];
  let calls = 0;
  const out = await retryBusy(() => {
    if (++calls < 3) return Promise.reject(locked());
    return Promise.resolve("done");
  }, { backoffMs: 100, sleep: (ms) => (pauses.push(ms), Promise.resolve()) });
  assert.equal(out, "done");
  assert.equal(calls, 3);
  assert.equal(pauses.length, 2);
  assert.ok(pauses[0] >= 50 && pauses[0] < 150, String(pauses));
  assert.ok(pauses[1] >= 100 && pauses[1] < 300, String(pauses));
});

Deno.test("retryBusy() gives up after its tries with one storage_busy line, and never retries other errors", async () => {
  let calls = 0;
  const sleep = () => Promise.resolve();
  const e = await retryBusy(() => (calls++, Promise.reject(locked())), { tries: 3, sleep })
    .catch((e) => e);
  assert.ok(e instanceof StorageBusyError);
  assert.equal(e.code, "storage_busy");
  assert.equal(calls, 3);
  assert.equal(
    e.message,
    "KV stayed locked by another process through 3 tries ('database is locked'); retry later",
  );
  assert.ok(!e.message.includes("\n"));

  calls = 0;
  const other = await retryBusy(() => (calls++, Promise.reject(new TypeError("bad key"))), {
    sleep,
  }).catch((e) => e);
  assert.equal(other.message, "bad key");
  assert.equal(calls, 1);
  assert.ok(isBusy(locked()) && !isBusy(other));
});

Deno.test("retryBusyWrites(): a commit locked out by another connection for longer than Deno KV waits still lands", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/kv.sqlite`;
  const kv = retryBusyWrites(await Deno.openKv(path));
  try {
    await kv.set(["before"], 1);
    const lock = await holdWriteLock(path, 6);
    if (!lock) return; // no python3 to hold the lock with
    const result = await kv.atomic().set(["after"], 2).commit();
    assert.ok(result.ok);
    assert.equal((await kv.get(["after"])).value, 2);
    assert.equal(await lock.done, "");
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
});
