/**
 * The command-line interface: commands, flags and help. Each action imports its command module
 * only when it runs, so start-up stays small.
 *
 * @module
 */
import { Command, Option } from "commander";
import denoJson from "../../deno.json" with { type: "json" };

/** The version printed by `--version`. */
export const VERSION: string = denoJson.version;

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Adds the location flags (docs/config.md) every command accepts. */
function locations(cmd: Command): Command {
  return cmd
    .option("--config <file>", "TOML config (env HOOKHOST_CONFIG)")
    .option("--events <file>", "event hooks JSON (env HOOKHOST_EVENTS)")
    .option("--plugins <dir>", "plugins folder (env HOOKHOST_PLUGINS)")
    .option("--state <dir>", "state folder: KV, locks, sockets (env HOOKHOST_STATE)")
    .option("--kv <path-or-url>", "KV database path or URL (env HOOKHOST_KV)");
}

/** Merges the program-level location flags under a subcommand's own. */
function flags<T>(cmd: Command): T {
  return cmd.optsWithGlobals() as T;
}

/** Builds the `hookhost` program. Actions resolve when the command is done. */
export function program(): Command {
  const root = locations(new Command("hookhost"))
    .description("Webhooks, durable session inboxes, event hooks and plugins in one binary")
    .version(VERSION, "-V, --version")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void Deno.stdout.writeSync(new TextEncoder().encode(s)),
      writeErr: (s) => void Deno.stderr.writeSync(new TextEncoder().encode(s)),
      outputError: (s, write) => write(`hookhost: ${s.replace(/^error: /, "")}`),
    });

  locations(root.command("run"))
    .description("run a session: drain its inbox once, or stay alive with --daemon")
    .argument("[message]", "initial message (default: stdin when it is not a terminal)")
    .option("--name <name>", "session name (required with --daemon)")
    .option("--daemon", "stay alive until SIGINT/SIGTERM")
    .addOption(
      new Option("--format <format>", "output format").choices(["text", "jsonl"]).default("text"),
    )
    .option("--hook <name>", "serve this [[hooks]] entry (repeatable)", collect)
    .action(async (message, _o, cmd) => {
      const { run } = await import("./run.ts");
      await run(message, flags(cmd));
    });

  locations(root.command("send"))
    .description("put a message into a session's inbox")
    .argument("[message]", "message (default: stdin)")
    .requiredOption("--name <name>", "session name")
    .addOption(
      new Option("--source <source>", "inbox source")
        .choices(["schedule", "background", "skill", "inject", "webhook"]).default("inject"),
    )
    .option("--label <label>", "source label shown in output (default: the source)")
    .action(async (message, _o, cmd) => {
      const { send } = await import("./send.ts");
      await send(message, flags(cmd));
    });

  const schedule = root.command("schedule").description("durable scheduled messages");
  locations(schedule.command("add"))
    .description("schedule a message (exactly one of --in, --at, --every, --cron)")
    .argument("[message]", "message (default: stdin)")
    .requiredOption("--name <name>", "session name")
    .option("--in <duration>", "once, after a duration: 30s, 5m, 1h30m, 2d")
    .option("--at <time>", 'once, at a local time: "2026-12-01 09:00" (or ISO 8601)')
    .option("--every <duration>", "repeatedly, every duration")
    .option("--cron <expr>", 'repeatedly, on a cron expression: "*/5 * * * *"')
    .action(async (message, _o, cmd) => {
      const { scheduleAdd } = await import("./schedule.ts");
      await scheduleAdd(message, flags(cmd));
    });
  locations(schedule.command("ls"))
    .description("list schedules, soonest first")
    .option("--name <name>", "only this session's")
    .option("--json", "one JSON object per line")
    .action(async (_o, cmd) => {
      const { scheduleLs } = await import("./schedule.ts");
      await scheduleLs(flags(cmd));
    });
  locations(schedule.command("rm"))
    .description("remove a schedule")
    .argument("<id>", "schedule id")
    .action(async (id, _o, cmd) => {
      const { scheduleRm } = await import("./schedule.ts");
      await scheduleRm(id, flags(cmd));
    });

  locations(root.command("sessions"))
    .description("list known sessions: running or not, pid, pending messages per source")
    .option("--json", "one JSON object per line")
    .action(async (_o, cmd) => {
      const { sessions } = await import("./sessions.ts");
      await sessions(flags(cmd));
    });

  const inbox = root.command("inbox").description("inspect a session's inbox and dead letters");
  locations(inbox.command("ls"))
    .description("pending messages in drain order")
    .requiredOption("--name <name>", "session name")
    .option("--json", "one JSON object per line")
    .action(async (_o, cmd) => {
      const { inboxLs } = await import("./inbox.ts");
      await inboxLs(flags(cmd));
    });
  locations(inbox.command("dead"))
    .description("messages whose handler failed max_attempts times")
    .requiredOption("--name <name>", "session name")
    .option("--json", "one JSON object per line")
    .action(async (_o, cmd) => {
      const { inboxDead } = await import("./inbox.ts");
      await inboxDead(flags(cmd));
    });
  locations(inbox.command("replay"))
    .description("move dead letters back into the inbox (all, or the ids given)")
    .argument("[ids...]", "dead letter ids")
    .requiredOption("--name <name>", "session name")
    .action(async (ids, _o, cmd) => {
      const { inboxReplay } = await import("./inbox.ts");
      await inboxReplay(ids, flags(cmd));
    });

  locations(root.command("emit"))
    .description("fire an event at the event hooks; waits for them (exit 1 if any failed)")
    .argument("<event>", "event name")
    .option("--params <json>", "event params, a JSON object", undefined)
    .action(async (event, _o, cmd) => {
      const { emit } = await import("./events.ts");
      await emit(event, flags(cmd));
    });

  const hooks = root.command("hooks").description("event hooks (hooks.json)");
  locations(hooks.command("test"))
    .description("run the hooks matching EVENT once and report what each did")
    .argument("<event>", "event name")
    .option("--params <json>", "event params, a JSON object (default: a sample)")
    .action(async (event, _o, cmd) => {
      const { hooksTest } = await import("./events.ts");
      await hooksTest(event, flags(cmd));
    });

  const plugins = root.command("plugins").description("TS/JS and script plugins");
  locations(plugins.command("ls"))
    .description("name, file, kind, effective permissions, state and last error of each plugin")
    .option("--name <name>", "ask this running session for its live plugin state")
    .option("--json", "one JSON object per line")
    .action(async (_o, cmd) => {
      const { pluginsLs } = await import("./plugins.ts");
      await pluginsLs(flags(cmd));
    });
  locations(plugins.command("types"))
    .description("print the plugin API types (save as hookhost_plugin.ts and import them)")
    .action(async () => {
      const { pluginsTypes } = await import("./plugins.ts");
      await pluginsTypes();
    });

  const config = root.command("config").description("configuration");
  locations(config.command("check"))
    .description("validate the config; print every problem (exit 2 if any)")
    .action(async (_o, cmd) => {
      const { configCheck } = await import("./config_check.ts");
      await configCheck(flags(cmd));
    });

  // Subcommands inherit the error handling and output settings of the root.
  for (const cmd of [schedule, inbox, hooks, plugins, config]) {
    cmd.exitOverride().configureOutput(root.configureOutput());
  }
  return root;
}
