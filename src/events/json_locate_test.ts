import assert from "node:assert/strict";
import {
  JsonSyntaxError,
  locateJson,
  MAX_JSON_DEPTH,
  parseJsonWithPositions,
  pathKey,
} from "./json_locate.ts";

/** The error `parseJsonWithPositions(text)` throws. */
function syntaxError(text: string): JsonSyntaxError {
  try {
    parseJsonWithPositions(text);
  } catch (e) {
    assert.ok(e instanceof JsonSyntaxError, `not a JsonSyntaxError: ${e}`);
    return e;
  }
  assert.fail(`parsed without error: ${JSON.stringify(text)}`);
}

Deno.test("parseJsonWithPositions() returns what JSON.parse returns", () => {
  const texts = [
    "{}",
    "[]",
    "0",
    "-12.5e+3",
    "1E2",
    "true",
    "false",
    "null",
    '""',
    '"a\\"b\\\\c\\n\\u00e9\\ud83d\\ude00/"',
    '  {"a": [1, 2, {"b": null}], "c": {"d": "e"}, "f": [], "g": {}}  ',
    '{\r\n\t"x": [true,false]\r\n}\r\n',
    '{"a": 1, "a": 2}',
    '[[[["deep"]]]]',
    '{"é": "ü", "": 0}',
    '{"__proto__": [1], "constructor": {"prototype": 2}}',
  ];
  for (const text of texts) {
    assert.deepEqual(parseJsonWithPositions(text).value, JSON.parse(text), text);
  }
});

Deno.test("parseJsonWithPositions() records the 1-based line and column of every value", () => {
  const text = [
    "{",
    '  "run_status_changed": [',
    "    {",
    '      "matcher": "^x",',
    '      "hooks": [',
    '        {"type": "command", "command": "true"},',
    '        {"type": "http", "url": "http://a/"}',
    "      ]",
    "    }",
    "  ]",
    "}",
  ].join("\n");
  const { positions } = parseJsonWithPositions(text);
  const at = (...path: PropertyKey[]) => positions.get(pathKey(path));
  assert.deepEqual(at(), { line: 1, col: 1 });
  assert.deepEqual(at("run_status_changed"), { line: 2, col: 25 });
  assert.deepEqual(at("run_status_changed", 0), { line: 3, col: 5 });
  assert.deepEqual(at("run_status_changed", 0, "matcher"), { line: 4, col: 18 });
  assert.deepEqual(at("run_status_changed", 0, "hooks"), { line: 5, col: 16 });
  assert.deepEqual(at("run_status_changed", 0, "hooks", 0), { line: 6, col: 9 });
  assert.deepEqual(at("run_status_changed", 0, "hooks", 0, "command"), { line: 6, col: 40 });
  assert.deepEqual(at("run_status_changed", 0, "hooks", 1), { line: 7, col: 9 });
  assert.deepEqual(at("run_status_changed", 0, "hooks", 1, "url"), { line: 7, col: 33 });
  assert.equal(at("run_status_changed", 0, "hooks", 2), undefined);
});

Deno.test("parseJsonWithPositions() counts columns after CRLF line ends and tabs", () => {
  const { positions } = parseJsonWithPositions('{\r\n\t"a":\r\n\t\t[1,\r\n 2]}');
  assert.deepEqual(positions.get(pathKey(["a"])), { line: 3, col: 3 });
  assert.deepEqual(positions.get(pathKey(["a", 0])), { line: 3, col: 4 });
  assert.deepEqual(positions.get(pathKey(["a", 1])), { line: 4, col: 2 });
});

Deno.test("locateJson() falls back to the closest enclosing value", () => {
  const { positions } = parseJsonWithPositions('{\n  "ev": [\n    {"hooks": []}\n  ]\n}');
  assert.deepEqual(locateJson(positions, ["ev", 0, "hooks"]), { line: 3, col: 15 });
  assert.deepEqual(locateJson(positions, ["ev", 0, "matcher"]), { line: 3, col: 5 });
  assert.deepEqual(locateJson(positions, ["ev", 3, "hooks"]), { line: 2, col: 9 });
  assert.deepEqual(locateJson(positions, ["nope"]), { line: 1, col: 1 });
  assert.equal(locateJson(new Map(), ["x"]), undefined);
});

Deno.test("parseJsonWithPositions() reports syntax errors with their line and column", () => {
  const cases: [string, number, number, RegExp][] = [
    ["", 1, 1, /Expected a value, found end of file/],
    ["   \n  ", 2, 3, /found end of file/],
    ['{"a": 1,}', 1, 9, /Expected a string, found '}'/],
    ['{\n  "a": 1,\n  "b": 2,\n}', 4, 1, /Expected a string, found '}'/],
    ['{\n  "a" 1\n}', 2, 7, /Expected ':', found '1'/],
    ['{"a": 1 "b": 2}', 1, 9, /Expected ',' or '}', found '"'/],
    ["[1, 2\n", 2, 1, /Expected ',' or ']', found end of file/],
    ["[1,]", 1, 4, /Expected a value, found ']'/],
    ['{"a": tru}', 1, 7, /Expected a value, found 't'/],
    ["{'a': 1}", 1, 2, /Expected a string, found '''/],
    ['{"a": 01}', 1, 8, /Expected ',' or '}', found '1'/],
    ['{"a": 1} x', 1, 10, /Expected end of file, found 'x'/],
    ['{\n  "a": "open\n}', 2, 13, /closing quote/],
    ['{"a": "bad \\x escape"}', 1, 7, /Expected a valid string/],
    ['{"a": "unterminated', 1, 20, /closing quote/],
    ['{\r\n\t"a": ?\r\n}', 2, 7, /Expected a value, found '\?'/],
  ];
  for (const [text, line, col, message] of cases) {
    const e = syntaxError(text);
    assert.deepEqual(e.position, { line, col }, `${JSON.stringify(text)}: ${e.message}`);
    assert.match(e.message, message, JSON.stringify(text));
    assert.ok(e instanceof SyntaxError);
  }
});

Deno.test("parseJsonWithPositions() rejects what JSON.parse rejects", () => {
  const texts = [
    "{a: 1}",
    "[1 2]",
    "NaN",
    "Infinity",
    "-",
    "1.",
    ".5",
    "+1",
    '"tab\there"',
    "[undefined]",
    "/* c */ {}",
    "{} {}",
  ];
  for (const text of texts) {
    assert.throws(() => JSON.parse(text), SyntaxError, `JSON.parse accepts ${text}`);
    assert.throws(() => parseJsonWithPositions(text), JsonSyntaxError, text);
  }
});

Deno.test('parseJsonWithPositions() keeps a "__proto__" key as an entry, as JSON.parse does', () => {
  const { value } = parseJsonWithPositions('{"__proto__": [{"hooks": []}], "ev": []}');
  assert.deepEqual(Object.keys(value as object), ["__proto__", "ev"]);
  assert.equal(Object.getPrototypeOf(value), Object.prototype);
});

Deno.test("parseJsonWithPositions() refuses nesting deeper than MAX_JSON_DEPTH at its position", () => {
  const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
  assert.equal(parseJsonWithPositions(nested(MAX_JSON_DEPTH)).positions.size, MAX_JSON_DEPTH);
  const over = syntaxError(nested(MAX_JSON_DEPTH + 1));
  assert.deepEqual(over.position, { line: 1, col: MAX_JSON_DEPTH + 1 });
  assert.match(over.message, new RegExp(`at most ${MAX_JSON_DEPTH} levels of nesting`));
  // Deep enough to overflow the stack of a parser without the limit: still a syntax error.
  const hostile = syntaxError(`{"ev": ${nested(200_000)}}`);
  assert.deepEqual(hostile.position, { line: 1, col: 7 + MAX_JSON_DEPTH });
});
