import assert from "node:assert/strict";
import { compose } from "./chain.ts";
import { limitBody } from "./body_limit.ts";
import { scaled } from "../../test/_poll.ts";

/** A POST whose body sends `first` and then never ends, declaring `length` bytes. */
function stalledPost(first: string, length: number): Request {
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode(first));
    },
  });
  return new Request("http://127.0.0.1/hooks/x", {
    method: "POST",
    body,
    headers: { "content-length": String(length) },
  });
}

Deno.test("limitBody() answers 503 to bodies still arriving when its signal aborts, and runs nothing", async () => {
  const stop = new AbortController();
  let ran = 0;
  const handler = compose([limitBody(1024, { signal: stop.signal })], (ctx) => {
    ran++;
    return Promise.resolve(new Response(new TextDecoder().decode(ctx.body)));
  });
  // Finished requests before the abort: each one's waiting ends with it.
  for (let i = 0; i < 3; i++) {
    const r = await handler(new Request("http://127.0.0.1/", { method: "POST", body: `b${i}` }));
    assert.equal(await r.text(), `b${i}`);
  }
  const stalled = [handler(stalledPost("{", 10)), handler(stalledPost("[", 10))];
  await new Promise((r) => setTimeout(r, 20));
  stop.abort();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const answered = await Promise.race([
    Promise.all(stalled),
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error("not answered within 5 s of the abort")),
        scaled(5000),
      );
    }),
  ]).finally(() => clearTimeout(timer));
  for (const r of answered) {
    assert.equal(r.status, 503);
    assert.equal(await r.text(), "Shutting down\n");
  }
  // Once aborted, a new body is refused without waiting for it.
  const late = await handler(stalledPost("{", 10));
  assert.equal(late.status, 503);
  assert.equal(ran, 3);
  await late.body?.cancel();
});

Deno.test("limitBody() refuses a body longer than the limit even when it declares less", async () => {
  let ran = 0;
  const handler = compose([limitBody(1024)], () => {
    ran++;
    return Promise.resolve(new Response("ran"));
  });
  const r = await handler(
    new Request("http://127.0.0.1/", {
      method: "POST",
      body: "x".repeat(2000),
      headers: { "content-length": "10" },
    }),
  );
  assert.equal(r.status, 413);
  assert.equal(await r.text(), "Body larger than 1024 bytes\n");
  assert.equal(ran, 0);
});

Deno.test("limitBody() runs a request that declares an empty body, even once its signal aborted", async () => {
  const stop = new AbortController();
  stop.abort();
  const handler = compose(
    [limitBody(1024, { signal: stop.signal })],
    (ctx) => Promise.resolve(new Response(`${ctx.body.length} bytes`)),
  );
  for (const method of ["GET", "POST"]) {
    const r = await handler(
      new Request("http://127.0.0.1/", { method, headers: { "content-length": "0" } }),
    );
    assert.equal(r.status, 200, method);
    assert.equal(await r.text(), "0 bytes");
  }
});
