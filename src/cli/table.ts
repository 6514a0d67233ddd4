/**
 * Plain aligned tables for listing commands.
 *
 * @module
 */

/** Formats rows under `headers`, columns padded to their widest cell. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join("  ").trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

/**
 * Prints a listing command's `rows`: one JSON object per line with `json`, else `empty` when
 * there are none, else a table of `headers` with each row's `cells`.
 */
export function printRows<T>(
  rows: readonly T[],
  options: {
    json?: boolean;
    empty: string;
    headers: readonly string[];
    cells: (row: T) => string[];
  },
): void {
  if (options.json) {
    for (const r of rows) console.log(JSON.stringify(r));
    return;
  }
  if (!rows.length) return console.log(options.empty);
  console.log(table(options.headers, rows.map(options.cells)));
}

/** First line of `text`, cut to `max` characters with an ellipsis. */
export function preview(text: string, max = 60): string {
  const first = text.split("\n")[0];
  const more = first.length > max || text.includes("\n");
  return more ? first.slice(0, max - 1) + "…" : first;
}
