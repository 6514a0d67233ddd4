import assert from "node:assert/strict";
import { concatBytes, LimitedBuffer } from "./bytes.ts";

const bytes = (...xs: number[]) => new Uint8Array(xs);

Deno.test("concatBytes() joins parts in order, and gives an empty array for none", () => {
  assert.deepEqual(concatBytes([bytes(1, 2), bytes(), bytes(3)]), bytes(1, 2, 3));
  assert.deepEqual(concatBytes([]), bytes());
  const one = bytes(7);
  assert.equal(concatBytes([one]), one, "a single part is returned as it is");
});

Deno.test("LimitedBuffer keeps the first max bytes and drops the rest", () => {
  const b = new LimitedBuffer(4);
  b.add(bytes(1, 2, 3));
  assert.equal(b.full, false);
  b.add(bytes(4, 5, 6));
  assert.equal(b.full, true);
  b.add(bytes(7));
  assert.deepEqual(b.bytes(), bytes(1, 2, 3, 4));
  assert.deepEqual(new LimitedBuffer(10).bytes(), bytes());
});
