/**
 * Schedule specs: `--in 5m`, `--at "2026-12-01 09:00"`, `--every 1h`, `--cron "*\/5 * * * *"`,
 * and when each fires next. A repeating schedule that fell behind fires once, then continues
 * after now: no burst of missed runs.
 *
 * @module
 */
import { Cron } from "croner";

/** A parsed schedule. `at` is Unix ms; `every` is ms. */
export type ScheduleSpec =
  | { kind: "at"; at: number }
  | { kind: "every"; ms: number }
  | { kind: "cron"; expr: string };

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Parses `90s`, `5m`, `1h30m`, `2d`, `1.5h` into ms. Throws `TypeError` on bad input. */
export function parseDuration(text: string): number {
  const s = text.trim();
  const re = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while (pos < s.length && (m = re.exec(s))) {
    total += Number(m[1]) * UNITS[m[2]];
    pos = re.lastIndex;
  }
  if (!s || pos !== s.length) {
    throw new TypeError(`Invalid duration '${text}' (use e.g. 30s, 5m, 1h30m, 2d)`);
  }
  if (!(total > 0)) throw new TypeError(`Duration '${text}' must be longer than zero`);
  return Math.round(total);
}

/**
 * Parses an absolute time: `2026-12-01 09:00[:00]` or `2026-12-01` in local time, or ISO 8601
 * with `T` and an optional zone (`Z`, `+02:00`). Throws `TypeError` on bad input.
 */
export function parseAt(text: string): number {
  const s = text.trim();
  const local = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(s);
  let ms: number;
  if (local) {
    const [, y, mo, d, h = "0", mi = "0", se = "0"] = local;
    const date = new Date(+y, +mo - 1, +d, +h, +mi, +se);
    // Date rolls 2026-02-31 over into March; refuse instead.
    if (date.getMonth() !== +mo - 1 || date.getDate() !== +d || +h > 23 || +mi > 59 || +se > 59) {
      throw new TypeError(`Invalid date or time '${text}'`);
    }
    ms = date.getTime();
  } else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(s)) {
    ms = Date.parse(s);
    // Date.parse rolls 2026-02-31 over into March; check the calendar date on its own.
    const [y, mo, d] = s.slice(0, 10).split("-").map(Number);
    const day = new Date(Date.UTC(y, mo - 1, d));
    if (day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d) ms = NaN;
  } else {
    ms = NaN;
  }
  if (Number.isNaN(ms)) {
    throw new TypeError(`Invalid time '${text}' (use "YYYY-MM-DD HH:MM" or ISO 8601)`);
  }
  return ms;
}

/** Checks a cron expression (5 or 6 fields). Throws `TypeError` on bad input. */
export function checkCron(expr: string): void {
  try {
    new Cron(expr, { paused: true });
  } catch (e) {
    throw new TypeError(`Invalid cron expression '${expr}': ${(e as Error).message}`);
  }
}

/** When a new schedule first fires, given the time it is added. */
export function firstRun(spec: ScheduleSpec, now: number): number {
  switch (spec.kind) {
    case "at":
      return spec.at;
    case "every":
      return now + spec.ms;
    case "cron":
      return cronAfter(spec.expr, now);
  }
}

/**
 * When a schedule that was due at `due` fires next, given it fired at `now` (>= `due`):
 * strictly after `now`, keeping an `every` schedule's phase; `null` when it does not repeat.
 */
export function nextRun(spec: ScheduleSpec, due: number, now: number): number | null {
  switch (spec.kind) {
    case "at":
      return null;
    case "every": {
      const missed = Math.floor(Math.max(0, now - due) / spec.ms);
      return due + (missed + 1) * spec.ms;
    }
    case "cron":
      return cronAfter(spec.expr, now);
  }
}

function cronAfter(expr: string, after: number): number {
  const next = new Cron(expr, { paused: true }).nextRun(new Date(after));
  if (!next) throw new RangeError(`Cron expression '${expr}' never fires again`);
  return next.getTime();
}

/** Describes a spec the way it was given: `every 1h`, `cron 0 9 * * 1`, `at <ISO>`. */
export function describeSpec(spec: ScheduleSpec): string {
  switch (spec.kind) {
    case "at":
      return `at ${new Date(spec.at).toISOString()}`;
    case "every":
      return `every ${formatDuration(spec.ms)}`;
    case "cron":
      return `cron ${spec.expr}`;
  }
}

/** `5400000` → `1h30m`. */
export function formatDuration(ms: number): string {
  let out = "";
  let rest = ms;
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]]) {
    const n = Math.floor(rest / (size as number));
    if (n) out += `${n}${unit}`;
    rest -= n * (size as number);
  }
  if (rest) out += `${rest}ms`;
  return out || "0s";
}
