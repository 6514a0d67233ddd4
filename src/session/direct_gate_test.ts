import assert from "node:assert/strict";
import { createSink, type OutputSink } from "../output/sink.ts";
import { until } from "../../test/_poll.ts";
import { DirectGate, type DirectGateOptions, MAX_DIRECT_BACKLOG } from "./direct_gate.ts";

/** A real JSONL sink into memory whose writes wait while `stall()` holds them. */
function output(): { sink: OutputSink; stall(): () => void } {
  let held: Promise<void> | null = null;
  const sink = createSink("jsonl", {
    session: "demo",
    writer: {
      async write(p) {
        if (held) await held;
        return p.length;
      },
    },
  });
  return {
    sink,
    stall() {
      const { promise, resolve } = Promise.withResolvers<void>();
      held = promise;
      return () => {
        held = null;
        resolve();
      };
    },
  };
}

/** A look whose answer the test gives: `answer(found)` ends it. */
function pendingLook<T>(): { peek: () => Promise<T[]>; answer(found: T[]): void } {
  const { promise, resolve } = Promise.withResolvers<T[]>();
  return { peek: () => promise, answer: resolve };
}

/** A gate of a running runner whose first look found the inbox empty. */
async function openGate(options: Partial<DirectGateOptions> = {}): Promise<DirectGate> {
  const gate = new DirectGate({ sink: output().sink, ...options });
  gate.start();
  await gate.look(() => Promise.resolve([]), 256);
  return gate;
}

Deno.test("DirectGate opens once a look of a running runner finds the inbox empty", async () => {
  const gate = new DirectGate({ sink: output().sink });
  gate.start();
  assert.equal(gate.accepts(), false, "running, but no look vouched for the inbox yet");
  await gate.look(() => Promise.resolve(["stored"]), 256);
  assert.equal(gate.accepts(), false, "a look that found messages");
  await gate.look(() => Promise.resolve([]), 256);
  assert.equal(gate.accepts(), true);
  gate.stop();
  assert.equal(gate.accepts(), false, "stopped");
  await gate.look(() => Promise.resolve([]), 256);
  assert.equal(gate.accepts(), false, "not running: nothing drains what it would let through");
});

Deno.test("DirectGate shuts at a sign of a new message until the next empty look", async () => {
  const gate = await openGate();
  gate.mayHaveMore();
  assert.equal(gate.accepts(), false);
  await gate.look(() => Promise.resolve([]), 256);
  assert.equal(gate.accepts(), true);
});

Deno.test("DirectGate does not trust an empty look that a new message overlapped", async () => {
  const gate = await openGate();
  const look = pendingLook<string>();
  const looking = gate.look(look.peek, 256);
  gate.mayHaveMore(); // stored after the look took its snapshot
  look.answer([]);
  assert.deepEqual(await looking, []);
  assert.equal(gate.accepts(), false, "the look may have missed it");
  await gate.look(() => Promise.resolve([]), 256);
  assert.equal(gate.accepts(), true);
});

Deno.test("DirectGate stays shut while a message is on its way in, and until a look after", async () => {
  const gate = await openGate();
  const release = gate.hold();
  const other = gate.hold();
  await gate.look(() => Promise.resolve([]), 256);
  assert.equal(gate.accepts(), false, "held");
  release();
  release(); // a second call does not release the other hold
  await gate.look(() => Promise.resolve([]), 256);
  assert.equal(gate.accepts(), false, "still held by the other");
  other();
  assert.equal(gate.accepts(), false, "released, but not looked at since");
  await gate.look(() => Promise.resolve([]), 256);
  assert.equal(gate.accepts(), true);
});

Deno.test("DirectGate never opens when disabled or after a hard stop", async () => {
  assert.equal((await openGate({ disabled: true })).accepts(), false);
  const hardStop = new AbortController();
  const gate = await openGate({ hardStop: hardStop.signal });
  assert.equal(gate.accepts(), true);
  hardStop.abort();
  assert.equal(gate.accepts(), false);
  assert.equal(await gate.whenAccepting(), false);
});

Deno.test("DirectGate shuts while the output lags: a stalled write, or too much queued", async () => {
  const { sink, stall } = output();
  const gate = await openGate({ sink });
  const unstall = stall();
  sink.write({ type: "status", message: "small" });
  const written = sink.flush();
  assert.equal(gate.accepts(), true, "a write just started is no lag");
  await until(() => !gate.accepts(), () => "a stalled write never shut the gate");
  unstall();
  await written;
  assert.equal(gate.accepts(), true);
  const big = "y".repeat(1000);
  while (sink.backlog <= MAX_DIRECT_BACKLOG) sink.write({ type: "status", message: big });
  assert.equal(gate.accepts(), false, "over the backlog limit");
  await sink.flush();
  assert.equal(gate.accepts(), true);
});

Deno.test("DirectGate.whenAccepting() answers at once when no look is due", async () => {
  const gate = new DirectGate({ sink: output().sink });
  assert.equal(await gate.whenAccepting(), false, "not running");
  gate.start();
  assert.equal(await gate.whenAccepting(), false, "running, inbox not looked at, no look on");
  await gate.look(() => Promise.resolve([]), 256);
  assert.equal(await gate.whenAccepting(), true);
});

Deno.test("DirectGate.whenAccepting() waits for the look in progress", async () => {
  const gate = await openGate();
  gate.mayHaveMore();
  const look = pendingLook<string>();
  const looking = gate.look(look.peek, 256);
  let settled = false;
  const waiting = gate.whenAccepting().finally(() => (settled = true));
  await Promise.resolve();
  assert.equal(settled, false, "it waits for the look's answer");
  look.answer([]);
  await looking;
  assert.equal(await waiting, true);

  // A look overlapped by a new message: the wait ends in a refusal.
  gate.mayHaveMore();
  const overlapped = pendingLook<string>();
  const second = gate.look(overlapped.peek, 256);
  const refused = gate.whenAccepting();
  gate.hold()();
  overlapped.answer([]);
  await second;
  assert.equal(await refused, false);
});

Deno.test("DirectGate.whenAccepting() waits out a short batch for the look after it", async () => {
  const gate = await openGate();
  gate.mayHaveMore();
  await gate.look(() => Promise.resolve(["last"]), 256); // fewer than a full batch
  const waiting = gate.whenAccepting();
  await gate.look(() => Promise.resolve([]), 256); // the look after that batch
  assert.equal(await waiting, true);

  // After a full batch the next look will likely find more: no wait.
  gate.mayHaveMore();
  await gate.look(() => Promise.resolve(["a", "b"]), 2);
  assert.equal(await gate.whenAccepting(), false);
});

Deno.test("DirectGate.whenAccepting() is answered by stop()", async () => {
  const gate = await openGate();
  gate.mayHaveMore();
  const look = pendingLook<string>();
  const looking = gate.look(look.peek, 256);
  const waiting = gate.whenAccepting();
  gate.stop();
  assert.equal(await waiting, false);
  look.answer([]);
  await looking;
  assert.equal(gate.accepts(), false, "an empty look after stop() does not open it");
});

Deno.test("DirectGate.whenAccepting() gives up on a look that does not end", async () => {
  const gate = await openGate();
  gate.mayHaveMore();
  const look = pendingLook<string>(); // a batch stuck behind a reader of stdout that stopped
  const looking = gate.look(look.peek, 256);
  assert.equal(await gate.whenAccepting(), false, "refused after the stall limit, not held");
  look.answer([]);
  await looking;
});

Deno.test("DirectGate.look() passes a failed look on and stays shut", async () => {
  const gate = await openGate();
  gate.mayHaveMore();
  await assert.rejects(() => gate.look(() => Promise.reject(new Error("kv closed")), 256), {
    message: "kv closed",
  });
  assert.equal(gate.accepts(), false);
  assert.equal(await gate.whenAccepting(), false, "no look in progress after the failure");
});
