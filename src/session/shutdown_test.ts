import assert from "node:assert/strict";
import { Shutdown } from "./shutdown.ts";

const aborted = (s: AbortSignal) =>
  new Promise<void>((r) => s.aborted ? r() : s.addEventListener("abort", () => r()));

Deno.test("Shutdown.request() refuses work, closes the sockets once and hard-stops after the grace", async () => {
  let closes = 0;
  const s = new Shutdown({ graceMs: 5, close: () => Promise.resolve(void closes++) });
  assert.equal(s.accepting, true);
  assert.equal(s.signal.aborted, false);
  s.request();
  s.request();
  assert.equal(s.accepting, false);
  assert.equal(s.signal.aborted, true);
  assert.equal(s.hard.aborted, false, "in flight work gets the grace first");
  await s.stopAccepting();
  await aborted(s.hard);
  assert.equal(closes, 1);
  s.dispose();
});

Deno.test("Shutdown: sockets that never close are given up the cutoff after the hard stop", async () => {
  const s = new Shutdown({ graceMs: 60_000, cutoffMs: 5, close: () => new Promise(() => {}) });
  s.abort();
  assert.equal(s.hard.aborted, true);
  await s.stopAccepting(); // would hang forever without the cutoff
  s.dispose();
});

Deno.test("Shutdown: a close that fails is logged, and the stop goes on", async () => {
  const lines: string[] = [];
  const log = { debug: (m: string, p: { error: string }) => lines.push(`${m} ${p.error}`) };
  const s = new Shutdown({
    graceMs: 60_000,
    close: () => Promise.reject(new Error("socket broke")),
    log: log as never,
  });
  s.abort();
  await s.stopAccepting();
  assert.deepEqual(lines, ["closing listeners: {error} socket broke"]);
  s.dispose();
});

Deno.test("Shutdown.follow() requests a stop when the signal aborts, until dispose()", () => {
  const first = new AbortController();
  const a = new Shutdown({ graceMs: 60_000 });
  a.follow(first.signal);
  first.abort();
  assert.equal(a.signal.aborted, true);
  a.dispose();

  const second = new AbortController();
  const b = new Shutdown({ graceMs: 60_000 });
  b.follow(second.signal);
  b.dispose();
  second.abort();
  assert.equal(b.signal.aborted, false, "a disposed shutdown no longer follows");

  const c = new Shutdown({ graceMs: 60_000 });
  c.follow(AbortSignal.abort());
  assert.equal(c.signal.aborted, true, "an already aborted signal stops at once");
  c.dispose();
});
