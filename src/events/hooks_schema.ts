/**
 * The shape of `hooks.json` (EnConvo's event hooks format), validated with zod like the TOML
 * config. Unknown fields are ignored: the format is EnConvo's and may grow. Positions and paths
 * of problems are added by `hooks_file.ts`, which knows the text.
 *
 * @module
 */
import { secretBytes } from "../auth/schemes.ts";
import * as z from "zod/mini";

/** Longest hook timeout (ms) a timer can honour. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Default hook timeout (ms), as in EnConvo. */
export const DEFAULT_HOOK_TIMEOUT_MS = 30_000;

const timeoutMessage = (input: unknown) =>
  `Timeout must be a positive number of milliseconds up to ${MAX_TIMEOUT_MS}, got '${
    String(input)
  }'`;

// Timers cannot wait longer than 2^31-1 ms (about 24.8 days); 1e400 is valid JSON for Infinity.
const timeout = z._default(
  z.number({ error: (i) => timeoutMessage(i.input) }).check(
    z.refine((ms) => ms > 0 && ms <= MAX_TIMEOUT_MS, { error: (i) => timeoutMessage(i.input) }),
  ),
  DEFAULT_HOOK_TIMEOUT_MS,
);

const methodMessage = (input: unknown) => `Invalid method '${String(input)}'`;

const COMMAND_NEEDED = "Command hook needs a non-empty 'command'";

/** A `{"type": "command"}` hook. */
const CommandHookSchema = z.object({
  type: z.literal("command"),
  command: z.string({ error: COMMAND_NEEDED }).check(
    z.refine((s) => s.trim() !== "", COMMAND_NEEDED),
  ),
  timeout,
});

const URL_NEEDED = "Http hook needs a 'url'";

/** A `{"type": "http"}` hook. */
const HttpHookSchema = z.object({
  type: z.literal("http"),
  url: z.string({ error: URL_NEEDED }).check(
    z.minLength(1, URL_NEEDED),
    z.refine((url) => /^https?:\/\//i.test(url) && URL.canParse(url), {
      error: (i) => `Invalid http(s) URL '${String(i.input)}'`,
    }),
  ),
  method: z.pipe(
    z._default(
      z.string({ error: (i) => methodMessage(i.input) }).check(
        z.regex(/^[A-Za-z]+$/, { error: (i) => methodMessage(i.input) }),
      ),
      "POST",
    ),
    z.transform((m) => m.toUpperCase()),
  ),
  headers: z._default(
    z.record(z.string(), z.string({ error: "Header value must be a string" }), {
      error: "Headers must be an object",
    }),
    {},
  ),
  // Signs the request with Standard Webhooks headers; the variable must hold a `whsec_` secret.
  secret_env: z.optional(
    z.string({ error: "secret_env must be a variable name" }).check(
      z.refine(
        (name) => typeof secretBytes("standard-webhooks", Deno.env.get(name) ?? "") !== "string",
        {
          error: (i) => {
            const value = Deno.env.get(String(i.input));
            return value === undefined
              ? `Environment variable '${String(i.input)}' is not set`
              : `Secret in '${String(i.input)}' ${secretBytes("standard-webhooks", value)}`;
          },
        },
      ),
    ),
  ),
  timeout,
});

/** One hook, by its `type`. */
const EventHookSchema = z.discriminatedUnion("type", [CommandHookSchema, HttpHookSchema], {
  error: (issue) => {
    if (issue.code !== "invalid_union") return "Expected a hook object";
    const type = (issue.input as { type?: unknown } | undefined)?.type;
    return type === undefined
      ? 'Missing hook \'type\' ("command" or "http")'
      : `Unknown hook type '${String(type)}' (use "command" or "http")`;
  },
});

/** A matcher: a regular expression tested against the event's key; empty or null matches all. */
const matcher = z.pipe(
  z.optional(z.nullable(z.string({ error: "Matcher must be a string" }))),
  z.transform((source, ctx): RegExp | null => {
    if (!source) return null;
    try {
      return new RegExp(source);
    } catch (e) {
      ctx.issues.push({
        code: "custom",
        input: source,
        message: `Invalid regex '${source}': ${(e as Error).message}`,
      });
      return null;
    }
  }),
);

/** One `{matcher, enabled?, hooks}` entry of an event; `enabled: false` keeps it but skips it. */
const HookGroupSchema = z.object({
  matcher,
  enabled: z._default(z.boolean({ error: "Enabled must be true or false" }), true),
  hooks: z.array(EventHookSchema, {
    error: (i) => (i.input === undefined ? "Missing 'hooks'" : "Expected an array"),
  }),
}, { error: "Expected an object with 'hooks'" });

/** Event name → its hook groups: the legacy file, or the `hooks` object of the current one. */
export const HooksFileSchema = z.record(
  z.string(),
  z.array(HookGroupSchema, { error: "Expected an array of {matcher, hooks} entries" }),
  { error: "Expected an object of event names to hook lists" },
);

/**
 * Where the events are in a parsed file: EnConvo's current shape wraps them,
 * `{"hooks": {"EVENT": […]}}` (as Codex and Claude Code do); the legacy shape is them,
 * `{"EVENT": […]}`. A top-level `hooks` holding an object, not a list, is the wrapper: in the
 * legacy shape an event's value is always a list.
 */
export function eventsOf(value: unknown): { events: unknown; prefix: string[] } {
  const hooks = (value as { hooks?: unknown } | null)?.hooks;
  const wrapped = typeof value === "object" && value !== null && !Array.isArray(value) &&
    typeof hooks === "object" && hooks !== null && !Array.isArray(hooks);
  return wrapped ? { events: hooks, prefix: ["hooks"] } : { events: value, prefix: [] };
}
