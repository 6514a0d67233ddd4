/**
 * Maps a key path such as `["hooks", 1, "bind"]` to the line and column it stands at in a TOML
 * source, so config errors can say `file:line:col`. A light line scanner: it understands table
 * headers, arrays of tables and `key =` lines, which is what hand-written configs use.
 *
 * @module
 */

/** A 1-based position. */
export interface Position {
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  col: number;
}

function splitKey(key: string): string[] {
  return key.split(".").map((part) => part.trim().replace(/^["']|["']$/g, ""));
}

/** Indexes every table header and key of `source` by its dotted path. */
export function indexPositions(source: string): Map<string, Position> {
  const positions = new Map<string, Position>();
  const counters = new Map<string, number>();
  let table: (string | number)[] = [];
  const lines = source.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i];
    const array = /^(\s*)\[\[\s*([^\]]+?)\s*\]\]/.exec(text);
    const header = array ? null : /^(\s*)\[\s*([^\]]+?)\s*\]/.exec(text);
    const key = array || header ? null : /^(\s*)([A-Za-z0-9_\-."' ]+?)\s*=/.exec(text);
    if (array) {
      const name = splitKey(array[2]).join(".");
      const n = (counters.get(name) ?? -1) + 1;
      counters.set(name, n);
      table = [...splitKey(array[2]), n];
      positions.set(table.join("."), { line: i + 1, col: array[1].length + 1 });
    } else if (header) {
      table = splitKey(header[2]);
      if (!positions.has(table.join("."))) {
        positions.set(table.join("."), { line: i + 1, col: header[1].length + 1 });
      }
    } else if (key) {
      const path = [...table, ...splitKey(key[2])].join(".");
      if (!positions.has(path)) positions.set(path, { line: i + 1, col: key[1].length + 1 });
    }
  }
  return positions;
}

/**
 * The position of `path` in `source`, or of its closest enclosing table when the key itself is
 * absent (a missing key is reported where its table starts). `undefined` when nothing matches.
 */
export function locate(
  source: string | Map<string, Position>,
  path: readonly PropertyKey[],
): Position | undefined {
  const index = typeof source === "string" ? indexPositions(source) : source;
  for (let n = path.length; n > 0; n--) {
    const hit = index.get(path.slice(0, n).map(String).join("."));
    if (hit) return hit;
  }
  return undefined;
}

/** Formats a key path the way users write it: `hooks[1].bind`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}
