import assert from "node:assert/strict";
import { startKvConnect } from "../../test/_kv_connect.ts";
import { boundRemoteCalls, KvUnreachableError } from "./remote.ts";
import { isStorageError } from "./storage_health.ts";
import { hasQueues, openKv } from "./open.ts";

Deno.test("boundRemoteCalls: a remote KV that stops answering fails writes and reads at the deadline with a storage error, and works again once it answers", async () => {
  const srv = await startKvConnect();
  Deno.env.set("DENO_KV_ACCESS_TOKEN", srv.token);
  const kv = boundRemoteCalls(await Deno.openKv(srv.url), srv.url, { deadlineMs: 300 });
  try {
    await kv.set(["k"], 1);
    srv.down();
    for (
      const call of [
        () => kv.set(["k"], 2),
        () => kv.delete(["k"]),
        () => kv.atomic().set(["k"], 3).commit(),
        () => kv.get(["k"]),
        () => kv.getMany([["k"]]),
      ]
    ) {
      const e = await call().then(() => null, (e) => e);
      assert.ok(e instanceof KvUnreachableError, String(e));
      assert.equal(e.message, `KV at '${srv.url}' did not answer within 0.3 s`);
      assert.ok(isStorageError(e));
    }
    srv.up();
    // Writes that timed out may still land, in any order (Deno's client retries them): the key
    // they wrote says nothing; a fresh one shows the database answers again.
    await kv.set(["after"], 4);
    assert.equal((await kv.get(["after"])).value, 4);
  } finally {
    kv.close();
    Deno.env.delete("DENO_KV_ACCESS_TOKEN");
    await srv.close();
  }
});

Deno.test("openKv: a KV Connect URL has no queues; a file and memory do", async () => {
  const srv = await startKvConnect();
  Deno.env.set("DENO_KV_ACCESS_TOKEN", srv.token);
  const remote = await openKv(srv.url);
  const memory = await openKv(":memory:");
  try {
    assert.equal(hasQueues(remote), false);
    assert.equal(hasQueues(memory), true);
  } finally {
    remote.close();
    memory.close();
    Deno.env.delete("DENO_KV_ACCESS_TOKEN");
    await srv.close();
  }
});
