import assert from "node:assert/strict";
import { Notifier, sleep } from "./notifier.ts";

/** Milliseconds `p` takes to settle. */
async function timed(p: Promise<unknown>): Promise<number> {
  const start = performance.now();
  await p;
  return performance.now() - start;
}

Deno.test("Notifier.wait() returns at once after an earlier wake()", async () => {
  const n = new Notifier();
  n.wake();
  assert.ok(await timed(n.wait(5_000)) < 100);
});

Deno.test("Notifier.wait() consumes a wake: the next wait waits for its timeout", async () => {
  const n = new Notifier();
  n.wake();
  n.wake();
  await n.wait(5_000);
  const ms = await timed(n.wait(80));
  assert.ok(ms >= 70, `returned after ${ms} ms`);
});

Deno.test("Notifier.wake() releases a waiter that is already waiting", async () => {
  const n = new Notifier();
  const waiting = n.wait(5_000);
  setTimeout(() => n.wake(), 30);
  const ms = await timed(waiting);
  assert.ok(ms < 1_000, `took ${ms} ms`);
  // That wake was used up by the waiter.
  assert.ok(await timed(n.wait(60)) >= 50);
});

Deno.test("Notifier.wait() returns after its timeout without a wake", async () => {
  const ms = await timed(new Notifier().wait(60));
  assert.ok(ms >= 50 && ms < 1_000, `took ${ms} ms`);
});

Deno.test("Notifier.wait() returns when the signal aborts", async () => {
  const n = new Notifier();
  assert.ok(await timed(n.wait(5_000, AbortSignal.abort())) < 100);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 30);
  assert.ok(await timed(n.wait(5_000, controller.signal)) < 1_000);
});

Deno.test("sleep() sleeps, and returns early when the signal aborts", async () => {
  const ms = await timed(sleep(60));
  assert.ok(ms >= 50, `slept ${ms} ms`);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 20);
  assert.ok(await timed(sleep(5_000, controller.signal)) < 1_000);
  assert.ok(await timed(sleep(5_000, AbortSignal.abort())) < 100);
});
