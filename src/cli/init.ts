/**
 * `hookhost init [DIR]`: a new project to start from: a commented `hookhost.toml`, one script
 * hook, one module plugin and a `hooks.json`, so that `hookhost run --name demo --daemon` runs
 * right away. It writes only files that do not exist yet, and nothing when one of them does.
 *
 * @module
 */
import { HookhostError } from "../errors.ts";

const TOML = `# hookhost's configuration (docs/config.md). Start the daemon from this folder:
#
#   hookhost run --name demo --daemon --hook hello
#
# then, from another terminal:
#
#   curl -d 'hi there' http://127.0.0.1:9000/          # the script hook below
#   curl -d 'hi there' http://127.0.0.1:9100/hooks/greet  # the module plugin plugins/greet.ts
#   hookhost send --name demo "hi from the shell"      # straight into the inbox
#
# Every message is printed on stdout (add --format jsonl for JSON lines), in priority order.

# A webhook served by a script: the body on stdin, HOOK_* variables describe the request, and
# what the script prints becomes a message in the session's inbox (docs/webhook-scripts.md).
# A daemon serves the hooks named with --hook.
[[hooks]]
name = "hello"
bind = "127.0.0.1:9000"   # host:port; 0.0.0.0 to accept other machines
script = "./scripts/hello.sh"
timeout = 30              # seconds; past it the script is killed and 504 answered
# verify = "github"       # check the sender's signature (docs/security.md), with
# secret_env = "GITHUB_WEBHOOK_SECRET"
# mode = "async"          # answer 202 at once and run the script in the background

# The plugins in ./plugins are served here at /hooks/<name> (docs/plugins.md).
[server]
bind = "127.0.0.1:9100"

# What a plugin may do is granted here, by its file name; nothing by default.
# [plugins.greet]
# permissions = { net = ["api.example.com"] }

# The live status page, /metrics and /healthz (docs/operations.md#admin-listener).
[admin]
bind = "127.0.0.1:9180"

# Optional: a handler that gets every message on stdin, retried on failure (docs/config.md).
# [session]
# handler = "./handler.sh"
# max_attempts = 5
`;

const HELLO = `#!/bin/sh
# A webhook script (docs/webhook-scripts.md): the request body on stdin, HOOK_METHOD, HOOK_PATH,
# HOOK_REQUEST_ID, HOOK_HEADER_<NAME>… in the environment. Exit 0 with output: the output is a
# message and the sender gets 200; no output: 204; any other exit: 500.
body=$(head -c 1000)
printf 'hello hook: %s %s: %s\\n' "$HOOK_METHOD" "$HOOK_PATH" "\${body:-(no body)}"
`;

const GREET = `/**
 * A module plugin (docs/plugins.md), served at /hooks/greet by [server]. It runs in a process of
 * its own with only the permissions [plugins.greet] grants (none here). A string returned from
 * webhook() becomes a message in the inbox; a Response is answered as it is.
 */
export default {
  async webhook(request: Request): Promise<string | Response> {
    const text = (await request.text()).trim();
    if (!text) return new Response("Send some text\\n", { status: 400 });
    return \`greet plugin: \${text}\`;
  },
};
`;

const HOOKS_JSON = `{
  "hooks": {
    "message_received": [
      {
        "matcher": "",
        "hooks": [
          { "type": "command", "command": "echo \\"event: a message arrived\\" >&2", "timeout": 5000 }
        ]
      }
    ]
  }
}
`;

/** The files `init` writes, relative to its folder, with their mode. */
export const INIT_FILES: readonly { path: string; text: string; mode: number }[] = [
  { path: "hookhost.toml", text: TOML, mode: 0o644 },
  { path: "scripts/hello.sh", text: HELLO, mode: 0o755 },
  { path: "plugins/greet.ts", text: GREET, mode: 0o644 },
  { path: "hooks.json", text: HOOKS_JSON, mode: 0o644 },
];

/** Runs `hookhost init [DIR]` (default the current folder); prints what it wrote and what next. */
export async function init(dir: string | undefined): Promise<void> {
  const root = dir ?? ".";
  const exists = async (p: string) => await Deno.lstat(p).then(() => true, () => false);
  const taken: string[] = [];
  for (const f of INIT_FILES) if (await exists(`${root}/${f.path}`)) taken.push(f.path);
  if (taken.length) {
    throw new HookhostError(
      "init_exists",
      `'${root}/${taken[0]}' exists; init writes only new files and wrote none`,
    );
  }
  for (const f of INIT_FILES) {
    const path = `${root}/${f.path}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    // createNew: a file that appeared since the check is not overwritten either.
    await Deno.writeTextFile(path, f.text, { createNew: true, mode: f.mode });
    // The mode given to open() is narrowed by the umask: the script must be executable.
    await Deno.chmod(path, f.mode);
  }
  const cd = root === "." ? "" : `  cd ${root}\n`;
  console.log(
    `Wrote ${INIT_FILES.map((f) => f.path).join(", ")}${root === "." ? "" : ` in ${root}`}.\n` +
      `Next:\n${cd}  hookhost run --name demo --daemon --hook hello\n` +
      `  curl -d 'hi there' http://127.0.0.1:9000/\n` +
      `  curl -d 'hi there' http://127.0.0.1:9100/hooks/greet\n`,
  );
}
