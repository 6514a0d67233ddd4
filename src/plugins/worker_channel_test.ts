import assert from "node:assert/strict";
import { join } from "node:path";
import { WorkerChannel, type WorkerChannelOptions } from "./worker_channel.ts";
import type { Done } from "./protocol.ts";

const PROTOCOL = new URL("./protocol.ts", import.meta.url).href;

/**
 * A real Worker speaking the channel's protocol: it reports each batch's size as a log line,
 * answers `event` calls after `params.ms` (default at once) with the event's name as text,
 * throws for `boom` and never answers `hang`.
 */
const WORKER = `
import { packDone, unpackCalls } from "${PROTOCOL}";
self.onmessage = (e) => {
  if (e.data.t !== "calls") return;
  const calls = unpackCalls(e.data);
  self.postMessage({ t: "log", level: "info", message: "batch " + calls.length });
  const runs = calls.map((c) => new Promise((resolve) => {
    const ev = c.event;
    if (ev.event === "hang") return;
    setTimeout(() => resolve(ev.event === "boom"
      ? { id: c.id, ok: false, error: "it went boom" }
      : { id: c.id, ok: true, result: { kind: "text", text: ev.event } }), ev.params.ms ?? 0);
  }));
  const live = runs.filter((r) => r);
  Promise.all(live).then((done) => self.postMessage({ t: "done", batch: true, ...packDone(done) }));
};
`;

async function withChannel(
  options: Partial<WorkerChannelOptions>,
  fn: (
    ch: WorkerChannel,
    seen: { logs: string[]; done: Done[]; timeouts: number },
  ) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hhchan" });
  const path = join(dir, "worker.js");
  await Deno.writeTextFile(path, WORKER);
  const worker = new Worker(new URL(`file://${path}`).href, { type: "module" });
  const seen = { logs: [] as string[], done: [] as Done[], timeouts: 0 };
  const ch = new WorkerChannel(worker, {
    timeoutMs: 30_000,
    timeoutError: () => new Error("timed out"),
    onTimeout: () => seen.timeouts++,
    onDone: (d) => seen.done.push(d),
    onMessage: (m) => m.t === "log" && seen.logs.push(m.message),
    ...options,
  });
  try {
    await fn(ch, seen);
  } finally {
    ch.close(() => new Error("closed"));
    await Deno.remove(dir, { recursive: true });
  }
}

const event = (name: string, params: Record<string, unknown> = {}) => ({
  t: "event" as const,
  event: { event: name, fullEvent: `event-${name}`, params, timestamp: 0 },
});

Deno.test("WorkerChannel settles each call with its own answer; a thrown handler is a plugin_error", async () => {
  await withChannel({}, async (ch, seen) => {
    assert.deepEqual(await ch.invoke(event("one")), { kind: "text", text: "one" });
    await assert.rejects(() => ch.invoke(event("boom")), (e: Error & { code?: string }) => {
      assert.equal(e.code, "plugin_error");
      assert.equal(e.message, "it went boom");
      return true;
    });
    assert.deepEqual(seen.done.map((d) => d.ok), [true, false]);
    assert.equal(ch.pending, 0);
  });
});

Deno.test("WorkerChannel: calls made while a batch is out go together as the next batch", async () => {
  await withChannel({}, async (ch, seen) => {
    const first = ch.invoke(event("first", { ms: 30 }));
    const rest = [ch.invoke(event("a")), ch.invoke(event("b")), ch.invoke(event("c"))];
    const results = await Promise.all([first, ...rest]);
    assert.deepEqual(results.map((r) => r?.kind === "text" && r.text), ["first", "a", "b", "c"]);
    assert.deepEqual(seen.logs, ["batch 1", "batch 3"]);
  });
});

Deno.test("WorkerChannel: a call past its deadline is rejected and reported; close() rejects the rest", async () => {
  await withChannel({ timeoutMs: 50 }, async (ch, seen) => {
    const hung = ch.invoke(event("hang"));
    await assert.rejects(() => hung, /timed out/);
    assert.equal(seen.timeouts, 1);
    // The Worker still holds a batch out: this one waits behind it until the channel closes.
    const waiting = ch.invoke(event("queued"));
    ch.close(() => new Error("the Worker was terminated"));
    await assert.rejects(() => waiting, /the Worker was terminated/);
    await assert.rejects(() => ch.invoke(event("late")), /closed/);
    assert.equal(ch.pending, 0);
  });
});
