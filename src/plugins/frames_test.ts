import assert from "node:assert/strict";
import { frame, FrameWriter, loadFrames, MAX_FRAME, readFrames } from "./frames.ts";

await loadFrames();

/** A stream of `bytes` cut into chunks of `size`. */
function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.slice(at, at += size));
    },
  });
}

async function all(stream: ReadableStream<Uint8Array>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const m of readFrames(stream)) out.push(m);
  return out;
}

const MESSAGES = [
  { t: "calls", ids: [1, 2], body: new Uint8Array([0, 1, 255]), headers: "a\nb\n" },
  { t: "done", batch: true, error: "É ✓" },
  null,
  "x".repeat(70_000),
];

Deno.test("readFrames() gives back what frame() wrote, whatever the chunks", async () => {
  const bytes = new Uint8Array(MESSAGES.flatMap((m) => [...frame(m)]));
  for (const size of [1, 3, 7, 4096, bytes.length]) {
    assert.deepEqual(await all(chunked(bytes, size)), MESSAGES, `chunks of ${size}`);
  }
});

Deno.test("readFrames() refuses a length past MAX_FRAME and a stream ending inside a frame", async () => {
  const huge = new Uint8Array(8);
  new DataView(huge.buffer).setUint32(0, MAX_FRAME + 1, true);
  await assert.rejects(all(chunked(huge, 8)), /over the limit/);
  const cut = frame({ a: 1 }).subarray(0, 6);
  await assert.rejects(all(chunked(cut, 6)), /ended inside a frame/);
});

Deno.test("FrameWriter writes frames in order and drops what follows a failed write", async () => {
  const written: Uint8Array[] = [];
  const w = new FrameWriter(
    new WritableStream<Uint8Array>({ write: (c) => void written.push(c) }).getWriter(),
  );
  for (const m of MESSAGES) w.send(m);
  await w.close();
  const bytes = new Uint8Array(written.flatMap((c) => [...c]));
  assert.deepEqual(await all(chunked(bytes, 1000)), MESSAGES);
  assert.ok(written.length < MESSAGES.length, "frames sent during a write went together");

  const failing = new FrameWriter(
    new WritableStream<Uint8Array>({ write: () => Promise.reject(new Error("EPIPE")) }).getWriter(),
  );
  failing.send(1);
  failing.send(2);
  await failing.close();
  failing.send(3); // after a failure: dropped, no throw
});
