import assert from "node:assert/strict";
import {
  type Call,
  type Done,
  fromWireHeaders,
  packCalls,
  packDone,
  toWireHeaders,
  unpackCalls,
  unpackDone,
} from "./protocol.ts";
import type { PluginEvent, PluginMessage } from "./types.ts";

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

Deno.test("packCalls() and unpackCalls() carry every call, its fields and its body, in order", () => {
  const bytes = (text: string) => new TextEncoder().encode(text) as Uint8Array<ArrayBuffer>;
  const event: PluginEvent = {
    event: "hook_failed",
    fullEvent: "event-hook_failed",
    params: { commandKey: "gh", status: 500 },
    timestamp: 5,
  };
  const message: PluginMessage = {
    id: "01A",
    session: "s",
    source: "inject",
    label: "inject",
    content: "c",
  };
  const calls: Call[] = [
    {
      t: "webhook",
      id: 1,
      method: "POST",
      url: "http://h/a",
      headers: "a\n1\n",
      body: bytes("one"),
    },
    { t: "event", id: 2, event },
    { t: "webhook", id: 3, method: "GET", url: "http://h/b", headers: "", body: null },
    { t: "webhook", id: 4, method: "POST", url: "http://h/c", headers: "", body: bytes("") },
    { t: "message", id: 5, message },
    {
      t: "webhook",
      id: 6,
      method: "PUT",
      url: "http://h/d",
      headers: "b\n2\n",
      body: bytes("sixth \u00e9"),
    },
  ];
  const packed = packCalls(calls);
  assert.equal(packed.body.length, "one".length + new TextEncoder().encode("sixth \u00e9").length);
  // As it arrives: through the structured clone, as postMessage sends it.
  const back = unpackCalls(structuredClone(packed));
  assert.deepEqual(back, calls);
  assert.deepEqual(unpackCalls(structuredClone(packCalls([]))), []);
});

Deno.test("packDone() and unpackDone() carry every outcome: text, none, nothing, Response, error", () => {
  const done: Done[] = [
    { id: 1, ok: true, result: { kind: "text", text: "hello" } },
    { id: 2, ok: true, result: { kind: "text", text: "" } },
    { id: 3, ok: true, result: { kind: "none" } },
    { id: 4, ok: true },
    {
      id: 5,
      ok: true,
      result: { kind: "response", status: 201, headers: "x\n1\n", body: new Uint8Array([1, 2]) },
    },
    { id: 6, ok: false, error: "TypeError: nope" },
  ];
  assert.deepEqual(unpackDone(structuredClone(packDone(done))), done);
});
