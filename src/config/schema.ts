/**
 * The TOML config's shape, validated with zod. File-system checks (scripts exist, binds do not
 * clash) live in `load.ts` because they need more than the document.
 *
 * @module
 */
import * as z from "zod/mini";
import en from "zod/v4/locales/en.js";
import type { PluginPermissions } from "../plugins/types.ts";
import { type Scheme, SCHEMES } from "../auth/schemes.ts";

// zod/mini rather than zod's chained API: the same checks, but its schemas carry no per-instance
// methods and a bundle keeps only what is used (one locale, not 64), which is most of what zod cost
// the daemon's memory. English messages for the few issues without a message of ours.
z.config(en());

/** A whole number from `min` to `max`, reported as `what`. */
function whole(what: string, min: number, max: number) {
  const range = `must be from ${min} to ${max}`;
  return z.number({ error: `must be ${what}` }).check(
    z.int(`must be ${what}`),
    z.minimum(min, range),
    z.maximum(max, range),
  );
}

function seconds(min: number, max: number, fallback: number) {
  const range = `must be from ${min} to ${max} seconds`;
  return z._default(
    z.number({ error: "must be a number of seconds" }).check(
      z.minimum(min, range),
      z.maximum(max, range),
    ),
    fallback,
  );
}

/** A body size limit in bytes: 1 byte to 1 GiB, default 10 MiB. */
function maxBody() {
  return z._default(
    z.number({ error: "must be a number of bytes" }).check(
      z.int("must be a whole number of bytes"),
      z.minimum(1, "must be at least 1 byte"),
      z.maximum(1024 * 1024 * 1024, "must be at most 1 GiB"),
    ),
    10 * 1024 * 1024,
  );
}

const requiredString = (what: string) =>
  z.string({
    error: (i) => (i.input === undefined ? `${what} is required` : `${what} must be a string`),
  });

/** A string that must not be empty once given. */
const nonEmpty = (what: string) =>
  z.optional(requiredString(what).check(z.minLength(1, `${what} must not be empty`)));

/** A string, or a list of strings (several secrets, for rotation). */
const oneOrMore = (what: string) =>
  z.optional(
    z.union([z.string(), z.array(z.string())], {
      error: `${what} must be a string or a list of strings`,
    }),
  );

/** A scalar a `match` condition compares with. */
const scalar = z.union([z.string(), z.number(), z.boolean()], {
  error: "must be a string, a number or a boolean",
});

/** One `[[hooks.match]]` condition: where to look, and how to compare. */
export const MatchSchema = z.strictObject({
  header: z.optional(z.string({ error: "header must be a header name" })),
  query: z.optional(z.string({ error: "query must be a parameter name" })),
  json: z.optional(z.string({ error: "json must be a JSON pointer such as '/ref'" })),
  equals: z.optional(scalar),
  regex: z.optional(z.string({ error: "regex must be a string" })),
  one_of: z.optional(z.array(scalar, { error: "one_of must be a list" })),
});

/** Verification and dedupe: the same keys on `[[hooks]]` and `[plugins.NAME]`. */
const authShape = {
  verify: z.optional(
    z.enum(SCHEMES, { error: `must be one of ${SCHEMES.map((s) => `"${s}"`).join(", ")}` }),
  ),
  secret_env: oneOrMore("secret_env"),
  secret_file: oneOrMore("secret_file"),
  signature_header: nonEmpty("signature_header"),
  tolerance: seconds(1, 86400, 300),
  dedupe_window: seconds(0, 30 * 86400, 86400),
  dedupe_header: nonEmpty("dedupe_header"),
};

/** `env` and `env_set`: what a child process inherits. */
const envShape = {
  env: z.optional(z.array(z.string(), { error: "must be a list of variable names" })),
  env_set: z.optional(
    z.record(z.string(), z.string({ error: "must be a string" }), {
      error: "must be a table of strings",
    }),
  ),
};

/** `tls_cert` and `tls_key`: PEM files. */
const tlsShape = { tls_cert: nonEmpty("tls_cert"), tls_key: nonEmpty("tls_key") };

/** Requests a sync hook (or script plugin) lets wait for a slot unless `queue` says otherwise. */
export const DEFAULT_SYNC_QUEUE = 64;

/** A delay before a retry, in seconds. */
const delay = z.number().check(
  z.minimum(0.001, "must be from 0.001 to 86400 seconds"),
  z.maximum(86400, "must be from 0.001 to 86400 seconds"),
);

/** One `[[hooks]]` entry. */
export const HookSchema = z.strictObject({
  ...authShape,
  ...envShape,
  ...tlsShape,
  match: z.optional(
    z.array(MatchSchema, { error: "must be an array of tables ([[hooks.match]])" }),
  ),
  unmatched_status: z._default(whole("an HTTP status", 200, 599), 204),
  name: requiredString("name").check(z.trim(), z.minLength(1, "name must not be empty")),
  bind: requiredString("bind"),
  script: nonEmpty("script"),
  plugin: nonEmpty("plugin"),
  timeout: z._default(
    z.number({ error: "must be a whole number of seconds" }).check(
      z.int("must be a whole number of seconds"),
      z.minimum(1, "must be from 1 to 3600 seconds"),
      z.maximum(3600, "must be from 1 to 3600 seconds"),
    ),
    30,
  ),
  max_body: maxBody(),
  mode: z._default(z.enum(["sync", "async"], { error: 'must be "sync" or "async"' }), "sync"),
  concurrency: z.optional(whole("a whole number", 1, 1024)),
  queue: z._default(whole("a whole number", 0, 1_000_000), DEFAULT_SYNC_QUEUE),
  max_pending: z._default(whole("a whole number", 1, 100_000_000), 100_000),
  persistent: z._default(z.boolean({ error: "must be true or false" }), false),
  workers: z._default(whole("a whole number", 1, 64), 1),
  max_inflight: z._default(whole("a whole number", 1, 1024), 1),
  max_attempts: z.optional(whole("a whole number", 1, 1000)),
  retry_backoff: z.optional(
    z.union([delay, z.array(delay).check(z.minLength(1, "must list at least one delay"))], {
      error: "must be a number of seconds, or a list of them",
    }),
  ),
  methods: z._default(
    z.array(
      z.string({ error: "must be a list of HTTP methods" }).check(
        z.regex(/^([A-Z]+|\*)$/, 'must be HTTP methods in capitals, or "*" for any'),
      ),
      { error: 'must be a list of HTTP methods, such as ["POST"]' },
    ).check(z.minLength(1, "must name at least one method")),
    ["POST"],
  ),
});

/** Scripts a sync hook runs at once unless `concurrency` says otherwise: two per core. */
export const DEFAULT_SYNC_CONCURRENCY: number = 2 * (navigator.hardwareConcurrency || 1);

/** Scripts an async hook runs at once unless `concurrency` says otherwise: one, so outputs reach the inbox in the order requests arrived. */
export const DEFAULT_ASYNC_CONCURRENCY = 1;

/**
 * Seconds an async hook's job waits after its 1st, 2nd, … failed run unless `retry_backoff`
 * says otherwise (the last repeats): Svix's schedule.
 */
export const DEFAULT_RETRY_SCHEDULE: readonly number[] = [5, 300, 1800, 7200, 18000, 36000];

/** Runs an async hook's job gets unless `max_attempts` says otherwise: one per delay, plus one. */
export const DEFAULT_ASYNC_ATTEMPTS: number = DEFAULT_RETRY_SCHEDULE.length + 1;

/**
 * Ms to wait after the `failed`th failed run: a list gives each delay in seconds (its last
 * repeats); a number is the first, doubling each time, at most a day.
 */
export function retryDelay(backoff: number | readonly number[], failed: number): number {
  const seconds = typeof backoff === "number"
    ? Math.min(backoff * 2 ** (failed - 1), 86400)
    : backoff[Math.min(failed, backoff.length) - 1];
  return Math.round(seconds * 1000);
}

/** The `[session]` table. */
export const SessionSchema = z.strictObject({
  ...envShape,
  handler: nonEmpty("handler"),
  handler_timeout: seconds(1, 86400, 300),
  max_attempts: z._default(whole("a whole number", 1, 1000), 5),
  retry_backoff: seconds(0.001, 3600, 1),
  shutdown_grace: seconds(0, 3600, 10),
  lease_ttl: seconds(1, 3600, 10),
});

/** The `[events]` table: limits of event hook runs. */
export const EventsSchema = z.strictObject({
  ...envShape,
  max_concurrent: z._default(whole("a whole number", 1, 1024), 8),
  queue_limit: z._default(whole("a whole number", 0, 10_000_000), 10_000),
});

const permission = z.optional(
  z.union([z.boolean(), z.array(z.string())], {
    error: "must be true, false or a list of strings",
  }),
);

/** `[plugins.NAME]`: the operator's settings of one plugin. */
export const PluginSettingsSchema = z.strictObject({
  ...authShape,
  ...envShape,
  permissions: z.optional(z.strictObject({
    net: permission,
    read: permission,
    write: permission,
    env: permission,
    run: permission,
    ffi: permission,
    sys: permission,
    import: permission,
  })),
  timeout: z.optional(
    z.number({ error: "must be a number of seconds" }).check(
      z.minimum(0.001, "must be from 0.001 to 3600 seconds"),
      z.maximum(3600, "must be from 0.001 to 3600 seconds"),
    ),
  ),
  isolation: z.optional(z.enum(["process", "worker"], { error: 'must be "process" or "worker"' })),
  memory: z.optional(whole("a number of MiB", 32, 1024 * 1024)),
  persistent: z.optional(z.boolean({ error: "must be true or false" })),
  workers: z.optional(whole("a whole number", 1, 64)),
  max_inflight: z.optional(whole("a whole number", 1, 1024)),
});

/** `[limits]`: what any client may hold of the daemon, on every listener (docs/security.md). */
export const LimitsSchema = z.strictObject({
  max_body_in_flight: z._default(
    whole("a number of bytes", 1024, 64 * 1024 * 1024 * 1024),
    64 * 1024 * 1024,
  ),
  header_timeout: seconds(0.1, 3600, 10),
  body_timeout: seconds(0.1, 3600, 30),
  idle_timeout: seconds(0.1, 86400, 60),
  max_connections: z.optional(whole("a whole number", 1, 10_000_000)),
});

/** `[server]`: where plugins are served. */
export const ServerSchema = z.strictObject({
  ...tlsShape,
  bind: z._default(requiredString("bind"), "127.0.0.1:9800"),
  max_body: maxBody(),
});

/** Where the admin listener binds unless `[admin] bind` says otherwise. */
export const DEFAULT_ADMIN_BIND = "127.0.0.1:9180";

/** `[admin]`: health, readiness, metrics and the status page of a daemon. */
export const AdminSchema = z.strictObject({
  bind: z._default(requiredString("bind"), DEFAULT_ADMIN_BIND),
  token_env: nonEmpty("token_env"),
});

/** The whole config document. */
export const ConfigSchema = z.strictObject({
  server: z.optional(ServerSchema),
  admin: z.optional(AdminSchema),
  limits: z._default(LimitsSchema, LimitsSchema.parse({})),
  plugins: z._default(z.record(z.string(), PluginSettingsSchema), {}),
  hooks: z._default(z.array(HookSchema, { error: "must be an array of tables ([[hooks]])" }), []),
  session: z._default(SessionSchema, SessionSchema.parse({})),
  events: z._default(EventsSchema, EventsSchema.parse({})),
});

// The types below are written out rather than `z.infer`red so the docs show their fields (an
// inferred type shows as zod's internals); `_SchemaChecks` keeps them and the schemas in step.

/** `[admin]` after validation. */
export interface AdminConfig {
  /** `host:port` of the admin listener (default {@linkcode DEFAULT_ADMIN_BIND}). */
  bind: string;
  /**
   * Variable holding the token every request but `/healthz` must bring
   * (`Authorization: Bearer …`); required for a bind other machines can reach.
   */
  token_env?: string;
}

/** A `[[hooks.match]]` condition: exactly one of `header`, `query`, `json`, and of `equals`, `regex`, `one_of`. */
export interface MatchCondition {
  /** A request header, by name. */
  header?: string;
  /** A query parameter, by name. */
  query?: string;
  /** A field of the JSON body, by JSON pointer (`/ref`, `/commits/0/id`). */
  json?: string;
  /** Holds when the value is this one. */
  equals?: string | number | boolean;
  /** Holds when the value (as text) matches this regular expression. */
  regex?: string;
  /** Holds when the value is one of these. */
  one_of?: (string | number | boolean)[];
}

/** Verification and dedupe keys of `[[hooks]]` and `[plugins.NAME]` (docs/security.md). */
export interface AuthKeys {
  /** Signature scheme requests must pass; unset, nothing is verified. */
  verify?: Scheme;
  /** Variable(s) holding the secret(s); several rotate. */
  secret_env?: string | string[];
  /** File(s) holding the secret(s); several rotate. */
  secret_file?: string | string[];
  /** Header of `verify = "hmac-sha256"` signatures (default `X-Signature`). */
  signature_header?: string;
  /** Seconds a signed timestamp may be off (default 300). */
  tolerance: number;
  /** Seconds a delivery id is remembered; 0 turns dedupe off (default 86400). */
  dedupe_window: number;
  /** Header carrying the delivery id, in place of the well-known ones. */
  dedupe_header?: string;
  /**
   * The secrets, read from `secret_env` / `secret_file` when the config was loaded (set only
   * when `verify` is).
   */
  secrets?: string[];
}

/** `env` and `env_set` of a table that starts processes. */
export interface EnvKeys {
  /** Variables of hookhost's environment passed on; unset, all but the hidden ones. */
  env?: string[];
  /** Variables set for the child. */
  env_set?: Record<string, string>;
}

/** `tls_cert` and `tls_key`: serve HTTPS. */
export interface TlsKeys {
  /** Absolute path of the PEM certificate (chain). */
  tls_cert?: string;
  /** Absolute path of the PEM private key. */
  tls_key?: string;
}

/** A `[[hooks]]` entry after validation; `script` is absolute. */
export interface HookConfig extends AuthKeys, EnvKeys, TlsKeys {
  /** Conditions that must all hold for the script to run. */
  match?: MatchCondition[];
  /** Answer of a request that fails a `match` condition (default 204). */
  unmatched_status: number;
  /** Unique name, trimmed; `--hook NAME` serves it. */
  name: string;
  /** `host:port` to listen on; port 0 is any free port. */
  bind: string;
  /** Absolute path of the executable run per request; absent when `plugin` serves the hook. */
  script?: string;
  /** Name of the plugin that answers the hook's requests instead of a script. */
  plugin?: string;
  /** Seconds a script may run, 1 to 3600 (default 30). */
  timeout: number;
  /** Largest accepted body in bytes (default 10 MiB); larger ones get `413`. */
  max_body: number;
  /** `sync` answers once the script has run; `async` stores the request as a job, answers `202`. */
  mode: "sync" | "async";
  /**
   * Scripts the hook runs at once, 1 to 1024; unset means {@linkcode DEFAULT_ASYNC_CONCURRENCY}
   * for an async hook, {@linkcode DEFAULT_SYNC_CONCURRENCY} for a sync one.
   */
  concurrency?: number;
  /**
   * Requests of a sync hook waiting for one of its `concurrency` slots, at most (default 64);
   * beyond, 503 with `Retry-After`.
   */
  queue: number;
  /** Jobs of an async hook stored and not yet run, at most (default 100000); beyond, 503. */
  max_pending: number;
  /**
   * Whether the script runs as long-lived workers fed requests as JSON lines (docs/workers.md)
   * instead of once per request (default false).
   */
  persistent: boolean;
  /** Copies of a persistent script, 1 to 64 (default 1). */
  workers: number;
  /** Requests one worker of a persistent script holds at once, 1 to 1024 (default 1). */
  max_inflight: number;
  /**
   * Runs an async hook's job gets before it becomes a dead letter, 1 to 1000 (default
   * {@linkcode DEFAULT_ASYNC_ATTEMPTS}); async hooks only.
   */
  max_attempts?: number;
  /**
   * Seconds before each retry of an async hook's job: a list (the last repeats; default
   * {@linkcode DEFAULT_RETRY_SCHEDULE}) or the first delay, doubling; async hooks only.
   */
  retry_backoff?: number | number[];
  /** Methods the hook answers (default `["POST"]`; `["*"]` any); others get 405 with `Allow`. */
  methods: string[];
  /** Line of the entry's `[[hooks]]` header in the config file, when known. */
  line?: number;
}

/** `[session]` after validation; `handler` is absolute. */
export interface SessionConfig extends EnvKeys {
  /** Absolute path of the executable run once per message, if any. */
  handler?: string;
  /** Seconds per handler attempt (default 300). */
  handler_timeout: number;
  /** Attempts before a message becomes a dead letter (default 5). */
  max_attempts: number;
  /** Seconds before the first retry, doubling each time (default 1). */
  retry_backoff: number;
  /** Seconds to finish in-flight work on SIGINT/SIGTERM (default 10). */
  shutdown_grace: number;
  /**
   * Seconds a daemon's lease on the inbox lasts without renewal (default 10): how long a standby
   * daemon of the same session on the same KV waits before it takes over from one that died.
   */
  lease_ttl: number;
}

/** `[events]` after validation. */
export interface EventsConfig extends EnvKeys {
  /** Event hook runs at once (default 8). */
  max_concurrent: number;
  /** Runs waiting at most; beyond, they are refused, counted and logged (default 10000). */
  queue_limit: number;
}

/** `[limits]` after validation. */
export interface LimitsConfig {
  /** Body bytes all requests of the daemon hold at once (default 64 MiB); beyond, 503. */
  max_body_in_flight: number;
  /** Seconds a request head may take to arrive (default 10). */
  header_timeout: number;
  /** Seconds a body may go without a byte (default 30); 408. */
  body_timeout: number;
  /** Seconds a keep-alive connection may sit idle (default 60). */
  idle_timeout: number;
  /** Connections one listener holds at once; unset, a share of the fd limit. */
  max_connections?: number;
}

/** `[server]` after validation. */
export interface ServerConfig extends TlsKeys {
  /** `host:port` plugins are served on (default `127.0.0.1:9800`). */
  bind: string;
  /** Largest accepted body in bytes (default 10 MiB). */
  max_body: number;
}

/** `[plugins.NAME]` after validation. */
export interface PluginSettingsConfig extends AuthKeys, EnvKeys {
  /** Narrows the permissions the plugin declares. */
  permissions?: PluginPermissions;
  /** Seconds per handler call. */
  timeout?: number;
  /** `process` (default) or `worker`. */
  isolation?: "process" | "worker";
  /** Memory limit of a process-isolated plugin, MiB (default 128). */
  memory?: number;
  /** A script plugin runs as persistent workers (docs/workers.md); module plugins ignore it. */
  persistent?: boolean;
  /** Copies of a persistent script plugin (default 1). */
  workers?: number;
  /** Requests one worker of a persistent script plugin holds at once (default 1). */
  max_inflight?: number;
}

/** The validated config. */
export interface Config {
  /** `[server]`, when the file has one (plugins are served on its bind). */
  server?: ServerConfig;
  /** `[admin]`, when the file has one: a daemon serves its admin listener. */
  admin?: AdminConfig;
  /** Limits of every listener. */
  limits: LimitsConfig;
  /** Operator settings by plugin name. */
  plugins: Record<string, PluginSettingsConfig>;
  /** Event hook limits. */
  events: EventsConfig;
  /** Webhook hooks, in file order. */
  hooks: HookConfig[];
  /** Session settings. */
  session: SessionConfig;
  /** The file it came from, or `null` for the empty default. */
  file: string | null;
  /** Folder relative paths were resolved against. */
  dir: string;
}

/** Every variable named by a `secret_env` of `config`: never passed to a child process. */
export function secretEnvNames(config: Pick<Config, "hooks" | "plugins">): string[] {
  const names = new Set<string>();
  for (const t of [...config.hooks, ...Object.values(config.plugins)]) {
    for (const n of [t.secret_env ?? []].flat()) names.add(n);
  }
  return [...names];
}

/**
 * `true` when `A` and `B` have the same keys and are assignable to each other, else `false` (the
 * keys too, because an optional field on one side only would not stop the assignments).
 */
type Same<A, B> = [A, keyof A] extends [B, keyof B] ? [B, keyof B] extends [A, keyof A] ? true
  : false
  : false;
/** Type-checks only when `T` is `true`. */
type Assert<T extends true> = T;

// Each interface above against what its schema outputs: a field added, dropped or retyped on one
// side only fails `deno check`. Types only, so nothing of this is left at run time.
type _SchemaChecks = [
  Assert<Same<Omit<HookConfig, "line" | "secrets">, z.output<typeof HookSchema>>>,
  Assert<Same<SessionConfig, z.output<typeof SessionSchema>>>,
  Assert<Same<EventsConfig, z.output<typeof EventsSchema>>>,
  Assert<Same<ServerConfig, z.output<typeof ServerSchema>>>,
  Assert<Same<AdminConfig, z.output<typeof AdminSchema>>>,
  Assert<Same<LimitsConfig, z.output<typeof LimitsSchema>>>,
  Assert<Same<Omit<PluginSettingsConfig, "secrets">, z.output<typeof PluginSettingsSchema>>>,
  Assert<Same<MatchCondition, z.output<typeof MatchSchema>>>,
  Assert<
    Same<PluginPermissions, NonNullable<z.output<typeof PluginSettingsSchema>["permissions"]>>
  >,
  Assert<Same<Omit<Config, "file" | "dir">, z.output<typeof ConfigSchema>>>,
];
