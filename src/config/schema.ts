/**
 * The TOML config's shape, validated with zod. File-system checks (scripts exist, binds do not
 * clash) live in `load.ts` because they need more than the document.
 *
 * @module
 */
import { z } from "zod";

function seconds(min: number, max: number, fallback: number) {
  return z
    .number({ error: "must be a number of seconds" })
    .min(min, `must be from ${min} to ${max} seconds`)
    .max(max, `must be from ${min} to ${max} seconds`)
    .default(fallback);
}

/** A body size limit in bytes: 1 byte to 1 GiB, default 10 MiB. */
function maxBody() {
  return z
    .number({ error: "must be a number of bytes" })
    .int("must be a whole number of bytes")
    .min(1, "must be at least 1 byte")
    .max(1024 * 1024 * 1024, "must be at most 1 GiB")
    .default(10 * 1024 * 1024);
}

const requiredString = (what: string) =>
  z.string({
    error: (i) => (i.input === undefined ? `${what} is required` : `${what} must be a string`),
  });

/** One `[[hooks]]` entry. */
export const HookSchema = z.strictObject({
  name: requiredString("name").trim().min(1, "name must not be empty"),
  bind: requiredString("bind"),
  script: requiredString("script").min(1, "script must not be empty").optional(),
  plugin: requiredString("plugin").min(1, "plugin must not be empty").optional(),
  timeout: z
    .number({ error: "must be a whole number of seconds" })
    .int("must be a whole number of seconds")
    .min(1, "must be from 1 to 3600 seconds")
    .max(3600, "must be from 1 to 3600 seconds")
    .default(30),
  max_body: maxBody(),
  mode: z.enum(["sync", "async"], { error: 'must be "sync" or "async"' }).default("sync"),
  concurrency: z
    .number({ error: "must be a whole number" })
    .int("must be a whole number")
    .min(1, "must be from 1 to 1024")
    .max(1024, "must be from 1 to 1024")
    .optional(),
});

/** Scripts an async hook runs at once unless `concurrency` says otherwise: one, so outputs reach the inbox in the order requests arrived. */
export const DEFAULT_ASYNC_CONCURRENCY = 1;

/** The `[session]` table. */
export const SessionSchema = z.strictObject({
  handler: requiredString("handler").min(1, "handler must not be empty").optional(),
  handler_timeout: seconds(1, 86400, 300),
  max_attempts: z
    .number({ error: "must be a whole number" })
    .int("must be a whole number")
    .min(1, "must be from 1 to 1000")
    .max(1000, "must be from 1 to 1000")
    .default(5),
  retry_backoff: seconds(0.001, 3600, 1),
  shutdown_grace: seconds(0, 3600, 10),
});

/** The `[events]` table: limits of event hook runs. */
export const EventsSchema = z.strictObject({
  max_concurrent: z
    .number({ error: "must be a whole number" })
    .int("must be a whole number")
    .min(1, "must be from 1 to 1024")
    .max(1024, "must be from 1 to 1024")
    .default(8),
  queue_limit: z
    .number({ error: "must be a whole number" })
    .int("must be a whole number")
    .min(0, "must be from 0 to 10000000")
    .max(10_000_000, "must be from 0 to 10000000")
    .default(10_000),
});

const permission = z.union([z.boolean(), z.array(z.string())], {
  error: "must be true, false or a list of strings",
});

/** `[plugins.NAME]`: the operator's settings of one plugin. */
export const PluginSettingsSchema = z.strictObject({
  permissions: z.strictObject({
    net: permission.optional(),
    read: permission.optional(),
    write: permission.optional(),
    env: permission.optional(),
    run: permission.optional(),
    ffi: permission.optional(),
    sys: permission.optional(),
    import: permission.optional(),
  }).optional(),
  timeout: z
    .number({ error: "must be a number of seconds" })
    .min(0.001, "must be from 0.001 to 3600 seconds")
    .max(3600, "must be from 0.001 to 3600 seconds")
    .optional(),
});

/** `[server]`: where plugins are served. */
export const ServerSchema = z.strictObject({
  bind: requiredString("bind").default("127.0.0.1:9800"),
  max_body: maxBody(),
});

/** The whole config document. */
export const ConfigSchema = z.strictObject({
  server: ServerSchema.optional(),
  plugins: z.record(z.string(), PluginSettingsSchema).default({}),
  hooks: z.array(HookSchema, { error: "must be an array of tables ([[hooks]])" }).default([]),
  session: SessionSchema.default(SessionSchema.parse({})),
  events: EventsSchema.default(EventsSchema.parse({})),
});

/** A `[[hooks]]` entry after validation; `script` is absolute. */
export type HookConfig = z.infer<typeof HookSchema> & { line?: number };
/** `[session]` after validation; `handler` is absolute. */
export type SessionConfig = z.infer<typeof SessionSchema>;
/** `[events]` after validation. */
export type EventsConfig = z.infer<typeof EventsSchema>;
/** `[server]` after validation. */
export type ServerConfig = z.infer<typeof ServerSchema>;
/** `[plugins.NAME]` after validation. */
export type PluginSettingsConfig = z.infer<typeof PluginSettingsSchema>;
/** The validated config. */
export interface Config {
  /** `[server]`, when the file has one (plugins are served on its bind). */
  server?: ServerConfig;
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
