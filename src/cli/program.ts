/**
 * The command-line interface: commands, flags and help, as data for the parser (`argv.ts`).
 * Each action imports its command module only when it runs, so start-up stays small.
 *
 * @module
 */
import denoJson from "../../deno.json" with { type: "json" };
import type { CommandSpec, OptionSpec } from "./command_spec.ts";

/** The version printed by `--version`. */
export const VERSION: string = denoJson.version;

/**
 * What `--version` prints: hookhost's version, then the Deno, V8 and TypeScript it runs on (as
 * `deno --version` gives them), which is what a bug report needs of a compiled binary.
 */
export const VERSION_TEXT: string = [
  `hookhost ${VERSION}`,
  `deno ${Deno.version.deno}`,
  `v8 ${Deno.version.v8}`,
  `typescript ${Deno.version.typescript}`,
].join("\n");

/** The location flags (docs/config.md) every command accepts. */
const LOCATIONS: OptionSpec[] = [
  { flags: "--config <file>", description: "TOML config (env HOOKHOST_CONFIG)" },
  { flags: "--events <file>", description: "event hooks JSON (env HOOKHOST_EVENTS)" },
  { flags: "--plugins <dir>", description: "plugins folder (env HOOKHOST_PLUGINS)" },
  { flags: "--state <dir>", description: "state folder: KV, locks, sockets (env HOOKHOST_STATE)" },
  { flags: "--kv <path-or-url>", description: "KV database path or URL (env HOOKHOST_KV)" },
];

const NAME: OptionSpec = { flags: "--name <name>", description: "session name", mandatory: true };
const JSON_LINES: OptionSpec = { flags: "--json", description: "one JSON object per line" };
const MESSAGE = { usage: "[message]", description: "message (default: stdin)" };
const EVENT = { usage: "<event>", description: "event name" };

// The parser hands each action the values its spec declares: strings, `true` for a flag without
// a value, lists for `repeatable` and variadic ones. The command modules type their own flags.
// deno-lint-ignore no-explicit-any
type Flags = any;
const arg = (v: unknown) => v as string;
const optional = (v: unknown) => v as string | undefined;

/** A command with the location flags before its own options. */
function command(spec: CommandSpec & Required<Pick<CommandSpec, "action">>): CommandSpec {
  return { ...spec, options: [...LOCATIONS, ...spec.options ?? []] };
}

const run = command({
  name: "run",
  description: "run a session: drain its inbox once, or stay alive with --daemon",
  args: [{
    usage: "[message]",
    description: "initial message (default: stdin when it is not a terminal)",
  }],
  options: [
    { flags: "--name <name>", description: "session name (required with --daemon)" },
    { flags: "--daemon", description: "stay alive until SIGINT/SIGTERM" },
    {
      flags: "--format <format>",
      description: "output format",
      choices: ["text", "jsonl"],
      default: "text",
    },
    {
      flags: "--hook <name>",
      description: "serve this [[hooks]] entry (repeatable)",
      repeatable: true,
    },
  ],
  action: async ([message], flags: Flags) =>
    (await import("./run.ts")).run(optional(message), flags),
});

const send = command({
  name: "send",
  description: "put a message into a session's inbox",
  args: [MESSAGE],
  options: [
    NAME,
    {
      flags: "--source <source>",
      description: "inbox source",
      choices: ["schedule", "background", "skill", "inject", "webhook"],
      default: "inject",
    },
    { flags: "--label <label>", description: "source label shown in output (default: the source)" },
  ],
  action: async ([message], flags: Flags) =>
    (await import("./send.ts")).send(optional(message), flags),
});

const schedule: CommandSpec = {
  name: "schedule",
  description: "durable scheduled messages",
  commands: [
    command({
      name: "add",
      description: "schedule a message (exactly one of --in, --at, --every, --cron)",
      args: [MESSAGE],
      options: [
        NAME,
        { flags: "--in <duration>", description: "once, after a duration: 30s, 5m, 1h30m, 2d" },
        {
          flags: "--at <time>",
          description: 'once, at a local time: "2026-12-01 09:00" (or ISO 8601)',
        },
        { flags: "--every <duration>", description: "repeatedly, every duration" },
        { flags: "--cron <expr>", description: 'repeatedly, on a cron expression: "*/5 * * * *"' },
      ],
      action: async ([message], flags: Flags) =>
        (await import("./schedule.ts")).scheduleAdd(optional(message), flags),
    }),
    command({
      name: "ls",
      description: "list schedules, soonest first",
      options: [{ flags: "--name <name>", description: "only this session's" }, JSON_LINES],
      action: async (_, flags: Flags) => (await import("./schedule.ts")).scheduleLs(flags),
    }),
    command({
      name: "rm",
      description: "remove a schedule",
      args: [{ usage: "<id>", description: "schedule id" }],
      action: async ([id], flags: Flags) =>
        (await import("./schedule.ts")).scheduleRm(arg(id), flags),
    }),
  ],
};

const sessions = command({
  name: "sessions",
  description: "list known sessions: running or not, pid, pending messages per source",
  options: [JSON_LINES],
  action: async (_, flags: Flags) => (await import("./sessions.ts")).sessions(flags),
});

const inbox: CommandSpec = {
  name: "inbox",
  description: "inspect a session's inbox and dead letters",
  commands: [
    command({
      name: "ls",
      description: "pending messages in drain order",
      options: [NAME, JSON_LINES],
      action: async (_, flags: Flags) => (await import("./inbox.ts")).inboxLs(flags),
    }),
    command({
      name: "dead",
      description: "messages whose handler failed max_attempts times",
      options: [NAME, JSON_LINES],
      action: async (_, flags: Flags) => (await import("./inbox.ts")).inboxDead(flags),
    }),
    command({
      name: "replay",
      description: "move dead letters back into the inbox (all, or the ids given)",
      args: [{ usage: "[ids...]", description: "dead letter ids" }],
      options: [NAME],
      action: async ([ids], flags: Flags) =>
        (await import("./inbox.ts")).inboxReplay(ids as string[], flags),
    }),
  ],
};

const HOOK_FILTER = { flags: "--hook <hook>", description: "only this hook's" };

const jobs: CommandSpec = {
  name: "jobs",
  description: "inspect async hooks' jobs and dead jobs",
  commands: [
    command({
      name: "ls",
      description: "jobs not done: queued, or waiting to run again after failed runs",
      options: [NAME, HOOK_FILTER, JSON_LINES],
      action: async (_, flags: Flags) => (await import("./jobs.ts")).jobsLs(flags),
    }),
    command({
      name: "dead",
      description: "jobs whose script failed max_attempts times",
      options: [NAME, HOOK_FILTER, JSON_LINES],
      action: async (_, flags: Flags) => (await import("./jobs.ts")).jobsDead(flags),
    }),
    command({
      name: "replay",
      description: "run dead jobs again with fresh attempts (all, or the ids given)",
      args: [{ usage: "[ids...]", description: "dead job ids" }],
      options: [NAME],
      action: async ([ids], flags: Flags) =>
        (await import("./jobs.ts")).jobsReplay(ids as string[], flags),
    }),
  ],
};

const emit = command({
  name: "emit",
  description:
    "fire an event at the event hooks and running daemons' plugins; waits (exit 1 if a hook failed)",
  args: [EVENT],
  options: [
    { flags: "--params <json>", description: "event params, a JSON object" },
    {
      flags: "--name <name>",
      description: "hand it to this session's daemon's plugins (default: every running one)",
    },
  ],
  action: async ([event], flags: Flags) => (await import("./events.ts")).emit(arg(event), flags),
});

const hooks: CommandSpec = {
  name: "hooks",
  description: "event hooks (hooks.json)",
  commands: [
    command({
      name: "test",
      description: "run the hooks matching EVENT once and report what each did",
      args: [EVENT],
      options: [{
        flags: "--params <json>",
        description: "event params, a JSON object (default: a sample)",
      }],
      action: async ([event], flags: Flags) =>
        (await import("./events.ts")).hooksTest(arg(event), flags),
    }),
  ],
};

const plugins: CommandSpec = {
  name: "plugins",
  description: "TS/JS and script plugins",
  commands: [
    command({
      name: "ls",
      description:
        "name, kind, permissions declared, granted and missing, RSS, state and last error of each plugin",
      options: [
        {
          flags: "--name <name>",
          description: "ask this running session for its live plugin state",
        },
        JSON_LINES,
      ],
      action: async (_, flags: Flags) => (await import("./plugins.ts")).pluginsLs(flags),
    }),
    command({
      name: "install",
      description:
        "fill Deno's cache with what each module plugin imports (npm:, URLs), so it loads offline",
      action: async (_, flags: Flags) => (await import("./plugins.ts")).pluginsInstall(flags),
    }),
    command({
      name: "types",
      description: "print the plugin API types (save as hookhost_plugin.ts and import them)",
      action: async () => (await import("./plugins.ts")).pluginsTypes(),
    }),
  ],
};

const config: CommandSpec = {
  name: "config",
  description: "configuration",
  commands: [
    command({
      name: "check",
      description: "validate the config; print every problem (exit 2 if any)",
      action: async (_, flags: Flags) => (await import("./config_check.ts")).configCheck(flags),
    }),
  ],
};

const init: CommandSpec = {
  name: "init",
  description:
    "start a project: a commented hookhost.toml, a script hook, a module plugin, a hooks.json",
  args: [{ usage: "[dir]", description: "folder to write into (default: the current one)" }],
  action: async ([dir]) => (await import("./init.ts")).init(optional(dir)),
};

const completions: CommandSpec = {
  name: "completions",
  description: "print a shell completion script (bash, zsh or fish)",
  args: [{ usage: "<shell>", description: "bash, zsh or fish", choices: ["bash", "zsh", "fish"] }],
  action: async ([shell]) => (await import("./completions.ts")).completions(arg(shell)),
};

/** The `hookhost` program: its root command, with every command below it. */
export const PROGRAM: CommandSpec = {
  name: "hookhost",
  description: "Webhooks, durable session inboxes, event hooks and plugins in one binary",
  options: [
    ...LOCATIONS,
    {
      flags: "-V, --version",
      description: "output the versions of hookhost, Deno and V8",
      prints: VERSION_TEXT,
    },
  ],
  commands: [
    run,
    send,
    schedule,
    sessions,
    inbox,
    jobs,
    emit,
    hooks,
    plugins,
    config,
    init,
    completions,
  ],
};
