import assert from "node:assert/strict";
import { lazyRequest } from "./lazy_request.ts";

/** A POST with a JSON body and two headers, and how many times it was built. */
function counted(): { request: Request; builds: () => number } {
  let builds = 0;
  const request = lazyRequest(() => {
    builds++;
    return new Request("http://hooks.test/hooks/x?q=1", {
      method: "POST",
      headers: [["content-type", "application/json"], ["x-a", "1"]],
      body: '{"a":1}',
    });
  });
  return { request, builds: () => builds };
}

Deno.test("lazyRequest() builds nothing until the request is used, then builds it once", async () => {
  const { request, builds } = counted();
  assert.ok(request instanceof Request);
  assert.equal(Object.getPrototypeOf(request), Request.prototype);
  assert.equal(builds(), 0);
  assert.equal(request.method, "POST");
  assert.equal(await request.text(), '{"a":1}');
  assert.equal(request.headers.get("x-a"), "1");
  assert.equal(builds(), 1);
});

Deno.test("lazyRequest() gives what the real Request gives: fields, body, clone, keys, printing", async () => {
  const { request } = counted();
  const real = new Request("http://hooks.test/hooks/x?q=1", {
    method: "POST",
    headers: [["content-type", "application/json"], ["x-a", "1"]],
    body: '{"a":1}',
  });
  assert.equal(Object.prototype.toString.call(request), "[object Request]");
  assert.equal(request.constructor, Request);
  assert.equal(Deno.inspect(request), Deno.inspect(real));
  assert.equal(Deno.inspect({ nested: request }), Deno.inspect({ nested: real }));
  assert.equal(Reflect.ownKeys(request).length, Reflect.ownKeys(real).length);
  assert.deepEqual(Object.keys(request), Object.keys(real));
  assert.ok("url" in request);
  assert.equal(request.url, "http://hooks.test/hooks/x?q=1");
  assert.deepEqual([...request.headers], [...real.headers]);
  assert.equal(request.headers, request.headers, "one Headers object, as the real one caches");
  assert.equal(request.signal.aborted, false);
  const copy = request.clone();
  assert.ok(copy instanceof Request);
  assert.deepEqual(await copy.json(), { a: 1 });
  assert.equal(request.bodyUsed, false);
  const rebuilt = new Request(request, { headers: { "x-b": "2" } });
  assert.equal(rebuilt.headers.get("x-b"), "2");
  assert.equal(await rebuilt.text(), '{"a":1}');
  assert.equal(request.bodyUsed, true, "new Request(request) takes its body, as for a real one");
  await assert.rejects(() => request.text(), TypeError);
  (request as unknown as { note: string }).note = "kept";
  assert.equal((request as unknown as { note: string }).note, "kept");
});

Deno.test("lazyRequest() passes through fetch() as the request it stands for", async () => {
  const seen: string[] = [];
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (r) => {
      seen.push(`${r.method} ${new URL(r.url).search} ${r.headers.get("x-a")} ${await r.text()}`);
      return new Response("ok");
    },
  );
  const request = lazyRequest(() =>
    new Request(`http://127.0.0.1:${server.addr.port}/?q=1`, {
      method: "PUT",
      headers: { "x-a": "1" },
      body: "hello",
    })
  );
  const response = await fetch(request);
  assert.equal(await response.text(), "ok");
  assert.deepEqual(seen, ["PUT ?q=1 1 hello"]);
});

Deno.test("lazyRequest() throws build()'s error at every use", () => {
  const request = lazyRequest(() => {
    throw new TypeError("Invalid URL: 'nope'");
  });
  assert.throws(() => request.url, /Invalid URL: 'nope'/);
  assert.throws(() => request.headers, /Invalid URL: 'nope'/);
});

Deno.test("lazyRequest() refuses to be frozen, sealed or made non-extensible, and stays usable", () => {
  const { request } = counted();
  assert.throws(() => Object.freeze(request), TypeError);
  assert.throws(() => Object.seal(request), TypeError);
  assert.throws(() => Object.preventExtensions(request), TypeError);
  assert.ok(Object.isExtensible(request));
  assert.deepEqual(Object.keys(request), []);
  assert.equal(JSON.stringify(request), "{}");
});

Deno.test("lazyRequest() takes properties defined on it, non-configurable ones too", () => {
  const { request } = counted();
  Object.defineProperty(request, "fixed", { value: 1, enumerable: true });
  Object.defineProperty(request, "shown", { get: () => 2, enumerable: true });
  assert.deepEqual(Object.keys(request), ["fixed", "shown"]);
  assert.equal(JSON.stringify(request), '{"fixed":1,"shown":2}');
  const copy = { ...request } as Record<string, unknown>;
  assert.deepEqual([copy.fixed, copy.shown], [1, 2]);
  assert.equal(Object.getOwnPropertyDescriptor(request, "fixed")?.configurable, false);
  assert.equal(Reflect.deleteProperty(request, "fixed"), false);
});

Deno.test("lazyRequest() prints as the real request with showProxy and through node:util", async () => {
  const { request } = counted();
  const util = await import("node:util");
  assert.match(Deno.inspect(request, { showProxy: true }), /Request \{/);
  assert.match(util.inspect(request, { showProxy: true }), /Request \{/);
  assert.match(util.format("%o", request), /Request \{/);
  assert.match(util.inspect(request), /^Request \{/);
});
