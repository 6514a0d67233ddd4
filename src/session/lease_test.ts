import assert from "node:assert/strict";
import { InboxStore } from "../inbox/store.ts";
import { LostLeaseError } from "../kv/fence.ts";
import { SessionLease } from "./lease.ts";

/** Two daemons' leases on one KV, with one wall clock and a monotonic clock each. */
async function pair(ttlMs = 1000) {
  const kv = await Deno.openKv(":memory:");
  const clock = { wall: 1_000_000, a: 0, b: 0 };
  const lease = (who: "a" | "b", lock?: string) =>
    new SessionLease(kv, "s", {
      ttlMs,
      id: who,
      now: () => clock.wall,
      monotonic: () => clock[who],
      lock,
    });
  return { kv, clock, lease };
}

Deno.test("SessionLease: one holder at a time; a standby takes over only once the lease expired", async () => {
  const { kv, clock, lease } = await pair();
  try {
    const a = lease("a");
    const b = lease("b");
    assert.equal(await a.refresh(), true);
    assert.equal(await b.refresh(), false, "held by a");
    assert.equal((await b.current())?.holder, "a");
    clock.wall += 900;
    assert.equal(await b.refresh(), false, "not expired yet");
    clock.wall += 200;
    let lost = false;
    a.onLost(() => lost = true);
    assert.equal(await b.refresh(), true, "expired: b takes it");
    assert.equal((await b.current())?.token, 2);
    assert.equal(await a.refresh(), false, "a's renewal finds b");
    assert.equal(lost, true);
    assert.equal(a.held, false);
  } finally {
    kv.close();
  }
});

Deno.test("SessionLease: the old holder's fenced acks change nothing once another took over", async () => {
  const { kv, clock, lease } = await pair();
  try {
    const store = new InboxStore(kv);
    const [m1, m2] = await store.add("s", [
      { source: "inject", content: "one" },
      { source: "inject", content: "two" },
    ]);
    const a = lease("a");
    assert.ok(await a.refresh());
    const stale = a.fence();
    await store.ack("s", [m1], { fence: stale });
    clock.wall += 2000;
    assert.ok(await lease("b").refresh());
    await assert.rejects(store.ack("s", [m2], { fence: stale }), LostLeaseError);
    await assert.rejects(
      store.recordAttempt("s", { ...m2, attempts: 1 }, { fence: stale }),
      LostLeaseError,
    );
    await assert.rejects(store.bury("s", m2, { error: "x", fence: stale }), LostLeaseError);
    assert.deepEqual((await store.list("s")).map((m) => [m.content, m.attempts]), [["two", 0]]);
    assert.deepEqual(await store.dead("s"), []);
  } finally {
    kv.close();
  }
});

Deno.test("SessionLease: valid() ends 3/4 of the ttl after the last renewal by the holder's own clock", async () => {
  const { kv, clock, lease } = await pair();
  try {
    const a = lease("a");
    assert.ok(await a.refresh());
    assert.ok(a.valid());
    clock.a += 749;
    assert.ok(a.valid());
    clock.a += 2; // paused (SIGSTOP) past 750 ms: no longer counts on it, though no one took it
    assert.equal(a.valid(), false);
    assert.ok(a.held);
    assert.ok(await a.refresh(), "nobody took it: the renewal succeeds");
    assert.ok(a.valid());
  } finally {
    kv.close();
  }
});

Deno.test("SessionLease: release() hands over at once; a lease under this daemon's lock is taken over at once", async () => {
  const { kv, lease } = await pair(60_000);
  try {
    const a = lease("a");
    assert.ok(await a.refresh());
    await a.release();
    const b = lease("b", "host:/state/sessions/s.lock");
    assert.ok(await b.refresh(), "released: no wait");
    // b is killed -9 (no release); its successor holds the same session lock.
    const successor = lease("a", "host:/state/sessions/s.lock");
    assert.ok(await successor.refresh(), "same lock: its holder is dead");
    const other = lease("b", "other:/state/sessions/s.lock");
    assert.equal(await other.refresh(), false, "another lock waits for the expiry");
  } finally {
    kv.close();
  }
});
