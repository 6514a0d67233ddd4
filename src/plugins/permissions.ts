/**
 * Plugin permissions: what a plugin declares, narrowed by the operator, becomes exactly the
 * Deno permissions of its Worker. Absent means denied.
 *
 * @module
 */
import type { PermissionValue, PluginPermissions } from "./types.ts";

/** The permission kinds a plugin can hold. */
export const PERMISSION_KINDS = [
  "net",
  "read",
  "write",
  "env",
  "run",
  "ffi",
  "sys",
  "import",
] as const;

/** A permission kind. */
export type PermissionKind = typeof PERMISSION_KINDS[number];

/** Effective permissions: every kind present, `false` when denied. */
export type Effective = Record<PermissionKind, PermissionValue>;

const PATH_KINDS = new Set<PermissionKind>(["read", "write", "ffi"]);

/** Checks a declaration's shape; returns a problem or `undefined`. */
export function checkPermissions(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "permissions must be an object";
  }
  for (const [kind, v] of Object.entries(value)) {
    if (!(PERMISSION_KINDS as readonly string[]).includes(kind)) {
      return `Unknown permission '${kind}' (use ${PERMISSION_KINDS.join(", ")})`;
    }
    const ok = typeof v === "boolean" ||
      (Array.isArray(v) && v.every((x) => typeof x === "string"));
    if (!ok) return `Permission '${kind}' must be true, false or a list of strings`;
  }
  return undefined;
}

function within(inner: string, outer: string, kind: PermissionKind): boolean {
  if (inner === outer) return true;
  if (PATH_KINDS.has(kind)) return inner.startsWith(outer.endsWith("/") ? outer : outer + "/");
  // A host without a port covers every port of that host.
  if (kind === "net" || kind === "import") {
    return inner.split(":")[0] === outer && !outer.includes(":");
  }
  return false;
}

function narrow(kind: PermissionKind, a: PermissionValue, b: PermissionValue): PermissionValue {
  if (a === false || b === false) return false;
  if (a === true) return b;
  if (b === true) return a;
  const out = new Set<string>();
  for (const x of a) if (b.some((y) => within(x, y, kind))) out.add(x);
  for (const y of b) if (a.some((x) => within(y, x, kind))) out.add(y);
  // Every entry here is allowed by both sides; drop those another entry already covers.
  const list = [...out].filter((x) => ![...out].some((y) => y !== x && within(x, y, kind)));
  return list.length ? list : false;
}

/**
 * The effective permissions: `declared` ∩ `granted`, every kind filled in, absent = `false`.
 * Deny by default: what the operator did not grant, a plugin does not get. With `granted`
 * undefined, this is just `declared` filled in (what a plugin asks for).
 */
export function effectivePermissions(
  declared: PluginPermissions | undefined,
  granted?: PluginPermissions | null,
): Effective {
  const out = {} as Effective;
  for (const kind of PERMISSION_KINDS) {
    const d = declared?.[kind] ?? false;
    out[kind] = granted === undefined ? d : narrow(kind, d, granted?.[kind] ?? false);
    if (Array.isArray(out[kind]) && (out[kind] as string[]).length === 0) out[kind] = false;
  }
  return out;
}

/** What `declared` asks for beyond `effective`, kind by kind (`false` where nothing is missing). */
export function missingPermissions(
  declared: PluginPermissions | undefined,
  effective: Effective,
): Effective {
  const out = {} as Effective;
  for (const kind of PERMISSION_KINDS) {
    const d = declared?.[kind] ?? false;
    const e = effective[kind];
    if (d === false || e === true) out[kind] = false;
    else if (e === false || d === true) out[kind] = d;
    else {
      const left = d.filter((x) => !e.some((y) => within(x, y, kind)));
      out[kind] = left.length ? left : false;
    }
  }
  return out;
}

/** `net=api.github.com env=SECRET` style summary; `none` when everything is denied. */
export function describePermissions(p: Effective): string {
  const parts = PERMISSION_KINDS.flatMap((k) => {
    const v = p[k];
    if (v === false) return [];
    return [v === true ? k : `${k}=${v.join(",")}`];
  });
  return parts.length ? parts.join(" ") : "none";
}
