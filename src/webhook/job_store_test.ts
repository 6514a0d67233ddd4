import assert from "node:assert/strict";
import { InboxStore } from "../inbox/store.ts";
import { JOB, JOB_CHUNK, JOB_DONE } from "../kv/keys.ts";
import { type JobRequest, JobStore, JobTooLargeError } from "./job_store.ts";
import { countKeys, withKv } from "../../test/_kv.ts";

function req(body: string | Uint8Array, query = ""): JobRequest {
  return {
    method: "POST",
    url: `http://127.0.0.1:1/hook${query}`,
    headers: [["content-type", "text/plain"], ["x-test", "yes"]],
    body: typeof body === "string" ? new TextEncoder().encode(body) : body,
  };
}

Deno.test("JobStore.add() stores concurrent requests as one batch, listed oldest first", async () => {
  await withKv(async (kv) => {
    const jobs = new JobStore(kv);
    const added = await Promise.all(
      Array.from({ length: 30 }, (_, i) => jobs.add("s", "h", req(`body ${i}`, `?n=${i}`))),
    );
    assert.equal(new Set(added.map((j) => j.batch)).size, 1, "one batch for one tick's adds");
    assert.equal(await countKeys(kv, [JOB, "s", "h"]), 1);
    const [batch] = await jobs.batches("s", "h", { limit: 10 });
    assert.equal(batch.size, 30);
    assert.deepEqual(batch.jobs.map((j) => j.id), added.map((j) => j.id));
    const decoded = batch.jobs.map((j) => new TextDecoder().decode(j.body));
    assert.deepEqual(decoded, added.map((_, i) => `body ${i}`));
    assert.equal(batch.jobs[3].url, "http://127.0.0.1:1/hook?n=3");
    assert.deepEqual(batch.jobs[3].headers, [["content-type", "text/plain"], ["x-test", "yes"]]);
    assert.equal(await jobs.count("s", "h"), 30);
  });
});

Deno.test("JobStore.add() splits a large tick into batches of at most 60 KB", async () => {
  await withKv(async (kv) => {
    const jobs = new JobStore(kv);
    const body = "x".repeat(10_000);
    const added = await Promise.all(
      Array.from({ length: 20 }, () => jobs.add("s", "h", req(body))),
    );
    const batches = await jobs.batches("s", "h", { limit: 100 });
    assert.ok(batches.length >= 4, `${batches.length} batches`);
    assert.deepEqual(batches.flatMap((b) => b.jobs.map((j) => j.id)), added.map((j) => j.id));
    // Batches are listed in commit order, and `after` reads on from one of them.
    const rest = await jobs.batches("s", "h", { limit: 100, after: batches[0].id });
    assert.deepEqual(rest.map((b) => b.id), batches.slice(1).map((b) => b.id));
  });
});

Deno.test("JobStore keeps a large body in chunks and removeBatch() deletes them", async () => {
  await withKv(async (kv) => {
    const jobs = new JobStore(kv);
    const body = new Uint8Array(1_000_000);
    for (let i = 0; i < body.length; i += 65_536) {
      crypto.getRandomValues(body.subarray(i, i + 65_536));
    }
    const job = await jobs.add("s", "h", req(body));
    assert.ok((await countKeys(kv, [JOB_CHUNK, "s", "h", job.id])) > 1);
    const [batch] = await jobs.batches("s", "h", { limit: 1 });
    const listed = batch.jobs[0];
    assert.equal(listed.body.length, 0, "a chunked body is loaded on demand");
    const loaded = await jobs.loadBody("s", "h", listed);
    assert.equal(loaded.length, body.length);
    assert.ok(loaded.every((b, i) => b === body[i]), "body bytes differ");
    await jobs.markDone("s", "h", listed);
    await jobs.removeBatch("s", "h", batch.id);
    assert.equal(await countKeys(kv, [JOB_CHUNK]), 0);
    assert.equal(await countKeys(kv, [JOB]), 0);
    assert.equal(await countKeys(kv, [JOB_DONE]), 0);
  });
});

Deno.test("JobStore.doneMarker() commits with the job's message: the job is no longer listed", async () => {
  await withKv(async (kv) => {
    const jobs = new JobStore(kv);
    const inbox = new InboxStore(kv);
    const [a, b] = await Promise.all([jobs.add("s", "h", req("a")), jobs.add("s", "h", req("b"))]);
    await inbox.add("s", [{ source: "webhook", content: "output of a" }], {
      also: [jobs.doneMarker("s", "h", a)],
    });
    const [batch] = await jobs.batches("s", "h", { limit: 1 });
    assert.deepEqual(batch.jobs.map((j) => j.id), [b.id]);
    assert.equal(batch.size, 2);
    assert.equal(await jobs.count("s", "h"), 1);
    assert.deepEqual((await inbox.list("s")).map((m) => m.content), ["output of a"]);
  });
});

Deno.test("JobStore keeps hooks and sessions apart", async () => {
  await withKv(async (kv) => {
    const jobs = new JobStore(kv);
    await Promise.all([
      jobs.add("s", "h1", req("1")),
      jobs.add("s", "h2", req("2")),
      jobs.add("t", "h1", req("3")),
    ]);
    assert.equal(await jobs.count("s", "h1"), 1);
    assert.equal(await jobs.count("s", "h2"), 1);
    assert.equal(await jobs.count("t", "h1"), 1);
    const [batch] = await jobs.batches("s", "h2", { limit: 5 });
    assert.equal(new TextDecoder().decode(batch.jobs[0].body), "2");
  });
});

Deno.test("JobStore.add() refuses a request whose URL and headers are too large to store", async () => {
  await withKv(async (kv) => {
    const jobs = new JobStore(kv);
    const big = { ...req("x"), headers: [["x-big", "y".repeat(30_000)]] as [string, string][] };
    const [ok, refused] = await Promise.allSettled([
      jobs.add("s", "h", req("fine")),
      jobs.add("s", "h", big),
    ]);
    assert.equal(ok.status, "fulfilled");
    assert.equal(refused.status, "rejected");
    assert.ok((refused as PromiseRejectedResult).reason instanceof JobTooLargeError);
    assert.equal(await jobs.count("s", "h"), 1);
  });
});
