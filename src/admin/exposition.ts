/**
 * Prometheus's text exposition format (version 0.0.4), written out by hand: counters, gauges and
 * histograms with labels. prom-client, the usual library, is CommonJS: bundled, it makes every
 * hookhost command load Node compatibility (`node:module`), which the bundle keeps out. The
 * output is checked with Prometheus's `promtool check metrics` in the tests.
 *
 * @module
 */

/** The `Content-Type` of the format. */
export const EXPOSITION_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Label names to values. */
export type Labels = Record<string, string>;

const escapeLabel = (v: string) =>
  v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');
const escapeHelp = (v: string) => v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

function num(v: number): string {
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return Number.isNaN(v) ? "NaN" : String(v);
}

/** Samples of one metric by label set, kept in insertion order. */
class Series<T> {
  #map = new Map<string, { labels: Labels; value: T }>();
  get(labels: Labels, init: () => T): T {
    const key = labelText(labels);
    let e = this.#map.get(key);
    if (!e) this.#map.set(key, e = { labels, value: init() });
    return e.value;
  }
  entries(): { labels: Labels; value: T }[] {
    return [...this.#map.values()];
  }
}

/** A counter or gauge: a number per label set. */
export class Metric {
  readonly #series = new Series<{ v: number }>();
  /** `name` (with `_total` for a counter), its help text, and its type. */
  constructor(readonly name: string, readonly help: string, readonly type: "counter" | "gauge") {}
  /** Adds `by` (default 1). */
  inc(labels: Labels = {}, by = 1): void {
    this.#series.get(labels, () => ({ v: 0 })).v += by;
  }
  /** Sets the value (gauges, and counters read from elsewhere). */
  set(labels: Labels, v: number): void {
    this.#series.get(labels, () => ({ v: 0 })).v = v;
  }
  /** The metric's lines. */
  render(): string {
    let out = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`;
    for (const { labels, value } of this.#series.entries()) {
      out += `${this.name}${labelText(labels)} ${num(value.v)}\n`;
    }
    return out;
  }
}

/** A histogram with fixed upper bounds. */
export class HistogramMetric {
  readonly #series = new Series<{ counts: number[]; sum: number; count: number }>();
  /** `name`, its help text, and the buckets' upper bounds (ascending; `+Inf` is added). */
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[]) {}
  /** Records one value. */
  observe(labels: Labels, v: number): void {
    const s = this.#series.get(labels, () => ({
      counts: this.buckets.map(() => 0),
      sum: 0,
      count: 0,
    }));
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]) s.counts[i]++;
    s.sum += v;
    s.count++;
  }
  /** The metric's lines. */
  render(): string {
    const n = this.name;
    let out = `# HELP ${n} ${escapeHelp(this.help)}\n# TYPE ${n} histogram\n`;
    for (const { labels, value } of this.#series.entries()) {
      this.buckets.forEach((le, i) => {
        out += `${n}_bucket${labelText({ ...labels, le: num(le) })} ${value.counts[i]}\n`;
      });
      out += `${n}_bucket${labelText({ ...labels, le: "+Inf" })} ${value.count}\n`;
      out += `${n}_sum${labelText(labels)} ${num(value.sum)}\n`;
      out += `${n}_count${labelText(labels)} ${value.count}\n`;
    }
    return out;
  }
}
