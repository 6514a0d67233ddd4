import assert from "node:assert/strict";
import { monotonicUlid, newId } from "./ids.ts";

const CROCKFORD = /^[0-9ABCDEFGHJKMNPQRSTVWXYZ]{26}$/;

/** Decodes the 10-character time part of a ULID. */
function timeOf(id: string): number {
  let ms = 0;
  for (const ch of id.slice(0, 10)) ms = ms * 32 + "0123456789ABCDEFGHJKMNPQRSTVWXYZ".indexOf(ch);
  return ms;
}

function assertStrictlyIncreasing(ids: string[]): void {
  for (let i = 1; i < ids.length; i++) {
    assert.ok(ids[i - 1] < ids[i], `id ${i} (${ids[i]}) is not after ${ids[i - 1]}`);
  }
}

Deno.test("monotonicUlid() makes 26-character Crockford base32 ids encoding the time", () => {
  const now = Date.UTC(2026, 11, 1, 9, 0, 0);
  const id = monotonicUlid(() => now)();
  assert.match(id, CROCKFORD);
  assert.equal(timeOf(id), now);
  assert.match(newId(), CROCKFORD);
});

Deno.test("monotonicUlid() strictly increases while the clock stalls", () => {
  const next = monotonicUlid(() => 1_700_000_000_000);
  const ids = Array.from({ length: 20_000 }, () => next());
  assertStrictlyIncreasing(ids);
  assert.equal(new Set(ids).size, ids.length);
  for (const id of ids) assert.match(id, CROCKFORD);
});

Deno.test("monotonicUlid() strictly increases when the clock steps backwards", () => {
  const times = [5_000_000, 5_000_001, 4_000_000, 3_000_000, 5_000_001, 5_000_002, 1];
  let i = 0;
  const next = monotonicUlid(() => times[i++]);
  const ids = times.map(() => next());
  assertStrictlyIncreasing(ids);
  // While behind, ids keep the latest time seen rather than going back.
  assert.equal(timeOf(ids[3]), 5_000_001);
  assert.equal(timeOf(ids[5]), 5_000_002);
  assert.equal(timeOf(ids[6]), 5_000_002);
});

Deno.test("monotonicUlid() ids sort by creation time across factories", () => {
  // Independent factories (e.g. two processes) still order by millisecond.
  for (let round = 0; round < 200; round++) {
    const early = monotonicUlid(() => 1_000_000 + round)();
    const late = monotonicUlid(() => 1_000_001 + round)();
    assert.ok(early < late, `${early} should sort before ${late}`);
  }
  let t = 0;
  const next = monotonicUlid(() => t);
  const ids: string[] = [];
  for (t = 1; t < 100; t += 7) ids.push(next());
  assert.deepEqual([...ids].sort(), ids);
});
