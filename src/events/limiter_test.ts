import assert from "node:assert/strict";
import { Limiter, QueueFullError } from "./limiter.ts";

/** Lets the microtask and timer queues run once. */
const tick = () => new Promise<void>((r) => setTimeout(r, 0));

/** A task that records the concurrency it sees and finishes when released. */
function gate(limiter: Limiter, seen: { now: number; max: number; started: number[] }) {
  const release: (() => void)[] = [];
  const task = (n: number) => () =>
    new Promise<number>((resolve) => {
      seen.now++;
      seen.max = Math.max(seen.max, seen.now);
      seen.started.push(n);
      assert.ok(limiter.active <= 3);
      release[n] = () => {
        seen.now--;
        resolve(n);
      };
    });
  return { release, task };
}

Deno.test("Limiter.run() never runs more than max tasks at once and runs them all", async () => {
  const limiter = new Limiter(3, 100);
  const seen = { now: 0, max: 0, started: [] as number[] };
  const { release, task } = gate(limiter, seen);
  const runs = Array.from({ length: 20 }, (_, n) => limiter.run(task(n)));
  await tick();
  assert.deepEqual(seen.started, [0, 1, 2], "exactly max start at once");
  assert.equal(limiter.active, 3);
  assert.equal(limiter.queued, 17);
  // Release in a scrambled order; each release lets exactly one waiter in.
  const done: number[] = [];
  while (done.length < 20) {
    const running = seen.started.filter((n) => !done.includes(n));
    assert.ok(running.length <= 3, `running ${running}`);
    const n = running[running.length - 1];
    release[n]();
    done.push(n);
    await tick();
  }
  assert.deepEqual((await Promise.all(runs)).sort((a, b) => a - b), [...Array(20).keys()]);
  assert.equal(seen.max, 3);
  assert.equal(limiter.peak, 3);
  assert.equal(limiter.active, 0);
  assert.equal(limiter.queued, 0);
  assert.equal(limiter.overflowed, 0);
  assert.deepEqual(seen.started.slice(3), [...Array(20).keys()].slice(3), "waiters run FIFO");
});

Deno.test("Limiter.run() keeps the cap with tasks that finish at once or throw", async () => {
  const limiter = new Limiter(2, 1000);
  let now = 0;
  let max = 0;
  const results = await Promise.allSettled(
    Array.from({ length: 200 }, (_, n) =>
      limiter.run(async () => {
        now++;
        max = Math.max(max, now);
        await (n % 3 ? tick() : Promise.resolve());
        now--;
        if (n % 7 === 0) throw new Error(`task ${n}`);
        return n;
      })),
  );
  assert.equal(max, 2);
  assert.equal(results.filter((r) => r.status === "fulfilled").length, 200 - 29);
  assert.equal(results.filter((r) => r.status === "rejected").length, 29);
  assert.equal(limiter.active, 0);
});

Deno.test("Limiter.run() refuses, counts and reports what overflows the queue", async () => {
  const limiter = new Limiter(1, 2);
  let open!: () => void;
  const blocker = new Promise<void>((r) => (open = r));
  const ran: string[] = [];
  const task = (name: string) => async () => {
    ran.push(name);
    await blocker;
    return name;
  };
  const a = limiter.run(task("a"));
  const b = limiter.run(task("b"));
  const c = limiter.run(task("c"));
  await assert.rejects(limiter.run(task("d")), QueueFullError);
  await assert.rejects(limiter.run(task("e")), (e: unknown) => {
    assert.ok(e instanceof QueueFullError);
    assert.equal(e.code, "queue_full");
    assert.match(e.message, /queue is full \(2 waiting\)/);
    return true;
  });
  assert.equal(limiter.overflowed, 2);
  assert.equal(limiter.queued, 2);
  open();
  assert.deepEqual(await Promise.all([a, b, c]), ["a", "b", "c"]);
  assert.deepEqual(ran, ["a", "b", "c"], "refused tasks never run");
  assert.equal(limiter.overflowed, 2);
  // Room again once the queue drained.
  assert.equal(await limiter.run(() => Promise.resolve("f")), "f");
  assert.equal(limiter.overflowed, 2);
});

Deno.test("Limiter.run() with a zero queue limit refuses everything past max", async () => {
  const limiter = new Limiter(2, 0);
  let open!: () => void;
  const blocker = new Promise<void>((r) => (open = r));
  const running = [limiter.run(() => blocker), limiter.run(() => blocker)];
  await assert.rejects(limiter.run(() => Promise.resolve()), QueueFullError);
  assert.equal(limiter.overflowed, 1);
  open();
  await Promise.all(running);
});

Deno.test("Limiter.idle() resolves only once nothing runs or waits", async () => {
  const limiter = new Limiter(1, 10);
  await limiter.idle();
  const order: string[] = [];
  let open!: () => void;
  const blocker = new Promise<void>((r) => (open = r));
  const first = limiter.run(async () => {
    await blocker;
    order.push("first");
  });
  const second = limiter.run(async () => {
    await tick();
    order.push("second");
  });
  const idle = limiter.idle().then(() => order.push("idle"));
  await tick();
  assert.deepEqual(order, [], "idle() waits while a task runs");
  open();
  await Promise.all([first, second, idle]);
  assert.deepEqual(order, ["first", "second", "idle"]);
  await limiter.idle();
});

Deno.test("Limiter() rejects a cap below 1 or a negative queue limit", () => {
  assert.throws(() => new Limiter(0, 1), RangeError);
  assert.throws(() => new Limiter(1.5, 1), RangeError);
  assert.throws(() => new Limiter(1, -1), RangeError);
  assert.throws(() => new Limiter(1, NaN), RangeError);
});
