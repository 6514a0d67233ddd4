/**
 * Help text, laid out as Commander 14 laid it out (recorded from the CLI before the parser
 * replaced it): terms padded to the widest, descriptions wrapped at the width given.
 */
import assert from "node:assert/strict";
import { formatHelp, suggestSimilar } from "./help.ts";
import { PROGRAM } from "./program.ts";

const ROOT_HELP = `Usage: hookhost [options] [command]

Webhooks, durable session inboxes, event hooks and plugins in one binary

Options:
  --config <file>           TOML config (env HOOKHOST_CONFIG)
  --events <file>           event hooks JSON (env HOOKHOST_EVENTS)
  --plugins <dir>           plugins folder (env HOOKHOST_PLUGINS)
  --state <dir>             state folder: KV, locks, sockets (env
                            HOOKHOST_STATE)
  --kv <path-or-url>        KV database path or URL (env HOOKHOST_KV)
  -V, --version             output the versions of hookhost, Deno and V8
  -h, --help                display help for command

Commands:
  run [options] [message]   run a session: drain its inbox once, or stay alive
                            with --daemon
  send [options] [message]  put a message into a session's inbox
  schedule                  durable scheduled messages
  sessions [options]        list known sessions: running or not, pid, pending
                            messages per source
  inbox                     inspect a session's inbox and dead letters
  jobs                      inspect async hooks' jobs and dead jobs
  emit [options] <event>    fire an event at the event hooks and running
                            daemons' plugins; waits (exit 1 if a hook failed)
  hooks                     event hooks (hooks.json)
  plugins                   TS/JS and script plugins
  config                    configuration
  init [dir]                start a project: a commented hookhost.toml, a script
                            hook, a module plugin, a hooks.json
  completions <shell>       print a shell completion script (bash, zsh or fish)
  help [command]            display help for command
`;

const SEND_HELP = `Usage: hookhost send [options] [message]

put a message into a session's inbox

Arguments:
  message             message (default: stdin)

Options:
  --config <file>     TOML config (env HOOKHOST_CONFIG)
  --events <file>     event hooks JSON (env HOOKHOST_EVENTS)
  --plugins <dir>     plugins folder (env HOOKHOST_PLUGINS)
  --state <dir>       state folder: KV, locks, sockets (env HOOKHOST_STATE)
  --kv <path-or-url>  KV database path or URL (env HOOKHOST_KV)
  --name <name>       session name
  --source <source>   inbox source (choices: "schedule", "background", "skill",
                      "inject", "webhook", default: "inject")
  --label <label>     source label shown in output (default: the source)
  -h, --help          display help for command
`;

const PLUGINS_HELP = `Usage: hookhost plugins [options] [command]

TS/JS and script plugins

Options:
  -h, --help         display help for command

Commands:
  ls [options]       name, kind, permissions declared, granted and missing, RSS,
                     state and last error of each plugin
  install [options]  fill Deno's cache with what each module plugin imports
                     (npm:, URLs), so it loads offline
  types [options]    print the plugin API types (save as hookhost_plugin.ts and
                     import them)
  help [command]     display help for command
`;

const sub = (...names: string[]) => {
  const path = [PROGRAM];
  for (const n of names) path.push(path.at(-1)!.commands!.find((c) => c.name === n)!);
  return path;
};

Deno.test("formatHelp() lays out the root, a command and a group as Commander did, at 80 columns", () => {
  assert.equal(formatHelp(sub(), 80), ROOT_HELP);
  assert.equal(formatHelp(sub("send"), 80), SEND_HELP);
  assert.equal(formatHelp(sub("plugins"), 80), PLUGINS_HELP);
});

Deno.test("formatHelp() wraps to a wider terminal, and not at all when too narrow to", () => {
  const wide = formatHelp(sub("send"), 120);
  assert.ok(wide.includes(`"skill", "inject", "webhook", default: "inject")\n`), wide);
  const narrow = formatHelp(sub("send"), 50);
  assert.ok(narrow.includes('inbox source (choices: "schedule", "background", "skill", "inject"'));
});

Deno.test("suggestSimilar() proposes the closest names, options compared without their dashes", () => {
  assert.equal(suggestSimilar("rnu", ["run", "send", "help"]), "\n(Did you mean run?)");
  assert.equal(suggestSimilar("--nmae", ["--name", "--help"]), "\n(Did you mean --name?)");
  assert.equal(suggestSimilar("ls", ["ls", "rm"]), "\n(Did you mean ls?)");
  assert.equal(suggestSimilar("frobnicate", ["run", "send"]), "");
  assert.equal(suggestSimilar("tes", ["test", "tess"]), "\n(Did you mean one of tess, test?)");
});
