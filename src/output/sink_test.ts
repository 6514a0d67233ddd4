import assert from "node:assert/strict";
import { createSink, EARLY_RECORDS } from "./sink.ts";
import { until } from "../../test/_poll.ts";

const NOW = Date.UTC(2026, 0, 2, 9, 5, 3, 120);

/** An in-memory writer; `maxPerWrite` and `delayMs` imitate a slow pipe. */
function memoryWriter(options: { maxPerWrite?: number; delayMs?: number } = {}) {
  const chunks: Uint8Array[] = [];
  return {
    writes: 0,
    text(): string {
      return new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
    },
    async write(p: Uint8Array): Promise<number> {
      this.writes++;
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
      const n = Math.min(p.length, options.maxPerWrite ?? p.length);
      chunks.push(p.slice(0, n));
      return n;
    },
  };
}

Deno.test("createSink() jsonl writes one object per line with type, session_id, ts and fields", async () => {
  const writer = memoryWriter();
  const sink = createSink("jsonl", { session: "demo", writer, now: () => NOW });
  sink.write({ type: "ready", pid: 42 });
  sink.write({ type: "reply", id: "01ABC", content: "line 1\nline 2" });
  sink.write({
    type: "hook_run",
    hook: "gh",
    status: 504,
    exit_code: null,
    duration_ms: 1001,
  });
  await sink.flush();
  const text = writer.text();
  assert.ok(text.endsWith("\n"));
  const lines = text.trimEnd().split("\n");
  assert.equal(lines.length, 3);
  for (const line of lines) assert.ok(line.startsWith('{"type":'), line);
  const records = lines.map((l) => JSON.parse(l));
  assert.deepEqual(records[0], {
    type: "ready",
    pid: 42,
    session_id: "demo",
    ts: "2026-01-02T09:05:03.120Z",
  });
  assert.deepEqual(records[1], {
    type: "reply",
    id: "01ABC",
    content: "line 1\nline 2",
    session_id: "demo",
    ts: "2026-01-02T09:05:03.120Z",
  });
  assert.equal(records[2].exit_code, null);
  assert.equal(records[2].status, 504);
});

Deno.test("createSink() text renders each record for people", async () => {
  const writer = memoryWriter();
  const sink = createSink("text", { session: "demo", writer, now: () => NOW });
  sink.write({ type: "ready", pid: 42 });
  sink.write({ type: "listening", hook: "gh", addr: "127.0.0.1:40123" });
  sink.write({ type: "listening", hook: "tls", addr: "127.0.0.1:40124", tls: true });
  sink.write({
    type: "injected",
    id: "01X",
    source_kind: "webhook",
    source_label: "webhook gh",
    content: "a\nb",
  });
  sink.write({ type: "reply", id: "01X", content: "thanks" });
  sink.write({ type: "hook_run", hook: "gh", status: 200, exit_code: 0, duration_ms: 12 });
  sink.write({ type: "hook_run", hook: "gh", status: 504, exit_code: null, duration_ms: 30000 });
  sink.write({ type: "hook_run", hook: "greet", status: 200, exit_code: null, duration_ms: 14 });
  sink.write({
    type: "hook_run",
    hook: "w",
    status: 500,
    exit_code: null,
    duration_ms: 3,
    worker: 1,
  });
  const refused = { hook: "gh", exit_code: null, duration_ms: 0 };
  sink.write({ type: "hook_run", status: 401, reason: "signature mismatch", ...refused });
  sink.write({ type: "hook_run", status: 200, duplicate: true, ...refused });
  sink.write({ type: "status", message: "stopping" });
  sink.write({ type: "error", message: "it broke" });
  await sink.flush();
  assert.equal(
    writer.text(),
    [
      "09:05:03 [demo] ready (pid 42)",
      "09:05:03 [demo] hook 'gh' listening on http://127.0.0.1:40123/",
      "09:05:03 [demo] hook 'tls' listening on https://127.0.0.1:40124/",
      "09:05:03 [demo] webhook gh (01X):",
      "  a",
      "  b",
      "09:05:03 [demo] reply to 01X:",
      "  thanks",
      "09:05:03 [demo] hook 'gh' answered 200 (exit 0, 12 ms)",
      "09:05:03 [demo] hook 'gh' answered 504 (exit signal, 30000 ms)",
      "09:05:03 [demo] hook 'greet' answered 200 (14 ms)",
      "09:05:03 [demo] hook 'w' answered 500 (worker 1, 3 ms)",
      "09:05:03 [demo] hook 'gh' answered 401 (signature mismatch)",
      "09:05:03 [demo] hook 'gh' answered 200 (duplicate delivery)",
      "09:05:03 [demo] stopping",
      "09:05:03 [demo] error: it broke",
      "",
    ].join("\n"),
  );
});

Deno.test("createSink() flush() resolves only once a slow writer took every byte", async () => {
  const writer = memoryWriter({ maxPerWrite: 32, delayMs: 1 });
  const sink = createSink("jsonl", { session: "s", writer, now: () => NOW });
  for (let i = 0; i < 5; i++) sink.write({ type: "status", message: `message ${i}` });
  await sink.flush();
  const lines = writer.text().trimEnd().split("\n").map((l) => JSON.parse(l).message);
  assert.deepEqual(lines, ["message 0", "message 1", "message 2", "message 3", "message 4"]);
  assert.ok(writer.writes > 5, "partial writes should have been continued");

  // Records written after a flush are ordered after the earlier ones.
  sink.write({ type: "status", message: "later" });
  await sink.flush();
  assert.equal(JSON.parse(writer.text().trimEnd().split("\n").at(-1)!).message, "later");
});

Deno.test("createSink() writes queued records without an explicit flush", async () => {
  const writer = memoryWriter();
  const sink = createSink("jsonl", { session: "s", writer, now: () => NOW });
  sink.write({ type: "status", message: "auto" });
  // Never flushed here: the sink writes it on its own.
  await until(() => /"message":"auto"/.test(writer.text()), () => "the record was never written");
  await sink.flush();
});

Deno.test("createSink() flush() rejects when the writer fails", async () => {
  const failing = {
    write(_p: Uint8Array): Promise<number> {
      return Promise.reject(new Deno.errors.BrokenPipe("stdout closed"));
    },
  };
  const sink = createSink("jsonl", { session: "s", writer: failing, now: () => NOW });
  sink.write({ type: "status", message: "lost" });
  await assert.rejects(() => sink.flush(), Deno.errors.BrokenPipe);

  // Also when the flush itself started the write.
  const sink2 = createSink("text", { session: "s", writer: failing, now: () => NOW });
  sink2.write({ type: "status", message: "lost" });
  await assert.rejects(sink2.flush(), /stdout closed/);
});

Deno.test("createSink() written() waits for the scheduled write, shared by records queued meanwhile", async () => {
  const writer = memoryWriter();
  const sink = createSink("jsonl", { session: "demo", writer, now: () => NOW });
  await sink.written(); // nothing queued: resolves at once
  assert.equal(sink.backlog, 0);
  sink.write({ type: "status", message: "one" });
  const first = sink.written();
  sink.write({ type: "status", message: "two" });
  const second = sink.written();
  assert.ok(sink.backlog > 0);
  await Promise.all([first, second]);
  assert.equal(writer.writes, 1, "both records went in one write");
  assert.equal(sink.backlog, 0);
  assert.deepEqual(writer.text().trimEnd().split("\n").map((l) => JSON.parse(l).message), [
    "one",
    "two",
  ]);
});

Deno.test("createSink() written() writes at once, without the timer, once EARLY_RECORDS wait", async () => {
  const writer = memoryWriter();
  const sink = createSink("jsonl", { session: "demo", writer, now: () => NOW });
  /** Lets queued microtasks run; no timer can fire meanwhile. */
  const microtasks = async () => {
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  for (let i = 1; i < EARLY_RECORDS; i++) sink.write({ type: "status", message: `m${i}` });
  const fewer = sink.written();
  await microtasks();
  assert.equal(writer.writes, 0, "fewer records wait for the timer");
  sink.write({ type: "status", message: `m${EARLY_RECORDS}` });
  const enough = sink.written();
  await microtasks();
  assert.equal(writer.writes, 1, "written at once, before any timer");
  await Promise.all([fewer, enough]);
  assert.equal(writer.text().trimEnd().split("\n").length, EARLY_RECORDS);
  assert.equal(sink.backlog, 0);
});

Deno.test("createSink() written() writes records queued in the same run of microtasks together", async () => {
  const writer = memoryWriter();
  const sink = createSink("jsonl", { session: "demo", writer, now: () => NOW });
  // As a plugin Worker's answer settles a batch of requests: each writes its record and waits,
  // one after the other, in one run of microtasks.
  const waits = [];
  for (let i = 0; i < EARLY_RECORDS + 4; i++) {
    waits.push(
      Promise.resolve().then(() => {
        sink.write({ type: "status", message: `m${i}` });
        return sink.written();
      }),
    );
  }
  // No timer can fire while microtasks run.
  for (let i = 0; i < 10; i++) await Promise.resolve();
  assert.equal(writer.writes, 1, "one write, before any timer");
  await Promise.all(waits);
  assert.equal(writer.writes, 1);
  assert.equal(writer.text().trimEnd().split("\n").length, EARLY_RECORDS + 4);
});

Deno.test("createSink() written() rejects when the write fails", async () => {
  const sink = createSink("jsonl", {
    session: "demo",
    writer: { write: () => Promise.reject(new Deno.errors.BrokenPipe("closed")) },
  });
  sink.write({ type: "status", message: "lost pipe" });
  await assert.rejects(sink.written(), Deno.errors.BrokenPipe);
});
