import assert from "node:assert/strict";
import { isAcceptedRequestId, requestId, withRequestId } from "./request_id.ts";

const req = (id?: string) =>
  new Request("http://127.0.0.1/", id === undefined ? {} : { headers: { "x-request-id": id } });

Deno.test("requestId() keeps 1–128 visible ASCII characters and replaces anything else", () => {
  for (const ok of ["a", "0f-9_:/.~!", "x".repeat(128)]) {
    assert.ok(isAcceptedRequestId(ok), ok);
    assert.equal(requestId(req(ok)), ok);
  }
  for (const bad of ["", " ", "a b", "x".repeat(129), "tab\there", "caf\u00e9", "\u007f"]) {
    assert.ok(!isAcceptedRequestId(bad), JSON.stringify(bad));
  }
  // Headers themselves refuse control characters; what reaches requestId() is checked again.
  assert.match(requestId(req("a b")), /^[0-9a-f-]{36}$/);
});

Deno.test("requestId() gives one Request the same id every time, and two requests two ids", () => {
  const one = req();
  const id = requestId(one);
  assert.equal(requestId(one), id);
  assert.notEqual(requestId(req()), id);
});

Deno.test("withRequestId() sets the header, copying a response whose headers are immutable", async () => {
  const plain = withRequestId(new Response("ok"), "r1");
  assert.equal(plain.headers.get("x-request-id"), "r1");
  const redirect = Response.redirect("http://127.0.0.1/next", 302);
  assert.throws(() => redirect.headers.set("x", "y"));
  const copy = withRequestId(redirect, "r2");
  assert.equal(copy.status, 302);
  assert.equal(copy.headers.get("location"), "http://127.0.0.1/next");
  assert.equal(copy.headers.get("x-request-id"), "r2");
  assert.equal(await withRequestId(new Response("body"), "r3").text(), "body");
});
