import assert from "node:assert/strict";
import { Notifier, sleep } from "./notifier.ts";

/**
 * Whether `p` settles before the timers and I/O already due have run (a `setTimeout(0)`), i.e.
 * at once: no test here measures how long anything took.
 */
async function settlesAtOnce(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  p.then(() => settled = true, () => settled = true);
  await new Promise((r) => setTimeout(r, 0));
  return settled;
}

/** A long wait that only ends early when something ends it (the test then cleans it up). */
const LONG = 60_000;

Deno.test("Notifier.wait() returns at once after an earlier wake()", async () => {
  const n = new Notifier();
  n.wake();
  assert.equal(await settlesAtOnce(n.wait(LONG)), true);
});

Deno.test("Notifier.wait() consumes a wake: the next wait waits until the next wake", async () => {
  const n = new Notifier();
  n.wake();
  n.wake();
  await n.wait(LONG);
  const next = n.wait(LONG);
  assert.equal(await settlesAtOnce(next), false, "two wakes before a wait count as one");
  n.wake();
  await next;
});

Deno.test("Notifier.wake() releases a waiter that is already waiting, and is used up by it", async () => {
  const n = new Notifier();
  const waiting = n.wait(LONG);
  assert.equal(await settlesAtOnce(waiting), false);
  n.wake();
  await waiting;
  const again = n.wait(LONG);
  assert.equal(await settlesAtOnce(again), false, "that wake was used up by the waiter");
  n.wake();
  await again;
});

Deno.test("Notifier.wait() returns after its timeout without a wake", async () => {
  const n = new Notifier();
  const waiting = n.wait(30);
  assert.equal(await settlesAtOnce(waiting), false);
  await waiting; // ends by itself: the test would leak a timer or hang otherwise
});

Deno.test("Notifier.wait() returns when the signal aborts", async () => {
  const n = new Notifier();
  assert.equal(await settlesAtOnce(n.wait(LONG, AbortSignal.abort())), true);
  const controller = new AbortController();
  const waiting = n.wait(LONG, controller.signal);
  assert.equal(await settlesAtOnce(waiting), false);
  controller.abort();
  await waiting;
});

Deno.test("sleep() sleeps, and returns early when the signal aborts", async () => {
  const slept = sleep(30);
  assert.equal(await settlesAtOnce(slept), false);
  await slept;
  assert.equal(await settlesAtOnce(sleep(LONG, AbortSignal.abort())), true);
  const controller = new AbortController();
  const sleeping = sleep(LONG, controller.signal);
  assert.equal(await settlesAtOnce(sleeping), false);
  controller.abort();
  await sleeping;
});
