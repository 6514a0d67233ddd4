import assert from "node:assert/strict";
import { fromWireHeaders, toWireHeaders } from "./protocol.ts";

Deno.test("toWireHeaders() and fromWireHeaders() keep every header as iterating Headers gives it", () => {
  const headers = new Headers([
    ["Content-Type", "application/json"],
    ["x-empty", ""],
    ["set-cookie", "a=1"],
    ["set-cookie", "b=2; Path=/"],
    ["x-spaced", "  a value: with colons  "],
    ["x-utf8", "caf\u00e9"],
  ]);
  assert.deepEqual(fromWireHeaders(toWireHeaders(headers)), [...headers]);
  assert.deepEqual([...new Headers(fromWireHeaders(toWireHeaders(headers)))], [...headers]);
  assert.deepEqual(fromWireHeaders(toWireHeaders(new Headers())), []);
});
