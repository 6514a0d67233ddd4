/**
 * Noticing that a persistent hook's script changed (edited in place, or replaced by a rename as
 * editors and deploys do), so that its workers restart with the new one.
 *
 * @module
 */

/** How often a script is looked at, in ms. */
export const WATCH_EVERY_MS = 1000;

function identity(path: string): string {
  try {
    const i = Deno.statSync(path);
    return `${i.dev}:${i.ino}:${i.size}:${i.mtime?.getTime()}`;
  } catch {
    // Missing for a moment (a deploy in progress): a change once it is back.
    return "missing";
  }
}

/**
 * Calls `onChange` when `path`'s file changes (its inode, size or mtime), looking every
 * `everyMs` (default {@linkcode WATCH_EVERY_MS}); a file that is missing is not a change until
 * it is back, unless `onGone` is given: then that is called once and the watch ends (a script
 * plugin's file removed). Returns the function that stops watching. The timer keeps no process
 * alive.
 */
export function watchScript(
  path: string,
  onChange: () => void,
  options: { everyMs?: number; onGone?: () => void } = {},
): () => void {
  let seen = identity(path);
  const timer = setInterval(() => {
    const now = identity(path);
    if (now === "missing" && options.onGone) {
      clearInterval(timer);
      return options.onGone();
    }
    if (now === seen || now === "missing") return;
    seen = now;
    onChange();
  }, options.everyMs ?? WATCH_EVERY_MS);
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}
