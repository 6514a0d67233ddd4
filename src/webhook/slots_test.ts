import assert from "node:assert/strict";
import { compose, text } from "./chain.ts";
import { methodsStep, pathStep, Slots } from "./slots.ts";

Deno.test("Slots: concurrency at once, then a bounded wait in arrival order, then null", async () => {
  const slots = new Slots(2, 2);
  const a = await slots.acquire();
  const b = await slots.acquire();
  assert.ok(a && b);
  const order: string[] = [];
  const c = slots.acquire().then((r) => (order.push("c"), r));
  const d = slots.acquire().then((r) => (order.push("d"), r));
  assert.equal(await slots.acquire(), null, "two run, two wait: the fifth is refused");
  assert.deepEqual([slots.running, slots.waiting], [2, 2]);
  a();
  a(); // Releasing twice frees one slot only.
  const released = await c;
  assert.deepEqual(order, ["c"]);
  assert.deepEqual([slots.running, slots.waiting], [2, 1]);
  b();
  (await d)!();
  released!();
  assert.deepEqual([slots.running, slots.waiting], [0, 0]);
  assert.throws(() => new Slots(0, 1), RangeError);
});

const ok = () => Promise.resolve(text(200, "ran\n"));

Deno.test("methodsStep: others get 405 with Allow; '*' is no step at all", async () => {
  const handle = compose([methodsStep(["POST", "PUT"])!], ok);
  const get = await handle(new Request("http://x/", { method: "GET" }));
  assert.equal(get.status, 405);
  assert.equal(get.headers.get("allow"), "POST, PUT");
  assert.match(await get.text(), /'GET' is not allowed/);
  assert.equal((await handle(new Request("http://x/", { method: "PUT", body: "b" }))).status, 200);
  assert.equal(methodsStep(["*"]), null);
});

Deno.test("pathStep: a path nothing can decode is 400; encoded and odd queries pass", async () => {
  const handle = compose([pathStep], ok);
  for (const path of ["/%ZZ", "/a%E0%A4%A", "/x%"]) {
    const res = await handle(new Request(`http://x${path}`));
    assert.equal(res.status, 400, path);
    await res.body?.cancel();
  }
  for (const path of ["/", "/a%20b", "/q?x=%ZZ", "/caf%C3%A9"]) {
    const res = await handle(new Request(`http://x${path}`));
    assert.equal(res.status, 200, path);
    await res.body?.cancel();
  }
});
