/**
 * Checks of the authentication keys that need more than the document: secrets read from the
 * environment and from files (fail closed: missing, empty or unreadable is a config problem),
 * `match` conditions, and TLS files. Each reports at the key it is about.
 *
 * @module
 */
import { type Scheme, SCHEMES, secretBytes, TIMESTAMPED } from "../auth/schemes.ts";

/** Reports `message` at key path `path`. */
export type Report = (path: PropertyKey[], message: string) => void;

const list = (v: unknown): string[] =>
  typeof v === "string" ? [v] : Array.isArray(v) ? v.filter((x) => typeof x === "string") : [];

/**
 * The secrets of table `table` at `path` (a `[[hooks]]` entry or `[plugins.NAME]`), read from
 * `secret_env` and `secret_file`; `undefined` when it has no `verify`. Every problem is reported.
 */
export function readSecrets(
  table: Record<string, unknown>,
  path: PropertyKey[],
  options: {
    report: Report;
    abs: (p: string) => string;
    env?: (name: string) => string | undefined;
  },
): string[] | undefined {
  const { report } = options;
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const scheme = SCHEMES.includes(table.verify as Scheme) ? table.verify as Scheme : undefined;
  const given = table.secret_env !== undefined || table.secret_file !== undefined;
  if (table.verify === undefined) {
    for (const key of ["secret_env", "secret_file", "signature_header", "tolerance"]) {
      if (table[key] !== undefined) report([...path, key], `'${key}' needs 'verify'`);
    }
    return undefined;
  }
  if (!scheme) return undefined; // Reported by the schema.
  if (!given) {
    report([...path, "verify"], `Verify '${scheme}' needs 'secret_env' or 'secret_file'`);
    return undefined;
  }
  if (table.tolerance !== undefined && !TIMESTAMPED.has(scheme)) {
    report([...path, "tolerance"], `Verify '${scheme}' signs no timestamp; remove 'tolerance'`);
  }
  if (table.signature_header !== undefined && scheme !== "hmac-sha256") {
    report([...path, "signature_header"], "'signature_header' applies only to 'hmac-sha256'");
  }
  const secrets: string[] = [];
  const add = (at: PropertyKey[], secret: string, where: string) => {
    const bytes = secretBytes(scheme, secret);
    if (typeof bytes === "string") report(at, `Secret in ${where} ${bytes}`);
    else secrets.push(secret);
  };
  const envNames = list(table.secret_env);
  envNames.forEach((name, i) => {
    const at = [...path, "secret_env", ...(Array.isArray(table.secret_env) ? [i] : [])];
    const value = env(name);
    if (value === undefined) report(at, `Environment variable '${name}' is not set`);
    else add(at, value, `'${name}'`);
  });
  list(table.secret_file).forEach((file, i) => {
    const at = [...path, "secret_file", ...(Array.isArray(table.secret_file) ? [i] : [])];
    const full = options.abs(file);
    let text: string;
    try {
      text = Deno.readTextFileSync(full);
    } catch (e) {
      report(at, `Cannot read secret file '${full}': ${(e as Error).message}`);
      return;
    }
    // One trailing newline is how editors and `echo` end a file, never part of a secret.
    add(at, text.replace(/\r?\n$/, ""), `'${full}'`);
  });
  return secrets;
}

const oneOf = (table: Record<string, unknown>, keys: string[]) =>
  keys.filter((k) => table[k] !== undefined);

/** Checks `[[hooks.match]]` conditions at `path`: one place and one test each, valid regexes. */
export function checkMatch(conditions: unknown, path: PropertyKey[], report: Report): void {
  if (!Array.isArray(conditions)) return;
  conditions.forEach((c, i) => {
    if (typeof c !== "object" || c === null) return;
    const cond = c as Record<string, unknown>;
    const at = [...path, i];
    const where = oneOf(cond, ["header", "query", "json"]);
    if (where.length !== 1) report(at, "Give exactly one of 'header', 'query' or 'json'");
    const how = oneOf(cond, ["equals", "regex", "one_of"]);
    if (how.length !== 1) report(at, "Give exactly one of 'equals', 'regex' or 'one_of'");
    if (typeof cond.json === "string" && cond.json !== "" && !cond.json.startsWith("/")) {
      report([...at, "json"], `JSON pointer '${cond.json}' must start with '/'`);
    }
    if (typeof cond.regex === "string") {
      try {
        new RegExp(cond.regex);
      } catch (e) {
        report([...at, "regex"], (e as Error).message);
      }
    }
  });
}

/**
 * Absolute `tls_cert` and `tls_key` of `table` at `path`, checked to be readable and given
 * together; `undefined` when neither is given.
 */
export function checkTls(
  table: Record<string, unknown>,
  path: PropertyKey[],
  options: { report: Report; abs: (p: string) => string },
): { cert: string; key: string } | undefined {
  const cert = typeof table.tls_cert === "string" && table.tls_cert ? table.tls_cert : undefined;
  const key = typeof table.tls_key === "string" && table.tls_key ? table.tls_key : undefined;
  if (!cert && !key) return undefined;
  if (!cert || !key) {
    report(options, path, cert ? "tls_key" : "tls_cert", "'tls_cert' and 'tls_key' go together");
    return undefined;
  }
  let ok = true;
  for (const [name, file] of [["tls_cert", cert], ["tls_key", key]]) {
    try {
      if (!Deno.readTextFileSync(options.abs(file)).includes("-----BEGIN ")) {
        report(options, path, name, `'${options.abs(file)}' is not a PEM file`);
        ok = false;
      }
    } catch (e) {
      report(options, path, name, `Cannot read '${options.abs(file)}': ${(e as Error).message}`);
      ok = false;
    }
  }
  return ok ? { cert: options.abs(cert), key: options.abs(key) } : undefined;
}

function report(o: { report: Report }, path: PropertyKey[], key: string, message: string) {
  o.report([...path, key], message);
}
