import assert from "node:assert/strict";
import {
  checkCron,
  describeSpec,
  firstRun,
  formatDuration,
  nextRun,
  parseAt,
  parseDuration,
} from "./spec.ts";

const MIN = 60_000;
const HOUR = 60 * MIN;

Deno.test("parseDuration() parses units and combinations into ms", () => {
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("90s"), 90_000);
  assert.equal(parseDuration("5m"), 5 * MIN);
  assert.equal(parseDuration("1h30m"), 90 * MIN);
  assert.equal(parseDuration("1.5h"), 90 * MIN);
  assert.equal(parseDuration("2d"), 48 * HOUR);
  assert.equal(parseDuration("1w"), 7 * 24 * HOUR);
  assert.equal(parseDuration(" 5m "), 5 * MIN);
  assert.equal(parseDuration("1m30s"), 90_000);
});

Deno.test("parseDuration() rejects malformed and zero durations", () => {
  for (const bad of ["", "  ", "5", "m", "5x", "-5m", "5m garbage", "five minutes", "5M"]) {
    assert.throws(() => parseDuration(bad), TypeError, `'${bad}' should be rejected`);
  }
  assert.throws(() => parseDuration("5"), {
    message: "Invalid duration '5' (use e.g. 30s, 5m, 1h30m, 2d)",
  });
  assert.throws(() => parseDuration("0s"), { message: "Duration '0s' must be longer than zero" });
  assert.throws(() => parseDuration("0m0s"), /longer than zero/);
});

Deno.test("parseAt() reads 'YYYY-MM-DD HH:MM[:SS]' and a bare date as local time", () => {
  assert.equal(parseAt("2026-12-01 09:00"), new Date(2026, 11, 1, 9, 0, 0).getTime());
  assert.equal(parseAt("2026-12-01 09:00:30"), new Date(2026, 11, 1, 9, 0, 30).getTime());
  assert.equal(parseAt("2026-12-01T09:00"), new Date(2026, 11, 1, 9, 0, 0).getTime());
  assert.equal(parseAt("2026-12-01"), new Date(2026, 11, 1).getTime());
  assert.equal(parseAt("2028-02-29 12:00"), new Date(2028, 1, 29, 12).getTime());
});

Deno.test("parseAt() reads ISO 8601 with a zone", () => {
  assert.equal(parseAt("2026-12-01T09:00:00Z"), Date.UTC(2026, 11, 1, 9));
  assert.equal(parseAt("2026-12-01T09:00Z"), Date.UTC(2026, 11, 1, 9));
  assert.equal(parseAt("2026-12-01T09:00:00.250Z"), Date.UTC(2026, 11, 1, 9, 0, 0, 250));
  assert.equal(parseAt("2026-12-01T09:00:00+02:00"), Date.UTC(2026, 11, 1, 7));
});

Deno.test("parseAt() rejects impossible local dates and times instead of rolling over", () => {
  for (
    const bad of [
      "2026-02-31",
      "2026-02-29 10:00",
      "2026-13-01",
      "2026-00-10",
      "2026-12-01 24:00",
      "2026-12-01 09:60",
      "2026-12-01 09:00:60",
    ]
  ) {
    assert.throws(() => parseAt(bad), TypeError, `'${bad}' should be rejected`);
  }
});

Deno.test("parseAt() rejects impossible ISO 8601 dates instead of rolling over", () => {
  // The same date the local form refuses must not silently become March 3rd with a zone.
  for (const bad of ["2026-02-31T09:00:00Z", "2026-04-31T09:00:00+02:00"]) {
    assert.throws(() => parseAt(bad), TypeError, `'${bad}' should be rejected`);
  }
});

Deno.test("parseAt() rejects text that is not a time", () => {
  for (const bad of ["tomorrow", "", "12/01/2026", "2026-12-01 9:00", "2026-12-01T09:00:00+0200"]) {
    assert.throws(() => parseAt(bad), TypeError, `'${bad}' should be rejected`);
  }
  assert.throws(() => parseAt("tomorrow"), { message: /Invalid time 'tomorrow'/ });
});

Deno.test("firstRun() fires an 'every' schedule one interval after it is added", () => {
  assert.equal(firstRun({ kind: "every", ms: HOUR }, 1_000), 1_000 + HOUR);
  assert.equal(firstRun({ kind: "at", at: 5_000 }, 1_000), 5_000);
});

Deno.test("nextRun() does not repeat a one-off", () => {
  assert.equal(nextRun({ kind: "at", at: 5_000 }, 5_000, 6_000), null);
});

Deno.test("nextRun() of an on-time 'every' schedule is one interval after the due time", () => {
  const spec = { kind: "every", ms: 10 * MIN } as const;
  assert.equal(nextRun(spec, 1_000_000, 1_000_000), 1_000_000 + 10 * MIN);
  assert.equal(nextRun(spec, 1_000_000, 1_000_050), 1_000_000 + 10 * MIN);
});

Deno.test("nextRun() of an 'every' schedule that fell behind fires once, after now, in phase", () => {
  const ms = 10 * MIN;
  const due = 1_000_000;
  for (const behind of [1, 7, 1_000, 100_000]) {
    for (const extra of [0, 1, ms - 1]) {
      const now = due + behind * ms + extra;
      const next = nextRun({ kind: "every", ms }, due, now);
      assert.ok(next !== null);
      assert.ok(next > now, `next ${next} must be after now ${now}`);
      assert.ok(next - now <= ms, "must not skip a run that is still ahead");
      assert.equal((next - due) % ms, 0, "must keep the schedule's phase");
    }
  }
});

Deno.test("nextRun() of a cron schedule is its next match strictly after now", () => {
  const spec = { kind: "cron", expr: "*/5 * * * *" } as const;
  const now = new Date(2026, 0, 1, 0, 2, 30).getTime();
  assert.equal(nextRun(spec, now - 1_000, now), new Date(2026, 0, 1, 0, 5).getTime());
  const onTheDot = new Date(2026, 0, 1, 0, 5).getTime();
  assert.equal(nextRun(spec, onTheDot, onTheDot), new Date(2026, 0, 1, 0, 10).getTime());
  // Fell behind by hours: the next match after now, not the next after the due time.
  const late = new Date(2026, 0, 1, 3, 1).getTime();
  assert.equal(nextRun(spec, onTheDot, late), new Date(2026, 0, 1, 3, 5).getTime());
  assert.equal(
    firstRun({ kind: "cron", expr: "0 9 * * 1" }, new Date(2026, 0, 1).getTime()),
    new Date(2026, 0, 5, 9).getTime(), // the first Monday of 2026
  );
});

Deno.test("checkCron() rejects invalid expressions", () => {
  checkCron("*/5 * * * *");
  checkCron("0 0 9 * * 1");
  for (const bad of ["", "* * *", "61 * * * *", "every minute"]) {
    assert.throws(() => checkCron(bad), TypeError, `'${bad}' should be rejected`);
  }
  assert.throws(() => checkCron("61 * * * *"), {
    message: /^Invalid cron expression '61 \* \* \* \*'/,
  });
});

Deno.test("describeSpec() and formatDuration() show a spec the way it was given", () => {
  assert.equal(formatDuration(90 * MIN), "1h30m");
  assert.equal(formatDuration(250), "250ms");
  assert.equal(formatDuration(0), "0s");
  assert.equal(formatDuration(2 * 24 * HOUR + 1_500), "2d1s500ms");
  assert.equal(describeSpec({ kind: "every", ms: HOUR }), "every 1h");
  assert.equal(describeSpec({ kind: "cron", expr: "0 9 * * 1" }), "cron 0 9 * * 1");
  assert.equal(
    describeSpec({ kind: "at", at: Date.UTC(2026, 11, 1, 9) }),
    "at 2026-12-01T09:00:00.000Z",
  );
});
