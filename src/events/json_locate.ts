/**
 * A small strict JSON parser that also records where each value stands, so hooks.json errors
 * can say `file:line:col` both for syntax errors and for `run_status_changed[0].hooks[1].url`.
 *
 * @module
 */
import type { Position } from "../config/locate.ts";

/** Maps a path key (see {@linkcode pathKey}) to the 1-based position of the value there. */
export type JsonPositions = Map<string, Position>;

/** A JSON syntax error with its position. */
export class JsonSyntaxError extends SyntaxError {
  /** Where the error is. */
  readonly position: Position;
  /** Creates the error. */
  constructor(message: string, position: Position) {
    super(message);
    this.position = position;
  }
}

/**
 * Deepest nesting of arrays and objects accepted. hooks.json needs five levels; the parser recurses
 * once per level, and a file nested ~10,000 deep would otherwise overflow the stack.
 */
export const MAX_JSON_DEPTH = 512;

/** Key of a path in {@linkcode JsonPositions}. */
export function pathKey(path: readonly PropertyKey[]): string {
  return path.map(String).join("\u0000");
}

/**
 * Parses JSON `text` like `JSON.parse`, also returning every value's position. Throws
 * {@linkcode JsonSyntaxError} with the line and column of the first error.
 */
export function parseJsonWithPositions(text: string): { value: unknown; positions: JsonPositions } {
  const positions: JsonPositions = new Map();
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const pos = (): Position => ({ line, col: i - lineStart + 1 });
  const fail = (what: string): never => {
    const found = i >= text.length ? "end of file" : `'${text[i]}'`;
    throw new JsonSyntaxError(`Expected ${what}, found ${found}`, pos());
  };
  const ws = () => {
    while (i < text.length) {
      const c = text[i];
      if (c === "\n") {
        line++;
        lineStart = i + 1;
      } else if (c !== " " && c !== "\t" && c !== "\r") break;
      i++;
    }
  };
  const string = (): string => {
    if (text[i] !== '"') fail("a string");
    const start = i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\n") fail("a closing quote");
      i += text[i] === "\\" ? 2 : 1;
    }
    if (i >= text.length) fail("a closing quote");
    i++;
    try {
      return JSON.parse(text.slice(start, i));
    } catch {
      i = start;
      return fail("a valid string");
    }
  };
  const value = (path: PropertyKey[]): unknown => {
    ws();
    positions.set(pathKey(path), pos());
    const c = text[i];
    if ((c === "{" || c === "[") && path.length >= MAX_JSON_DEPTH) {
      fail(`at most ${MAX_JSON_DEPTH} levels of nesting`);
    }
    if (c === "{") {
      i++;
      const obj: Record<string, unknown> = {};
      ws();
      if (text[i] === "}") {
        i++;
        return obj;
      }
      while (true) {
        ws();
        const key = string();
        ws();
        if (text[i] !== ":") fail("':'");
        i++;
        // An own property even for "__proto__": Deno has no `Object.prototype.__proto__` setter.
        obj[key] = value([...path, key]);
        ws();
        if (text[i] === "}") {
          i++;
          return obj;
        }
        if (text[i] !== ",") fail("',' or '}'");
        i++;
      }
    }
    if (c === "[") {
      i++;
      const arr: unknown[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return arr;
      }
      while (true) {
        arr.push(value([...path, arr.length]));
        ws();
        if (text[i] === "]") {
          i++;
          return arr;
        }
        if (text[i] !== ",") fail("',' or ']'");
        i++;
      }
    }
    if (c === '"') return string();
    const m = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(
      text.slice(i),
    );
    if (!m) return fail("a value");
    i += m[0].length;
    return JSON.parse(m[0]);
  };
  const result = value([]);
  ws();
  if (i < text.length) fail("end of file");
  return { value: result, positions };
}

/** Position of `path`, or of its closest enclosing value. */
export function locateJson(
  positions: JsonPositions,
  path: readonly PropertyKey[],
): Position | undefined {
  for (let n = path.length; n >= 0; n--) {
    const hit = positions.get(pathKey(path.slice(0, n)));
    if (hit) return hit;
  }
  return undefined;
}
