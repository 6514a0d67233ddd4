import assert from "node:assert/strict";
import { HookhostError } from "../errors.ts";
import { monotonicUlid } from "../kv/ids.ts";
import type { NewMessage, Source } from "./message.ts";
import { InboxStore } from "./store.ts";
import { GroupCommit } from "./group_commit.ts";
import { countKeys, withKv } from "../../test/_kv.ts";
import { scaled } from "../../test/_poll.ts";

const MiB = 1024 * 1024;

/** About `bytes` of UTF-8 text mixing 1-, 2-, 3- and 4-byte characters and newlines. */
function bigText(bytes: number): string {
  const unit = "héllo wörld ✓ 🎉 line\n";
  const unitBytes = new TextEncoder().encode(unit).length;
  return unit.repeat(Math.ceil(bytes / unitBytes));
}

Deno.test("InboxStore.peek() yields source priority first, then first-in-first-out", async () => {
  await withKv(async (kv) => {
    const store = new InboxStore(kv);
    const order: [Source, string][] = [
      ["webhook", "w1"],
      ["inject", "i1"],
      ["schedule", "s1"],
      ["webhook", "w2"],
      ["background", "b1"],
      ["skill", "k1"],
      ["inject", "i2"],
      ["schedule", "s2"],
    ];
    for (const [source, content] of order) await store.add("demo", [{ source, content }]);
    await store.add("other", [{ source: "schedule", content: "not mine" }]);

    const all = await store.list("demo");
    assert.deepEqual(all.map((m) => m.content), ["s1", "s2", "b1", "k1", "i1", "i2", "w1", "w2"]);
    assert.deepEqual((await store.peek("demo")).map((m) => m.content), ["s1"]);
    assert.deepEqual((await store.peek("demo", 3)).map((m) => m.content), ["s1", "s2", "b1"]);
    assert.deepEqual((await store.list("other")).map((m) => m.content), ["not mine"]);
    assert.deepEqual(await store.peek("nobody"), []);
  });
});

Deno.test("InboxStore.add() stores id, label, time and zero attempts", async () => {
  await withKv(async (kv) => {
    const store = new InboxStore(kv, { now: () => 1_234, ids: monotonicUlid(() => 1_000) });
    const [a, b] = await store.add("demo", [
      { source: "webhook", label: "webhook github-push", content: "push" },
      { source: "inject", content: "hi", id: "01CUSTOMID0000000000000000" },
    ]);
    assert.equal(a.label, "webhook github-push");
    assert.equal(b.label, "inject");
    assert.equal(b.id, "01CUSTOMID0000000000000000");
    const stored = (await store.list("demo")).find((m) => m.source === "webhook");
    assert.deepEqual(stored, {
      id: a.id,
      source: "webhook",
      label: "webhook github-push",
      content: "push",
      ts: 1_234,
      attempts: 0,
    });
    await assert.rejects(
      () => store.add("demo", [{ source: "email" as Source, content: "x" }]),
      TypeError,
    );
  });
});

Deno.test("InboxStore.add() round-trips a 5 MiB message exactly and ack() removes its chunks", async () => {
  await withKv(async (kv) => {
    const store = new InboxStore(kv);
    const content = bigText(5 * MiB);
    const [m] = await store.add("demo", [{ source: "webhook", content }]);
    assert.ok(await countKeys(kv, ["c"]) > 1, "a 5 MiB message should be stored in chunks");

    const [back] = await store.peek("demo");
    assert.equal(back.id, m.id);
    assert.equal(back.content.length, content.length);
    assert.ok(back.content === content, "content differs after the round trip");

    await store.ack("demo", [back]);
    assert.deepEqual(await store.list("demo"), []);
    assert.equal(await countKeys(kv, ["c"]), 0);
    assert.equal(await countKeys(kv, ["m"]), 0);
  });
});

Deno.test("InboxStore.add() keeps a message at the inline limit of 3-byte characters", async () => {
  await withKv(async (kv) => {
    const store = new InboxStore(kv);
    // 30,000 characters of 3 UTF-8 bytes each: 90 KB of UTF-8, stored inline.
    const content = "✓".repeat(30_000);
    await store.add("demo", [{ source: "inject", content }]);
    const [back] = await store.peek("demo");
    assert.ok(back.content === content);
  });
});

Deno.test("InboxStore.pending() counts pending messages per source", async () => {
  await withKv(async (kv) => {
    const store = new InboxStore(kv);
    assert.deepEqual(await store.pending("demo"), {
      schedule: 0,
      background: 0,
      skill: 0,
      inject: 0,
      webhook: 0,
    });
    const items: NewMessage[] = [
      { source: "webhook", content: "1" },
      { source: "webhook", content: "2" },
      { source: "inject", content: "3" },
      { source: "schedule", content: "4" },
    ];
    await store.add("demo", items);
    await store.add("other", [{ source: "skill", content: "x" }]);
    assert.deepEqual(await store.pending("demo"), {
      schedule: 1,
      background: 0,
      skill: 0,
      inject: 1,
      webhook: 2,
    });
    const [first] = await store.peek("demo");
    await store.ack("demo", [first]);
    assert.equal((await store.pending("demo")).schedule, 0);
  });
});

Deno.test("InboxStore.recordAttempt() persists attempts and the last error", async () => {
  await withKv(async (kv) => {
    const store = new InboxStore(kv);
    const [m] = await store.add("demo", [{ source: "inject", content: "job" }]);
    m.attempts = 1;
    await store.recordAttempt("demo", m);
    assert.equal((await store.peek("demo"))[0].attempts, 1);
    m.attempts = 2;
    await store.recordAttempt("demo", m, { error: "exit code 1: boom" });
    const [back] = await store.peek("demo");
    assert.equal(back.attempts, 2);
    assert.equal(back.last_error, "exit code 1: boom");
    assert.equal(back.content, "job");

    // Recording on an acknowledged message must not bring it back.
    await store.ack("demo", [back]);
    await store.recordAttempt("demo", { ...back, attempts: 3 }, { error: "late" });
    assert.deepEqual(await store.list("demo"), []);
  });
});

Deno.test("InboxStore.bury() moves a message to the dead letters and replay() brings it back", async () => {
  await withKv(async (kv) => {
    let now = 10_000;
    const store = new InboxStore(kv, { now: () => now });
    const [m, keep] = await store.add("demo", [
      { source: "webhook", label: "webhook gh", content: "doomed" },
      { source: "webhook", content: "fine" },
    ]);
    now = 20_000;
    m.attempts = 5;
    await store.recordAttempt("demo", m, { error: "first failure" });
    const dead = await store.bury("demo", m, { error: "exit code 2: nope" });
    assert.equal(dead.failed_at, 20_000);

    assert.deepEqual((await store.list("demo")).map((x) => x.id), [keep.id]);
    const letters = await store.dead("demo");
    assert.equal(letters.length, 1);
    assert.equal(letters[0].id, m.id);
    assert.equal(letters[0].content, "doomed");
    assert.equal(letters[0].label, "webhook gh");
    assert.equal(letters[0].attempts, 5);
    assert.equal(letters[0].error, "exit code 2: nope");
    assert.equal(letters[0].failed_at, 20_000);
    assert.deepEqual(await store.dead("other"), []);

    assert.deepEqual(await store.replay("demo", [m.id]), [m.id]);
    assert.deepEqual(await store.dead("demo"), []);
    const revived = await store.list("demo");
    // Same id, so it takes its original place in first-in-first-out order.
    assert.deepEqual(revived.map((x) => x.id), [m.id, keep.id]);
    assert.equal(revived[0].attempts, 0);
    assert.equal(revived[0].last_error, undefined);
    assert.equal(revived[0].content, "doomed");
    assert.equal("error" in revived[0], false);
  });
});

Deno.test("InboxStore.replay() of an unknown id throws and moves nothing", async () => {
  await withKv(async (kv) => {
    const store = new InboxStore(kv);
    const [a, b] = await store.add("demo", [
      { source: "inject", content: "a" },
      { source: "inject", content: "b" },
    ]);
    await store.bury("demo", a, { error: "x" });
    await store.bury("demo", b, { error: "y" });
    await assert.rejects(
      () => store.replay("demo", [a.id, "01NOSUCHID0000000000000000"]),
      (e: unknown) => {
        assert.ok(e instanceof HookhostError);
        assert.equal(e.code, "no_dead_letter");
        assert.match(e.message, /'01NOSUCHID0000000000000000'/);
        assert.match(e.message, /session 'demo'/);
        return true;
      },
    );
    assert.equal((await store.dead("demo")).length, 2);
    assert.deepEqual(await store.list("demo"), []);

    // Without ids, every dead letter comes back.
    assert.deepEqual((await store.replay("demo")).sort(), [a.id, b.id].sort());
    assert.deepEqual((await store.list("demo")).map((m) => m.content), ["a", "b"]);
    assert.deepEqual(await store.replay("demo"), []);
  });
});

Deno.test("InboxStore.bury() of a chunked message keeps its content through replay", async () => {
  await withKv(async (kv) => {
    const store = new InboxStore(kv);
    const content = bigText(200_000);
    const [m] = await store.add("demo", [{ source: "webhook", content }]);
    m.attempts = 1;
    await store.bury("demo", m, { error: "failed" });
    const [letter] = await store.dead("demo");
    assert.ok(letter.content === content, "dead letter lost its chunked content");
    await store.replay("demo", [m.id]);
    const [back] = await store.peek("demo");
    assert.ok(back.content === content, "replayed message lost its chunked content");
    await store.ack("demo", [back]);
    assert.equal(await countKeys(kv, ["c"]), 0);
  });
});

Deno.test("InboxStore.add() lands 2,000 concurrent messages in the order of their ids", async () => {
  await withKv(async (kv) => {
    const store = new InboxStore(kv);
    const results = await Promise.all(
      Array.from(
        { length: 2_000 },
        (_, i) => store.add("demo", [{ source: "inject", content: `message ${i}` }]),
      ),
    );
    const added = results.flat();
    const listed = await store.list("demo");
    assert.equal(listed.length, 2_000);
    assert.deepEqual(listed.map((m) => m.id), added.map((m) => m.id));
    assert.deepEqual(listed.map((m) => m.content), added.map((_, i) => `message ${i}`));
    for (let i = 1; i < listed.length; i++) assert.ok(listed[i - 1].id < listed[i].id);
    assert.equal((await store.pending("demo")).inject, 2_000);
  });
});

Deno.test("InboxStore.add() resolves when a large and a small message are added concurrently", async () => {
  // Every add() that resolves must have stored its message, and every add() must resolve
  // without waiting for some unrelated later write.
  await withKv(async (kv) => {
    const store = new InboxStore(kv);
    const big = "x".repeat(40_000);
    for (let round = 0; round < 200; round++) {
      const adds = [
        store.add("demo", [{ source: "inject", content: `small ${round}` }]),
        store.add("demo", [{ source: "inject", content: big }]),
      ];
      let timer: ReturnType<typeof setTimeout> | undefined;
      const outcome = await Promise.race([
        Promise.all(adds).then(() => "stored"),
        new Promise<string>((
          resolve,
        ) => (timer = setTimeout(() => resolve("stuck"), scaled(1_000)))),
      ]);
      clearTimeout(timer);
      if (outcome === "stuck") {
        // Release the stuck writer with an unrelated write so the KV can be closed.
        await store.add("unrelated", [{ source: "inject", content: "kick" }]);
        await Promise.all(adds);
        assert.fail(`add() never resolved in round ${round} until an unrelated write happened`);
      }
    }
    assert.equal((await store.list("demo")).length, 400);
  });
});

Deno.test("GroupCommit.write() failing for one writer does not fail the others in its commit", async () => {
  await withKv(async (kv) => {
    const group = new GroupCommit(kv);
    // Same tick: both share the first commit, which KV refuses (a value over 64 KiB).
    const bad = group.write([{ key: ["x", "bad"], value: new Uint8Array(70_000), size: 100 }]);
    const good = group.write([{ key: ["x", "good"], value: "fine", size: 100 }]);
    await assert.rejects(bad);
    await good;
    assert.equal((await kv.get(["x", "good"])).value, "fine");
    assert.equal((await kv.get(["x", "bad"])).value, null);
  });
});

Deno.test("InboxStore.add() refuses a label longer than 1024 characters and stores nothing", async () => {
  await withKv(async (kv) => {
    const store = new InboxStore(kv);
    await assert.rejects(
      () => store.add("s", [{ source: "inject", label: "x".repeat(1025), content: "c" }]),
      RangeError,
    );
    assert.equal((await store.list("s")).length, 0);
  });
});
