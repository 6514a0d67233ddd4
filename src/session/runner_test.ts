import assert from "node:assert/strict";
import { join } from "node:path";
import { getLogger } from "@logtape/logtape";
import { processSpawner, type Spawner, SpawnError } from "../exec/spawn.ts";
import type { Message, Source } from "../inbox/message.ts";
import { InboxStore } from "../inbox/store.ts";
import { createSink } from "../output/sink.ts";
import { type HandlerSettings, type RunnerOptions, SessionRunner } from "./runner.ts";
import { until } from "../../test/_poll.ts";

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any> & { type: string };

interface Harness {
  kv: Deno.Kv;
  store: InboxStore;
  dir: string;
  /** Every JSONL record written so far. */
  records(): Rec[];
  /** Writes an executable `/bin/sh` script into the temp dir. */
  script(name: string, body: string): Promise<string>;
  runner(options?: Partial<RunnerOptions>): SessionRunner;
  statuses: [string, string][];
}

/** Real `:memory:` KV, a temp dir for scripts, a JSONL sink into memory. */
async function withRunner(fn: (h: Harness) => Promise<void>): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  const dir = await Deno.makeTempDir({ prefix: "hh-runner" });
  let out = "";
  const decoder = new TextDecoder();
  const sink = createSink("jsonl", {
    session: "demo",
    writer: {
      write(p) {
        out += decoder.decode(p);
        return Promise.resolve(p.length);
      },
    },
  });
  const store = new InboxStore(kv);
  const statuses: [string, string][] = [];
  const h: Harness = {
    kv,
    store,
    dir,
    statuses,
    records: () => out.split("\n").filter(Boolean).map((l) => JSON.parse(l)),
    async script(name, body) {
      const path = join(dir, name);
      await Deno.writeTextFile(path, `#!/bin/sh\n${body}\n`);
      await Deno.chmod(path, 0o755);
      return path;
    },
    runner: (options = {}) =>
      new SessionRunner({
        session: "demo",
        store,
        sink,
        log: getLogger(["hookhost-test"]),
        spawner: processSpawner,
        onStatus: (m, status) => statuses.push([m.content, status]),
        ...options,
      }),
  };
  try {
    await fn(h);
  } finally {
    await sink.flush().catch(() => {});
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function handler(command: string, overrides: Partial<HandlerSettings> = {}): HandlerSettings {
  return { command, timeoutMs: 10_000, maxAttempts: 3, backoffMs: 5, ...overrides };
}

Deno.test("SessionRunner.drain() prints messages in drain order and removes them", async () => {
  await withRunner(async (h) => {
    const order: [Source, string][] = [
      ["webhook", "w1"],
      ["inject", "i1"],
      ["schedule", "s1"],
      ["skill", "k1"],
      ["background", "b1"],
      ["webhook", "w2"],
    ];
    for (const [source, content] of order) {
      await h.store.add("demo", [{ source, content, label: `${source} label` }]);
    }
    await h.store.add("other", [{ source: "inject", content: "not mine" }]);
    const runner = h.runner({ batchSize: 2 });
    await runner.drain();

    const injected = h.records().filter((r) => r.type === "injected");
    assert.deepEqual(injected.map((r) => r.content), ["s1", "b1", "k1", "i1", "w1", "w2"]);
    assert.deepEqual(injected[0].source_kind, "schedule");
    assert.deepEqual(injected[0].source_label, "schedule label");
    assert.equal(injected[0].session_id, "demo");
    assert.deepEqual(await h.store.list("demo"), []);
    assert.equal((await h.store.list("other")).length, 1);
    assert.equal(runner.processed, 6);
    assert.deepEqual(h.statuses.filter(([, s]) => s === "completed").map(([c]) => c), [
      "s1",
      "b1",
      "k1",
      "i1",
      "w1",
      "w2",
    ]);
  });
});

Deno.test("SessionRunner.drain() runs the handler once per message and prints its reply", async () => {
  await withRunner(async (h) => {
    const count = join(h.dir, "count");
    const script = await h.script(
      "agent.sh",
      `echo x >> ${count}\n` +
        'printf "  %s|%s|%s|%s  \\n" "$HOOKHOST_SESSION" "$HOOKHOST_SOURCE" "$HOOKHOST_MESSAGE_ID" "$(cat)"',
    );
    const [a, b] = await h.store.add("demo", [
      { source: "inject", content: "hello" },
      { source: "inject", content: "world" },
    ]);
    await h.runner({ handler: handler(script) }).drain();

    const records = h.records();
    assert.deepEqual(records.map((r) => [r.type, r.id]), [
      ["injected", a.id],
      ["reply", a.id],
      ["injected", b.id],
      ["reply", b.id],
    ]);
    assert.equal(records[1].content, `demo|inject|${a.id}|hello`);
    assert.equal(records[3].content, `demo|inject|${b.id}|world`);
    assert.deepEqual(await h.store.list("demo"), []);
    assert.deepEqual(await h.store.dead("demo"), []);
    assert.equal((await Deno.readTextFile(count)).split("\n").filter(Boolean).length, 2);
    assert.deepEqual(h.statuses, [
      ["hello", "running"],
      ["hello", "completed"],
      ["world", "running"],
      ["world", "completed"],
    ]);
  });
});

Deno.test("SessionRunner.drain() prints no reply record for an empty handler output", async () => {
  await withRunner(async (h) => {
    const script = await h.script("quiet.sh", "cat > /dev/null");
    await h.store.add("demo", [{ source: "inject", content: "x" }]);
    await h.runner({ handler: handler(script) }).drain();
    assert.deepEqual(h.records().map((r) => r.type), ["injected"]);
    assert.deepEqual(await h.store.list("demo"), []);
  });
});

Deno.test("SessionRunner.drain() retries a failing handler, then buries the message", async () => {
  await withRunner(async (h) => {
    const count = join(h.dir, "count");
    const script = await h.script(
      "fail.sh",
      `echo x >> ${count}\necho 'model unavailable' >&2\nexit 1`,
    );
    const [m] = await h.store.add("demo", [{ source: "webhook", content: "job" }]);
    await h.store.add("demo", [{ source: "webhook", content: "next" }]);
    await h.runner({ handler: handler(script, { maxAttempts: 2, backoffMs: 5 }) }).drain();

    assert.equal((await Deno.readTextFile(count)).split("\n").filter(Boolean).length, 4);
    const dead = await h.store.dead("demo");
    assert.deepEqual(dead.map((d) => [d.id, d.content, d.attempts]), [
      [m.id, "job", 2],
      [dead[1].id, "next", 2],
    ]);
    assert.equal(dead[0].error, "exit code 1: model unavailable");
    assert.deepEqual(await h.store.list("demo"), []);

    const records = h.records().filter((r) => r.id === m.id || r.message?.includes(m.id));
    assert.deepEqual(records.map((r) => r.type), ["injected", "status", "error"]);
    assert.match(records[1].message, /attempt 1 of 2.*model unavailable.*retrying in 5 ms/);
    assert.equal(
      records[2].message,
      `Message ${m.id} moved to dead letters after 2 attempt(s): exit code 1: model unavailable`,
    );
    assert.deepEqual(h.statuses.slice(0, 2), [["job", "running"], ["job", "failed"]]);
  });
});

Deno.test("SessionRunner.drain() buries a message whose handler cannot start", async () => {
  await withRunner(async (h) => {
    let calls = 0;
    const failing: Spawner = {
      run(command) {
        calls++;
        return Promise.reject(new SpawnError(command, new Error("permission denied")));
      },
    };
    const [m] = await h.store.add("demo", [{ source: "inject", content: "x" }]);
    await h.runner({
      spawner: failing,
      handler: handler("/opt/agent", { maxAttempts: 3, backoffMs: 1 }),
    }).drain();
    assert.equal(calls, 3);
    const [dead] = await h.store.dead("demo");
    assert.equal(dead.id, m.id);
    assert.equal(dead.error, "Cannot start '/opt/agent': permission denied");
    assert.deepEqual(await h.store.list("demo"), []);
    assert.ok(h.records().some((r) => r.type === "error" && r.message.includes(m.id)));
  });
});

Deno.test("SessionRunner.drain() buries a message whose handler times out", async () => {
  await withRunner(async (h) => {
    const script = await h.script("slow.sh", "sleep 30");
    await h.store.add("demo", [{ source: "inject", content: "x" }]);
    const started = Date.now();
    await h.runner({ handler: handler(script, { timeoutMs: 200, maxAttempts: 1 }) }).drain();
    assert.ok(Date.now() - started < 5_000);
    const [dead] = await h.store.dead("demo");
    assert.equal(dead.error, "timed out after 200 ms");
  });
});

Deno.test("SessionRunner.drain() stopped during a backoff keeps the message and its attempts", async () => {
  await withRunner(async (h) => {
    const script = await h.script("fail.sh", "echo nope >&2\nexit 2");
    const [m] = await h.store.add("demo", [{ source: "inject", content: "keep me" }]);
    const controller = new AbortController();
    const runner = h.runner({ handler: handler(script, { backoffMs: 60_000 }) });
    const draining = runner.drain(controller.signal);
    // Wait for the first failed attempt to be recorded, then stop.
    await until(
      async () => Boolean((await h.store.peek("demo"))[0]?.last_error),
      () => "the first attempt was never recorded",
    );
    controller.abort();
    await draining;
    const [pending] = await h.store.list("demo");
    assert.equal(pending.id, m.id);
    assert.equal(pending.attempts, 1);
    assert.equal(pending.last_error, "exit code 2: nope");
    assert.deepEqual(await h.store.dead("demo"), []);
  });
});

Deno.test("SessionRunner.drain() does not print a retried message as injected twice", async () => {
  await withRunner(async (h) => {
    const script = await h.script("ok.sh", "echo done");
    const [m] = await h.store.add("demo", [{ source: "inject", content: "x" }]);
    // Shown and attempted once before a restart.
    const shown: Message = { ...m, attempts: 1 };
    await h.store.recordAttempt("demo", shown, { error: "killed" });
    await h.runner({ handler: handler(script) }).drain();
    assert.deepEqual(h.records().map((r) => [r.type, r.id]), [["reply", m.id]]);
    assert.deepEqual(await h.store.list("demo"), []);
  });
});

Deno.test("SessionRunner.drain() shows a message before it records the first attempt", async () => {
  await withRunner(async (h) => {
    const script = await h.script("ok.sh", "echo done");
    const gate = Promise.withResolvers<void>();
    const writing = Promise.withResolvers<void>();
    let out = "";
    const sink = createSink("jsonl", {
      session: "demo",
      writer: {
        async write(p) {
          writing.resolve();
          await gate.promise;
          out += new TextDecoder().decode(p);
          return p.length;
        },
      },
    });
    await h.store.add("demo", [{ source: "inject", content: "x" }]);
    const draining = h.runner({ sink, handler: handler(script) }).drain();
    await writing.promise; // its `injected` record is being written
    // A crash now must leave the message unattempted, so that the next run shows it.
    const [pending] = await h.store.list("demo");
    assert.equal(pending.attempts, 0);
    gate.resolve();
    await draining;
    assert.deepEqual(out.trim().split("\n").map((l) => JSON.parse(l).type), ["injected", "reply"]);
    assert.deepEqual(await h.store.list("demo"), []);
  });
});

Deno.test("SessionRunner.run() processes messages added later when woken, until aborted", async () => {
  await withRunner(async (h) => {
    const runner = h.runner();
    const controller = new AbortController();
    const running = runner.run(controller.signal, { recheckMs: 60_000 });
    await accepting(runner); // its first look found the inbox empty
    await h.store.add("demo", [{ source: "inject", content: "late arrival" }]);
    runner.wake();
    await until(() => runner.processed >= 1, () => "the woken runner never took the message");
    controller.abort();
    await running;
    assert.equal(runner.processed, 1);
    assert.deepEqual(h.records().map((r) => r.content), ["late arrival"]);
    assert.deepEqual(await h.store.list("demo"), []);
  });
});

Deno.test("SessionRunner.drain() keeps messages in the inbox when the output cannot be written", async () => {
  await withRunner(async (h) => {
    const broken = createSink("jsonl", {
      session: "demo",
      writer: { write: () => Promise.reject(new Deno.errors.BrokenPipe("stdout closed")) },
    });
    await h.store.add("demo", [{ source: "inject", content: "must survive" }]);
    await assert.rejects(() => h.runner({ sink: broken }).drain(), Deno.errors.BrokenPipe);
    assert.deepEqual((await h.store.list("demo")).map((m) => m.content), ["must survive"]);
  });
});

Deno.test("SessionRunner() refuses invalid handler settings", async () => {
  await withRunner((h) => {
    assert.throws(() => h.runner({ handler: handler("/x", { maxAttempts: 0 }) }), RangeError);
    assert.throws(() => h.runner({ handler: handler("/x", { timeoutMs: 0 }) }), RangeError);
    return Promise.resolve();
  });
});

/** Waits until `runner` takes messages directly: its look found the inbox empty. */
function accepting(runner: SessionRunner): Promise<void> {
  return until(
    () => runner.accepts(),
    () => "the runner never took messages directly",
    undefined,
    2,
  );
}

/** One turn of the event loop: promises already settled have run their callbacks. */
const turn = () => new Promise((r) => setTimeout(r, 0));

/** Starts `runner.run()`; `stop()` aborts it and waits for it to end. */
function running(runner: SessionRunner): { stop(): Promise<void> } {
  const controller = new AbortController();
  // No periodic re-look: each look makes accepts() false while it runs.
  const loop = runner.run(controller.signal, { recheckMs: 60_000 });
  return {
    async stop() {
      controller.abort();
      await loop;
    },
  };
}

/**
 * An inbox store whose looks take their snapshot at once but, while the gate is closed, answer
 * only once it opens. `held()` resolves when a look has its snapshot and waits at the gate;
 * `open()` resolves once that look has answered and the runner has taken its answer.
 */
function gatedStore(kv: Deno.Kv): {
  store: InboxStore;
  gate: { close(): void; held(): Promise<void>; open(): Promise<void> };
} {
  let gate: PromiseWithResolvers<void> | null = null;
  let held = Promise.withResolvers<void>();
  let answered = Promise.withResolvers<void>();
  class GatedStore extends InboxStore {
    override async peek(session: string, limit?: number): Promise<Message[]> {
      const found = await super.peek(session, limit);
      if (gate) {
        held.resolve();
        await gate.promise;
        answered.resolve();
      }
      return found;
    }
  }
  return {
    store: new GatedStore(kv),
    gate: {
      close() {
        gate = Promise.withResolvers<void>();
        held = Promise.withResolvers<void>();
        answered = Promise.withResolvers<void>();
      },
      held: () => held.promise,
      async open() {
        const wasHeld = gate !== null;
        gate?.resolve();
        gate = null;
        if (wasHeld) await answered.promise;
        await turn();
      },
    },
  };
}

Deno.test("SessionRunner.deliver() writes messages at once, unstored, while the inbox is empty", async () => {
  await withRunner(async (h) => {
    const runner = h.runner();
    const [m] = h.store.prepare([{ source: "webhook", label: "webhook gh", content: "direct" }]);
    assert.equal(await runner.deliver([m]), false, "outside run() it takes nothing");
    const loop = running(runner);
    await accepting(runner);
    assert.equal(await runner.deliver([m]), true);
    const [rec] = h.records();
    assert.equal(rec.type, "injected");
    assert.equal(rec.id, m.id);
    assert.equal(rec.content, "direct");
    assert.equal(rec.source_label, "webhook gh");
    assert.deepEqual(h.statuses, [["direct", "running"], ["direct", "completed"]]);
    assert.equal(runner.processed, 1);
    assert.deepEqual(await h.store.list("demo"), []);
    await loop.stop();
    assert.equal(runner.accepts(), false, "after run() it takes nothing");
  });
});

Deno.test("SessionRunner.deliver() refuses while stored messages wait, so drain order holds", async () => {
  await withRunner(async (h) => {
    const runner = h.runner();
    const loop = running(runner);
    await accepting(runner);
    await h.store.add("demo", [{ source: "webhook", content: "stored first" }]);
    runner.wake();
    const [late] = h.store.prepare([{ source: "webhook", content: "came later" }]);
    assert.equal(runner.accepts(), false);
    assert.equal(await runner.deliver([late]), false);
    assert.equal(h.records().length, 0, "a refused message is not written");
    // Once the runner has drained the inbox, direct delivery resumes.
    await accepting(runner);
    assert.equal(await runner.deliver([late]), true);
    await loop.stop();
    assert.deepEqual(h.records().map((r) => r.content), ["stored first", "came later"]);
  });
});

Deno.test("SessionRunner.deliver() refuses while a message is on its way into the inbox", async () => {
  await withRunner(async (h) => {
    const runner = h.runner();
    const loop = running(runner);
    await accepting(runner);
    // What the daemon's store does around every add, and schedules around firing.
    const release = runner.hold();
    const [late] = h.store.prepare([{ source: "webhook", content: "came later" }]);
    assert.equal(await runner.deliver([late]), false, "the earlier message is not stored yet");
    await h.store.add("demo", [{ source: "webhook", content: "stored first" }]);
    release();
    assert.equal(runner.accepts(), false, "stored, but the runner has not seen it yet");
    runner.wake();
    await accepting(runner);
    assert.equal(await runner.deliver([late]), true);
    await loop.stop();
    assert.deepEqual(h.records().map((r) => r.content), ["stored first", "came later"]);
  });
});

Deno.test("SessionRunner.deliver() does not trust a look that a store overlapped", async () => {
  await withRunner(async (h) => {
    const { store, gate } = gatedStore(h.kv);
    const runner = h.runner({ store });
    const loop = running(runner);
    await accepting(runner);
    gate.close();
    runner.wake();
    await gate.held(); // the look has its (empty) snapshot
    const release = runner.hold();
    await store.add("demo", [{ source: "webhook", content: "stored first" }]);
    release(); // the store's caller wakes the runner only a moment later
    await gate.open();
    assert.equal(runner.accepts(), false, "the look ended empty, but it missed a message");
    runner.wake();
    await accepting(runner);
    const [late] = store.prepare([{ source: "webhook", content: "came later" }]);
    assert.equal(await runner.deliver([late]), true);
    await loop.stop();
    assert.deepEqual(h.records().map((r) => r.content), ["stored first", "came later"]);
  });
});

Deno.test("SessionRunner.whenAccepting() waits for a look in progress instead of refusing", async () => {
  await withRunner(async (h) => {
    const { store, gate } = gatedStore(h.kv);
    const runner = h.runner({ store });
    const controller = new AbortController();
    const loop = runner.run(controller.signal, { recheckMs: 60_000 });
    await accepting(runner);

    // A look that finds the inbox empty: the message waits for it, then goes straight out.
    gate.close();
    runner.wake();
    await gate.held();
    assert.equal(runner.accepts(), false, "a look is in progress");
    let settled = false;
    const first = runner.whenAccepting().finally(() => (settled = true));
    await turn();
    assert.equal(settled, false, "it waits for the look");
    void gate.open();
    assert.equal(await first, true);
    const [direct] = store.prepare([{ source: "webhook", content: "direct" }]);
    assert.equal(await runner.deliver([direct]), true);

    // A look that a store overlapped cannot vouch for the inbox: the wait ends in a refusal.
    gate.close();
    runner.wake();
    await gate.held();
    const second = runner.whenAccepting();
    const release = runner.hold();
    await store.add("demo", [{ source: "webhook", content: "stored" }]);
    release();
    void gate.open();
    assert.equal(await second, false);
    runner.wake();
    await accepting(runner);

    // Stopping ends the wait too.
    gate.close();
    runner.wake();
    await gate.held();
    const third = runner.whenAccepting();
    controller.abort();
    assert.equal(await third, false);
    await gate.open();
    await loop;
    assert.deepEqual(h.records().map((r) => r.content), ["direct", "stored"]);
    assert.deepEqual(await store.list("demo"), []);
  });
});

Deno.test("SessionRunner.whenAccepting() waits out the last, short batch being written", async () => {
  await withRunner(async (h) => {
    let gate: PromiseWithResolvers<void> | null = null;
    const writing = Promise.withResolvers<void>();
    let out = "";
    const sink = createSink("jsonl", {
      session: "demo",
      writer: {
        async write(p) {
          if (gate) {
            writing.resolve();
            await gate.promise;
          }
          out += new TextDecoder().decode(p);
          return p.length;
        },
      },
    });
    const runner = h.runner({ sink });
    const loop = running(runner);
    await accepting(runner);
    await h.store.add("demo", [{ source: "webhook", content: "stored" }]);
    gate = Promise.withResolvers<void>();
    runner.wake();
    await writing.promise; // the batch of one is being written
    const waiting = runner.whenAccepting();
    gate.resolve();
    gate = null;
    assert.equal(await waiting, true, "the look after that batch found the inbox empty");
    const [late] = h.store.prepare([{ source: "webhook", content: "direct" }]);
    assert.equal(await runner.deliver([late]), true);
    await loop.stop();
    assert.deepEqual(out.trim().split("\n").map((l) => JSON.parse(l).content), [
      "stored",
      "direct",
    ]);
    assert.deepEqual(await h.store.list("demo"), []);
  });
});

Deno.test("SessionRunner.whenAccepting() stops waiting once a stalled output holds the batch", async () => {
  await withRunner(async (h) => {
    const reader = Promise.withResolvers<void>();
    const stuck = Promise.withResolvers<void>();
    let stalled = false;
    const sink = createSink("jsonl", {
      session: "demo",
      writer: {
        async write(p) {
          if (stalled) {
            stuck.resolve();
            await reader.promise; // a reader of stdout that stopped reading
          }
          return p.length;
        },
      },
    });
    const runner = h.runner({ sink });
    const loop = running(runner);
    await accepting(runner);
    await h.store.add("demo", [{ source: "webhook", content: "stored" }]);
    stalled = true;
    runner.wake();
    await stuck.promise; // its batch of one is stuck in the write
    // The reader reads again only after the answer: an answer held until then never comes.
    assert.equal(await runner.whenAccepting(), false, "refused, so the request is stored");
    reader.resolve();
    await loop.stop();
  });
});

Deno.test("SessionRunner.deliver() refuses with a handler, and when the output fails or lags", async () => {
  await withRunner(async (h) => {
    const [m] = h.store.prepare([{ source: "webhook", content: "x".repeat(1000) }]);
    const withHandler = h.runner({ handler: handler(await h.script("ok.sh", "cat")) });
    const a = running(withHandler);
    assert.equal(await withHandler.deliver([m]), false);
    await a.stop();

    const broken = createSink("jsonl", {
      session: "demo",
      writer: { write: () => Promise.reject(new Deno.errors.BrokenPipe("stdout closed")) },
    });
    const failing = h.runner({ sink: broken });
    const b = running(failing);
    await accepting(failing);
    assert.equal(await failing.deliver([m]), false, "a failed write is reported");
    assert.equal(failing.processed, 0);
    await b.stop();

    let release = () => {};
    const stuck = new Promise<void>((r) => (release = r));
    const slow = createSink("jsonl", {
      session: "demo",
      writer: { write: async (p) => (await stuck, p.length) },
    });
    const lagging = h.runner({ sink: slow });
    const c = running(lagging);
    await accepting(lagging);
    // A reader of stdout that stopped reading: once a write has waited 50 ms, messages are
    // stored, and the inbox is the buffer.
    slow.write({ type: "status", message: "small" });
    const written = slow.flush();
    assert.equal(lagging.accepts(), true, "a write just started is no lag");
    await until(() => !lagging.accepts(), () => "a write stuck for 50 ms never counted as lag");
    release();
    await written;
    assert.equal(lagging.accepts(), true);
    // Over 256 KiB queued: stored too.
    for (let i = 0; i < 300; i++) slow.write({ type: "status", message: "y".repeat(1000) });
    assert.equal(lagging.accepts(), false);
    await slow.flush();
    assert.equal(lagging.accepts(), true);
    await c.stop();
  });
});
