/**
 * POSIX path helpers that behave as `node:path`'s for the paths hookhost builds. The modules a
 * short command such as `send` loads use these instead of `node:path`: the first `node:` module a
 * process imports costs it ~9 ms of Node compatibility set-up, on a command whose whole run is
 * ~25 ms. hookhost runs where Unix sockets, signals and `setsid` do, so `/` is the separator.
 *
 * @module
 */

/** `..` and `.` applied, repeated slashes collapsed; `..` kept above the start when allowed. */
function normalizeSegments(path: string, aboveRoot: boolean): string {
  const out: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment !== "..") out.push(segment);
    else if (out.length && out.at(-1) !== "..") out.pop();
    else if (aboveRoot) out.push("..");
  }
  return out.join("/");
}

/** Whether `path` is absolute. */
export function isAbsolute(path: string): boolean {
  return path.startsWith("/");
}

/** `path` with `.` and `..` applied and slashes collapsed; a trailing slash is kept. */
export function normalize(path: string): string {
  if (path === "") return ".";
  const absolute = isAbsolute(path);
  const trailing = path.endsWith("/");
  const body = normalizeSegments(path, !absolute);
  if (body === "") return absolute ? "/" : trailing ? "./" : ".";
  return (absolute ? "/" : "") + body + (trailing ? "/" : "");
}

/** The non-empty `parts` joined with `/`, normalized. */
export function join(...parts: string[]): string {
  const joined = parts.filter((p) => p !== "").join("/");
  return joined === "" ? "." : normalize(joined);
}

/** An absolute path: `parts` applied right to left until one is absolute, then the cwd. */
export function resolve(...parts: string[]): string {
  let resolved = "";
  for (let i = parts.length - 1; i >= 0 && !isAbsolute(resolved); i--) {
    if (parts[i] !== "") resolved = resolved ? `${parts[i]}/${resolved}` : parts[i];
  }
  if (!isAbsolute(resolved)) resolved = resolved ? `${Deno.cwd()}/${resolved}` : Deno.cwd();
  return `/${normalizeSegments(resolved, false)}`;
}

/** The folder part of `path`: everything before its last segment. */
export function dirname(path: string): string {
  if (path === "") return ".";
  let end = -1;
  let slashes = true;
  for (let i = path.length - 1; i >= 1; i--) {
    if (path[i] === "/") {
      if (!slashes) {
        end = i;
        break;
      }
    } else slashes = false;
  }
  if (end === -1) return isAbsolute(path) ? "/" : ".";
  if (isAbsolute(path) && end === 1) return "//";
  return path.slice(0, end);
}

/** The last segment of `path` (trailing slashes ignored), without `suffix` if it ends with it. */
export function basename(path: string, suffix = ""): string {
  const base = path.replace(/\/+$/, "").split("/").at(-1) ?? "";
  return suffix && base.endsWith(suffix) ? base.slice(0, base.length - suffix.length) : base;
}

/** The extension of `path`'s last segment, from its last `.` (none for `.hidden` or `..`). */
export function extname(path: string): string {
  const base = basename(path);
  const dot = base.lastIndexOf(".");
  return dot <= 0 || base === ".." ? "" : base.slice(dot);
}
