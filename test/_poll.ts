/**
 * Test helpers that wait for the world to change: polling a condition, whether a process still
 * runs, whether a file exists. Shared by unit and end-to-end tests.
 *
 * @module
 */
import assert from "node:assert/strict";

/** Polls `cond` every `everyMs` until it holds; fails with `what()` after `ms`. */
export async function until(
  cond: () => Promise<boolean> | boolean,
  what: () => string,
  ms = 10_000,
  everyMs = 20,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`Timed out waiting: ${what()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Polls `cond` every 50 ms for up to `ms`; returns whether it became true. */
export async function eventually(
  cond: () => boolean | Promise<boolean>,
  ms = 5_000,
): Promise<boolean> {
  const deadline = Date.now() + ms;
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
