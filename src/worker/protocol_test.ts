import assert from "node:assert/strict";
import { parseAnswer, ProtocolError, requestLine } from "./protocol.ts";
import { VERIFIED_HEADER } from "../webhook/env.ts";

Deno.test("requestLine: lower-cased headers, repeated ones joined, the verified header left out, a UTF-8 body as body", () => {
  const headers = new Headers([["X-Two", "a"], ["x-two", "b"], [VERIFIED_HEADER, "github"]]);
  const line = requestLine("7", {
    method: "POST",
    url: "http://h/p/q?a=1&b",
    headers,
    body: new TextEncoder().encode("héllo\n"),
    verified: "github",
    requestId: "r",
  }, { hook: "h", session: "s" });
  assert.ok(!line.includes("\n"));
  assert.deepEqual(JSON.parse(line), {
    v: 1,
    id: "7",
    hook: "h",
    session: "s",
    request_id: "r",
    verified: "github",
    method: "POST",
    path: "/p/q",
    query: "a=1&b",
    headers: { "x-two": "a, b" },
    body: "héllo\n",
  });
});

Deno.test("requestLine: a body that is not UTF-8 goes as body_base64; pairs with repeated names are joined too", () => {
  const body = new Uint8Array([0xc3, 0x28, 0, 255]);
  const pairs = [["X-A", "1"], ["x-a", "2"]] as [string, string][];
  const line = JSON.parse(requestLine("1", {
    method: "PUT",
    url: "http://h/",
    headers: Object.assign(pairs, { get: () => null }),
    body,
  }, { hook: "h", session: "s" }));
  assert.equal(line.body, undefined);
  assert.equal(line.body_base64, btoa(String.fromCharCode(...body)));
  assert.deepEqual(line.headers, { "x-a": "1, 2" });
  assert.equal(line.request_id, "");
});

Deno.test("parseAnswer: message, status, error; a bad field fails its request; a line that is not an object with a string id breaks the protocol", () => {
  assert.deepEqual(parseAnswer('{"id":"1","message":"m"}'), { id: "1", message: "m" });
  assert.deepEqual(parseAnswer('{"id":"1","message":"m","status":201}'), {
    id: "1",
    message: "m",
    status: 201,
  });
  assert.deepEqual(parseAnswer('{"id":"1"}'), { id: "1" });
  assert.deepEqual(parseAnswer('{"id":"1","error":"no"}'), { id: "1", error: "no" });
  assert.deepEqual(parseAnswer('{"id":"1","error":{"code":3}}'), { id: "1", error: '{"code":3}' });
  assert.deepEqual(parseAnswer('{"id":"1","message":5}'), {
    id: "1",
    error: '"message" is not a string',
  });
  assert.deepEqual(parseAnswer('{"id":"1","message":"m","status":404}'), {
    id: "1",
    error: '"status" 404 is not a 2xx status',
  });
  for (const bad of ["nope", "[1]", '"s"', "null", '{"id":1}', "{}"]) {
    assert.throws(() => parseAnswer(bad), ProtocolError, bad);
  }
});
