import assert from "node:assert/strict";
import { HookhostError } from "../errors.ts";
import { InboxStore } from "../inbox/store.ts";
import type { StoredMessage } from "../inbox/message.ts";
import { type ScheduleRecord, ScheduleStore } from "./store.ts";
import { withKv } from "../../test/_kv.ts";

const MIN = 60_000;
const T0 = Date.UTC(2026, 5, 1, 12, 0, 0);

/** A fake clock: `clock.now()` reads `clock.t`. */
function fakeClock(t = T0) {
  const clock = { t, now: () => clock.t };
  return clock;
}

async function getRecord(kv: Deno.Kv, id: string): Promise<ScheduleRecord | null> {
  return (await kv.get<ScheduleRecord>(["sch", id])).value;
}

Deno.test("ScheduleStore.add() stores schedules that list() returns soonest first", async () => {
  await withKv(async (kv) => {
    const clock = fakeClock();
    const store = new ScheduleStore(kv, { now: clock.now });
    const hourly = await store.add("a", { kind: "every", ms: 60 * MIN }, "hourly");
    const soon = await store.add("a", { kind: "at", at: T0 + 5 * MIN }, "soon");
    const other = await store.add("b", { kind: "every", ms: 10 * MIN }, "other");
    assert.equal(soon.next_at, T0 + 5 * MIN);
    assert.equal(hourly.next_at, T0 + 60 * MIN);
    assert.equal(hourly.created_at, T0);
    assert.equal(hourly.fired, 0);
    assert.deepEqual((await store.list()).map((r) => r.message), ["soon", "other", "hourly"]);
    assert.deepEqual((await store.list("a")).map((r) => r.id), [soon.id, hourly.id]);
    assert.deepEqual(await store.list("nobody"), []);
    assert.deepEqual(await getRecord(kv, other.id), other);
  });
});

Deno.test("ScheduleStore.remove() deletes a schedule and throws for an unknown id", async () => {
  await withKv(async (kv) => {
    const store = new ScheduleStore(kv, { now: fakeClock().now });
    const r = await store.add("a", { kind: "every", ms: MIN }, "tick");
    assert.deepEqual(await store.remove(r.id), r);
    assert.deepEqual(await store.list(), []);
    await assert.rejects(() => store.remove(r.id), (e: unknown) => {
      assert.ok(e instanceof HookhostError);
      assert.equal(e.code, "no_schedule");
      assert.equal(e.message, `No schedule with id '${r.id}'`);
      return true;
    });
  });
});

Deno.test("ScheduleStore.add() refuses a time in the past, empty and oversized messages", async () => {
  await withKv(async (kv) => {
    const store = new ScheduleStore(kv, { now: fakeClock().now });
    await assert.rejects(() => store.add("a", { kind: "at", at: T0 - 1 }, "late"), {
      name: "RangeError",
      message: `Time '${new Date(T0 - 1).toISOString()}' is in the past`,
    });
    await assert.rejects(() => store.add("a", { kind: "at", at: T0 }, "now"), RangeError);
    await assert.rejects(() => store.add("a", { kind: "every", ms: MIN }, "  "), TypeError);
    await assert.rejects(
      () => store.add("a", { kind: "every", ms: MIN }, "x".repeat(30_001)),
      RangeError,
    );
    assert.deepEqual(await store.list(), []);
  });
});

Deno.test("ScheduleStore.fireDue() fires only due schedules into the inbox as source 'schedule'", async () => {
  await withKv(async (kv) => {
    const clock = fakeClock();
    const store = new ScheduleStore(kv, { now: clock.now });
    const inbox = new InboxStore(kv);
    const once = await store.add("a", { kind: "at", at: T0 + 5 * MIN }, "one-off");
    const every = await store.add("a", { kind: "every", ms: 10 * MIN }, "repeating");

    clock.t = T0 + 5 * MIN - 1;
    assert.deepEqual(await store.fireDue(), new Set());
    assert.deepEqual(await inbox.list("a"), []);

    clock.t = T0 + 5 * MIN;
    assert.deepEqual(await store.fireDue(), new Set(["a"]));
    const [m] = await inbox.peek("a", 10);
    assert.equal(m.source, "schedule");
    assert.equal(m.content, "one-off");
    assert.equal(m.label, `schedule ${once.id}`);
    assert.equal(m.ts, T0 + 5 * MIN);
    // The message sits at the schedule source's rank, where the runner drains first.
    const raw = await kv.get<StoredMessage>(["m", "a", 0, m.id]);
    assert.equal(raw.value?.content, "one-off");
    // A one-off is gone once fired; the repeating one is untouched.
    assert.equal(await getRecord(kv, once.id), null);
    assert.deepEqual(await getRecord(kv, every.id), every);
    assert.equal((await inbox.list("a")).length, 1);
  });
});

Deno.test("ScheduleStore.fireDue() moves a repeating schedule on and fires it once per due time", async () => {
  await withKv(async (kv) => {
    const clock = fakeClock();
    const store = new ScheduleStore(kv, { now: clock.now });
    const inbox = new InboxStore(kv);
    const every = await store.add("a", { kind: "every", ms: 10 * MIN }, "tick");

    clock.t = T0 + 10 * MIN + 3;
    assert.deepEqual(await store.fireDue(), new Set(["a"]));
    const moved = await getRecord(kv, every.id);
    assert.equal(moved?.next_at, T0 + 20 * MIN);
    assert.equal(moved?.fired, 1);
    assert.notEqual(moved?.token, every.token);

    // Firing again at the same moment delivers nothing more.
    assert.deepEqual(await store.fireDue(), new Set());
    assert.equal((await inbox.list("a")).length, 1);

    // Far behind (55 intervals): one message, next run after now in phase.
    clock.t = T0 + 20 * MIN + 55 * 10 * MIN + 7;
    await store.fireDue();
    assert.equal((await inbox.list("a")).length, 2);
    assert.equal((await getRecord(kv, every.id))?.next_at, T0 + 20 * MIN + 56 * 10 * MIN);
  });
});

Deno.test("ScheduleStore.fireDue() delivers a due run once even when called concurrently", async () => {
  await withKv(async (kv) => {
    const clock = fakeClock();
    const a = new ScheduleStore(kv, { now: clock.now });
    const b = new ScheduleStore(kv, { now: clock.now });
    await a.add("s", { kind: "at", at: T0 + MIN }, "exactly once");
    await a.add("s", { kind: "every", ms: MIN }, "repeating");
    clock.t = T0 + MIN;
    await Promise.all([a.fireDue(), b.fireDue(), a.fireDue()]);
    const contents = (await new InboxStore(kv).list("s")).map((m) => m.content).sort();
    assert.deepEqual(contents, ["exactly once", "repeating"]);
  });
});

Deno.test("ScheduleStore.fireDue() with a session fires only that session's schedules", async () => {
  await withKv(async (kv) => {
    const clock = fakeClock();
    const store = new ScheduleStore(kv, { now: clock.now });
    const inbox = new InboxStore(kv);
    await store.add("a", { kind: "at", at: T0 + MIN }, "for a");
    await store.add("b", { kind: "at", at: T0 + MIN }, "for b");
    clock.t = T0 + MIN;
    assert.deepEqual(await store.fireDue("b"), new Set(["b"]));
    assert.deepEqual((await inbox.list("b")).map((m) => m.content), ["for b"]);
    assert.deepEqual(await inbox.list("a"), []);
    assert.equal((await store.list("a")).length, 1);
  });
});

Deno.test("ScheduleStore.onTimer() ignores a stale token and fires on the current one", async () => {
  await withKv(async (kv) => {
    const clock = fakeClock();
    const store = new ScheduleStore(kv, { now: clock.now });
    const inbox = new InboxStore(kv);
    const r = await store.add("a", { kind: "every", ms: 10 * MIN }, "tick");
    clock.t = T0 + 10 * MIN;

    const stale = { kind: "hookhost.schedule", id: r.id, token: "stale-token" } as const;
    assert.equal(await store.onTimer(stale), null);
    assert.deepEqual(await inbox.list("a"), []);
    assert.deepEqual(await getRecord(kv, r.id), r);

    assert.deepEqual(
      await store.onTimer({ kind: "hookhost.schedule", id: r.id, token: r.token }),
      { session: "a", fired: true },
    );
    assert.deepEqual((await inbox.list("a")).map((m) => m.content), ["tick"]);
    // The timer that just fired is now stale itself: a duplicate delivery changes nothing.
    assert.equal(
      await store.onTimer({ kind: "hookhost.schedule", id: r.id, token: r.token }),
      null,
    );
    assert.equal((await inbox.list("a")).length, 1);
  });
});

Deno.test("ScheduleStore.onTimer() re-arms a timer that woke before the schedule is due", async () => {
  await withKv(async (kv) => {
    const clock = fakeClock();
    const store = new ScheduleStore(kv, { now: clock.now });
    const inbox = new InboxStore(kv);
    // Beyond the 30-day queue delay cap, so the first timer wakes early.
    const r = await store.add("a", { kind: "at", at: T0 + 40 * 24 * 60 * MIN }, "far");
    clock.t = T0 + 30 * 24 * 60 * MIN;
    assert.equal(
      await store.onTimer({ kind: "hookhost.schedule", id: r.id, token: r.token }),
      null,
    );
    const rearmed = await getRecord(kv, r.id);
    assert.ok(rearmed);
    assert.equal(rearmed.next_at, r.next_at);
    assert.notEqual(rearmed.token, r.token);
    assert.ok(store.armed.has(rearmed.token));
    assert.deepEqual(await inbox.list("a"), []);

    assert.equal(await store.onTimer({ kind: "hookhost.schedule", id: r.id, token: "gone" }), null);
    assert.equal(
      await store.onTimer({ kind: "hookhost.schedule", id: "no-such", token: "x" }),
      null,
    );
  });
});

Deno.test("ScheduleStore.armForeign() takes over timers armed by another process", async () => {
  await withKv(async (kv) => {
    const clock = fakeClock();
    const first = new ScheduleStore(kv, { now: clock.now });
    const second = new ScheduleStore(kv, { now: clock.now });
    const r = await first.add("a", { kind: "every", ms: MIN }, "tick");
    await second.armForeign();
    const taken = await getRecord(kv, r.id);
    assert.ok(taken && second.armed.has(taken.token));
    assert.notEqual(taken.token, r.token);
    // Arming again is a no-op: the timer is now this process's own.
    await second.armForeign();
    assert.equal((await getRecord(kv, r.id))?.token, taken.token);
    clock.t = T0 + MIN;
    assert.equal(
      await first.onTimer({ kind: "hookhost.schedule", id: r.id, token: r.token }),
      null,
    );
    assert.deepEqual(
      await second.onTimer({ kind: "hookhost.schedule", id: r.id, token: taken.token }),
      { session: "a", fired: true },
    );
  });
});

Deno.test("ScheduleStore.onTimer() of a session's daemon leaves another session's due schedule unfired", async () => {
  await withKv(async (kv) => {
    const clock = fakeClock();
    const store = new ScheduleStore(kv, { now: clock.now });
    const inbox = new InboxStore(kv);
    const r = await store.add("a", { kind: "every", ms: MIN }, "tick");
    const timer = { kind: "hookhost.schedule", id: r.id, token: r.token } as const;
    clock.t = T0 + 5 * MIN;
    // Session b's daemon dequeued a's timer: it names the owner and fires nothing.
    assert.deepEqual(await store.onTimer(timer, { session: "b" }), { session: "a", fired: false });
    assert.deepEqual(await inbox.list("a"), []);
    assert.deepEqual(await getRecord(kv, r.id), r);
    // a's own run fires it once, though five runs were missed.
    assert.deepEqual(await store.fireDue("a"), new Set(["a"]));
    assert.deepEqual((await inbox.list("a")).map((m) => m.content), ["tick"]);
    assert.equal((await getRecord(kv, r.id))?.next_at, T0 + 6 * MIN);
  });
});

Deno.test("ScheduleStore tells onAdd about each message it puts into an inbox, until committed", async () => {
  await withKv(async (kv) => {
    const clock = fakeClock();
    const events: string[] = [];
    const inbox = new InboxStore(kv);
    const store = new ScheduleStore(kv, {
      now: clock.now,
      onAdd: (session) => {
        events.push(`start ${session}`);
        return () => events.push(`end ${session}`);
      },
      onFired: (session, m) => events.push(`fired ${session} ${m.content}`),
    });
    await store.add("a", { kind: "at", at: T0 + MIN }, "one");
    await store.add("b", { kind: "at", at: T0 + 2 * MIN }, "two");
    await store.fireDue();
    assert.deepEqual(events, [], "nothing due, nothing told");
    clock.t = T0 + 3 * MIN;
    await store.fireDue();
    assert.deepEqual(events, [
      "start a",
      "end a",
      "fired a one",
      "start b",
      "end b",
      "fired b two",
    ]);
    assert.deepEqual((await inbox.list("a")).map((m) => m.content), ["one"]);
  });
});
