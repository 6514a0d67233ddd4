import assert from "node:assert/strict";
import { formatPath, indexPositions, locate } from "./locate.ts";

const SOURCE = [
  "# hookhost config", // 1
  "[[hooks]]", // 2
  'name = "a"', // 3
  'bind = "127.0.0.1:1"', // 4
  "", // 5
  "  [[hooks]]", // 6
  'name = "b"', // 7
  '  bind = "127.0.0.1:2"', // 8
  "", // 9
  "[session]", // 10
  'handler = "./agent.sh" # the handler', // 11
  "max_attempts=3", // 12
].join("\n");

Deno.test("indexPositions() numbers each [[hooks]] entry and its keys", () => {
  const index = indexPositions(SOURCE);
  assert.deepEqual(index.get("hooks.0"), { line: 2, col: 1 });
  assert.deepEqual(index.get("hooks.0.name"), { line: 3, col: 1 });
  assert.deepEqual(index.get("hooks.0.bind"), { line: 4, col: 1 });
  assert.deepEqual(index.get("hooks.1"), { line: 6, col: 3 });
  assert.deepEqual(index.get("hooks.1.bind"), { line: 8, col: 3 });
  assert.deepEqual(index.get("session"), { line: 10, col: 1 });
  assert.deepEqual(index.get("session.handler"), { line: 11, col: 1 });
  assert.deepEqual(index.get("session.max_attempts"), { line: 12, col: 1 });
  // The comment line is not a key.
  assert.equal([...index.values()].some((p) => p.line === 1), false);
});

Deno.test("indexPositions() handles CRLF line endings", () => {
  const index = indexPositions("[session]\r\nmax_attempts = 2\r\n");
  assert.deepEqual(index.get("session.max_attempts"), { line: 2, col: 1 });
});

Deno.test("locate() finds keys of the second [[hooks]] entry", () => {
  assert.deepEqual(locate(SOURCE, ["hooks", 1, "bind"]), { line: 8, col: 3 });
  assert.deepEqual(locate(SOURCE, ["hooks", 0, "bind"]), { line: 4, col: 1 });
  assert.deepEqual(locate(SOURCE, ["session", "handler"]), { line: 11, col: 1 });
});

Deno.test("locate() falls back to the table header line for a missing key", () => {
  assert.deepEqual(locate(SOURCE, ["hooks", 1, "script"]), { line: 6, col: 3 });
  assert.deepEqual(locate(SOURCE, ["session", "handler_timeout"]), { line: 10, col: 1 });
  assert.equal(locate(SOURCE, ["server", "bind"]), undefined);
  assert.equal(locate("", ["hooks", 0]), undefined);
});

Deno.test("locate() accepts a prebuilt index", () => {
  const index = indexPositions(SOURCE);
  assert.deepEqual(locate(index, ["hooks", 0, "name"]), { line: 3, col: 1 });
});

Deno.test("formatPath() writes key paths the way users write them", () => {
  assert.equal(formatPath(["hooks", 1, "bind"]), "hooks[1].bind");
  assert.equal(formatPath(["hooks", 0]), "hooks[0]");
  assert.equal(formatPath(["session", "handler"]), "session.handler");
  assert.equal(formatPath(["session"]), "session");
  assert.equal(formatPath([]), "");
});
