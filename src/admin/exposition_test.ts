import assert from "node:assert/strict";
import { HistogramMetric, Metric } from "./exposition.ts";

Deno.test("Metric renders HELP, TYPE and one line per label set, escaping label values", () => {
  const m = new Metric("x_total", 'Things.\nCounted with "\\".', "counter");
  m.inc({ hook: 'a"b\\c\nd' });
  m.inc({ hook: 'a"b\\c\nd' }, 2);
  m.set({ hook: "z" }, 0);
  assert.equal(
    m.render(),
    '# HELP x_total Things.\\nCounted with "\\\\".\n# TYPE x_total counter\n' +
      'x_total{hook="a\\"b\\\\c\\nd"} 3\nx_total{hook="z"} 0\n',
  );
});

Deno.test("HistogramMetric counts each value in every bucket at or above it, plus +Inf, sum and count", () => {
  const h = new HistogramMetric("d_seconds", "D.", [0.1, 1]);
  h.observe({ hook: "h" }, 0.1);
  h.observe({ hook: "h" }, 0.5);
  h.observe({ hook: "h" }, 7);
  assert.equal(
    h.render(),
    "# HELP d_seconds D.\n# TYPE d_seconds histogram\n" +
      'd_seconds_bucket{hook="h",le="0.1"} 1\nd_seconds_bucket{hook="h",le="1"} 2\n' +
      'd_seconds_bucket{hook="h",le="+Inf"} 3\nd_seconds_sum{hook="h"} 7.6\n' +
      'd_seconds_count{hook="h"} 3\n',
  );
});
