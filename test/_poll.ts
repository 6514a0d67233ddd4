/**
 * Test helpers that wait for the world to change: polling a condition, whether a process still
 * runs, whether a file exists. Shared by unit and end-to-end tests.
 *
 * @module
 */
import assert from "node:assert/strict";

/**
 * The one factor every deadline in the tests is multiplied by: `HOOKHOST_TEST_SLOW` (default 1),
 * for a machine slower than the defaults allow. A deadline only bounds a wait for something that
 * should happen, so a passing test never waits one out: raising it costs nothing but the time a
 * failing test takes to say so.
 */
export const SLOW: number = slowFactor(Deno.env.get("HOOKHOST_TEST_SLOW"));

/** The default deadline of a wait, before scaling: generous, since only a failure waits it out. */
export const WAIT_MS = 60_000;

function slowFactor(text: string | undefined): number {
  if (text === undefined || text === "") return 1;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 1) {
    throw new Error(`HOOKHOST_TEST_SLOW must be a number of at least 1, not '${text}'`);
  }
  return n;
}

/** `ms` times {@linkcode SLOW}: every deadline and grace in the tests goes through this. */
export function scaled(ms: number): number {
  return Math.round(ms * SLOW);
}

/**
 * Waits `ms` (scaled): only for proving that something does *not* happen within a while, never
 * for waiting until something does (use {@linkcode until} or {@linkcode eventually}).
 */
export function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, scaled(ms)));
}

/** Polls `cond` every `everyMs` until it holds; fails with `what()` after `ms` (scaled). */
export async function until(
  cond: () => Promise<boolean> | boolean,
  what: () => string,
  ms = WAIT_MS,
  everyMs = 20,
): Promise<void> {
  const deadline = Date.now() + scaled(ms);
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`Timed out waiting: ${what()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Polls `cond` every 50 ms for up to `ms` (scaled); returns whether it became true. */
export async function eventually(
  cond: () => boolean | Promise<boolean>,
  ms = WAIT_MS,
): Promise<boolean> {
  const deadline = Date.now() + scaled(ms);
  while (true) {
    if (await cond()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether `pid` is a live process (a zombie counts as dead: it no longer runs). Linux. */
export function alive(pid: number): boolean {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return false;
  }
  // "pid (comm) S ..." — comm may contain spaces or parentheses, so read after the last ')'.
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  return state !== "Z" && state !== "X";
}

/** Whether `path` exists. */
export function exists(path: string): Promise<boolean> {
  return Deno.stat(path).then(() => true, () => false);
}
