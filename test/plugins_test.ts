/**
 * End-to-end tests of plugins (docs/plugins.md, with `plugins ls`/`plugins types`): a real
 * `hookhost run --daemon` subprocess with a plugins folder, real HTTP to the address of its
 * `server` listening record, real Workers, real shell scripts and real HTTP receivers here.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type Answer,
  cli,
  config,
  envFor,
  Proc,
  type Rec,
  receiver,
  request,
  script,
  tempDir,
} from "./_helpers.ts";
import { scaled, until, WAIT_MS } from "./_poll.ts";
import { InSession } from "./_session.ts";

// ---------------------------------------------------------------------------------------------
// Helpers

// deno-lint-ignore no-explicit-any
type Json = any;

/** Absolute path of the plugin API types (test plugins that import types use this). */
const TYPES = new URL("../src/plugins/types.ts", import.meta.url).pathname;
/** The shipped example plugins. */
const SHIPPED = new URL("../plugins/", import.meta.url).pathname;

interface Setup {
  /** Module plugins: file name (e.g. `a.ts`, `fold/mod.ts`) → source; `$DIR` = the temp folder. */
  plugins?: Record<string, string>;
  /** Script plugins in the plugins folder: file name → shell body; `$DIR` = the temp folder. */
  scripts?: Record<string, string>;
  /** Extra lines of the `[server]` table. */
  server?: string;
  /** TOML after the `[server]` table. */
  toml?: string;
  /** Extra files: path relative to the temp folder → text; `$DIR` = the temp folder. */
  files?: Record<string, string>;
  /** Executable shell scripts in the temp folder (e.g. a session handler): name → body. */
  bin?: Record<string, string>;
  /** Runs after the files are written, before the daemon starts. */
  prepare?: (dir: string, plugins: string) => Promise<void>;
}

/** What a test body gets. */
interface Ctx {
  /** The temp folder (config, state, scripts). */
  dir: string;
  /** The plugins folder. */
  plugins: string;
  /** Session name. */
  session: string;
  /** The daemon: in-process, or with `process` (or `env`) a `hookhost run` subprocess. */
  d: Proc | InSession;
  /** Environment of the daemon (for more CLI calls on the same state). */
  env: Record<string, string>;
  /** `http://host:port` of the plugin server. */
  base: string;
}

/** Writes the config (`[server] bind = "127.0.0.1:0"` plus `toml`), plugins and files. */
async function writeSetup(dir: string, setup: Setup): Promise<string> {
  const plugins = join(dir, "plugins");
  await Deno.mkdir(plugins, { recursive: true });
  const server = `[server]\nbind = "127.0.0.1:0"\n${setup.server ?? ""}\n`;
  await config(dir, `${server}\n${(setup.toml ?? "").replaceAll("$DIR", dir)}\n`);
  for (const [name, source] of Object.entries(setup.plugins ?? {})) {
    const path = join(plugins, name);
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await Deno.writeTextFile(path, source.replaceAll("$DIR", dir));
  }
  for (const [name, body] of Object.entries(setup.scripts ?? {})) {
    await script(plugins, name, body.replaceAll("$DIR", dir));
  }
  for (const [name, text] of Object.entries(setup.files ?? {})) {
    await Deno.mkdir(join(dir, name, ".."), { recursive: true });
    await Deno.writeTextFile(join(dir, name), text.replaceAll("$DIR", dir));
  }
  for (const [name, body] of Object.entries(setup.bin ?? {})) {
    await script(dir, name, body.replaceAll("$DIR", dir));
  }
  await setup.prepare?.(dir, plugins);
  return plugins;
}

/** Starts `run --name SESSION --daemon --format jsonl --plugins DIR/plugins [--hook H]…`. */
async function startDaemon(
  dir: string,
  session: string,
  env: Record<string, string>,
  hooks: string[] = [],
): Promise<{ d: Proc; base: string }> {
  const args = ["run", "--name", session, "--daemon", "--format", "jsonl"];
  for (const hook of hooks) args.push("--hook", hook);
  const d = Proc.start([...args, "--plugins", join(dir, "plugins")], { env });
  try {
    return { d, base: `http://${await d.addr("server")}` };
  } catch (e) {
    await d.stop();
    throw e;
  }
}

/** Stops a daemon with SIGTERM and asserts it exited 0. */
async function stopDaemon(d: Proc): Promise<void> {
  const code = await d.stop();
  assert.equal(code, 0, `daemon exit code; stderr:\n${d.stderr}`);
}

/**
 * Writes `setup` into a temp folder, starts a daemon on it, runs `body`, then stops the daemon
 * (asserting exit 0) and removes the folder.
 */
async function withDaemon(
  setup: Setup & {
    session?: string;
    env?: Record<string, string>;
    hooks?: string[];
    /** Run `hookhost run --daemon` as a subprocess (signals, exit codes, the CLI's control socket). */
    process?: boolean;
  },
  body: (ctx: Ctx) => Promise<void>,
): Promise<void> {
  const tmp = await tempDir();
  let d: Proc | InSession | undefined;
  let code: number | undefined;
  try {
    const plugins = await writeSetup(tmp.path, setup);
    const session = setup.session ?? "pl";
    const env = envFor(tmp.path, setup.env);
    if (setup.process || setup.env) {
      const started = await startDaemon(tmp.path, session, env, setup.hooks);
      d = started.d;
      await body({ dir: tmp.path, plugins, session, d, env, base: started.base });
    } else {
      d = await InSession.open({
        dir: tmp.path,
        name: session,
        hooks: setup.hooks,
        pluginsDir: plugins,
        eventsFile: join(tmp.path, "hooks.json"),
      });
      const base = `http://${await d.addr("server")}`;
      await body({ dir: tmp.path, plugins, session, d, env, base });
    }
  } finally {
    if (d instanceof Proc) code = await d.stop();
    else if (d) code = await d.stop().then(() => 0);
    await tmp.cleanup();
  }
  assert.equal(code, 0, `daemon exit code; stderr:\n${d?.stderr}`);
}

async function answerUntil(
  url: string,
  ok: (a: Answer) => boolean,
  ms = WAIT_MS,
  init: RequestInit = {},
): Promise<Answer> {
  let last: Answer | undefined;
  await until(
    async () => {
      last = await request(url, init);
      return ok(last);
    },
    () => `${url} last answered ${last?.status} ${JSON.stringify(last?.text)}`,
    ms,
  );
  return last!;
}

/** Waits until the daemon's stderr contains `text`. */
async function logged(d: Proc | InSession, text: string, ms = WAIT_MS): Promise<void> {
  await until(() => d.stderr.includes(text), () => `stderr to contain ${text}:\n${d.stderr}`, ms);
}

/** `GET /healthz`, asserted to be 200 JSON. */
async function healthz(ctx: Ctx): Promise<Json> {
  const res = await request(`${ctx.base}/healthz`);
  assert.equal(res.status, 200, res.text);
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  return JSON.parse(res.text);
}

/** `hookhost plugins ls --json` rows (`--name` when given), asserting exit 0. */
async function pluginsLs(ctx: Ctx, name?: string): Promise<Json[]> {
  const args = ["plugins", "ls", "--json", "--plugins", ctx.plugins];
  if (name) args.push("--name", name);
  const res = await cli(args, { env: ctx.env });
  assert.equal(res.code, 0, res.stderr);
  return res.stdout.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

const isInjected = (r: Rec) => r.type === "injected";

/** A module plugin answering `text` with a Response. */
const answering = (text: string) =>
  `export default { webhook() { return new Response(${JSON.stringify(text)}); } };\n`;

// ---------------------------------------------------------------------------------------------
// Permissions

/** A module plugin doing one thing that needs permission `kind`, declaring `permissions`. */
function needing(kind: string, target: string, permissions?: Json): string {
  const act: Record<string, string> = {
    read: `return new Response(await Deno.readTextFile(${JSON.stringify(target)}));`,
    net: `const r = await fetch("http://" + ${JSON.stringify(target)} + "/from-plugin");
          return new Response("fetched " + (await r.text()));`,
    env: `return new Response("env " + Deno.env.get(${JSON.stringify(target)}));`,
    run: `const out = await new Deno.Command(${
      JSON.stringify(target)
    }, { args: ["-c", "echo spawned"] }).output();
          return new Response(new TextDecoder().decode(out.stdout).trim());`,
  };
  const declared = permissions === undefined ? "" : `permissions: ${JSON.stringify(permissions)},`;
  return `export default {
    ${declared}
    async webhook() {
      ${act[kind]}
    },
  };\n`;
}

Deno.test("a plugin without read/net/env/run is denied (500, logged), the daemon unaffected; declared and granted, it works", async () => {
  const r = receiver();
  try {
    const target: Record<string, string> = {
      read: "$DIR/data/secret.txt",
      net: `127.0.0.1:${r.port}`,
      env: "HH_PLUGIN_SECRET",
      run: "sh",
    };
    const granted: Record<string, Json> = {
      read: { read: ["$DIR/data"] },
      net: { net: [`127.0.0.1:${r.port}`] },
      env: { env: ["HH_PLUGIN_SECRET"] },
      run: { run: ["sh"] },
    };
    const expected: Record<string, string> = {
      read: "the secret",
      net: "fetched received",
      env: "env s3cret",
      run: "spawned",
    };
    const plugins: Record<string, string> = { "ok.ts": answering("ok plugin") };
    for (const kind of Object.keys(target)) {
      plugins[`${kind}-denied.ts`] = needing(kind, target[kind]);
      // Declaring other kinds does not help.
      plugins[`${kind}-other.ts`] = needing(kind, target[kind], {
        ...Object.fromEntries(Object.keys(granted).filter((k) => k !== kind).map((k) => [k, true])),
      });
      // Declaring it is not enough: the operator never granted it (deny by default).
      plugins[`${kind}-ungranted.ts`] = needing(kind, target[kind], granted[kind]);
      plugins[`${kind}-granted.ts`] = needing(kind, target[kind], granted[kind]);
    }
    // Only the `-granted` plugins have a table; TOML takes these JSON lists as they are.
    const toml = Object.entries(granted).map(([kind, perms]) =>
      `[plugins.${kind}-granted]\npermissions = { ${kind} = ${
        JSON.stringify((perms as Record<string, Json>)[kind])
      } }\n`
    ).join("\n");
    await withDaemon({
      toml,
      plugins,
      files: { "data/secret.txt": "the secret" },
      env: { HH_PLUGIN_SECRET: "s3cret" },
    }, async (ctx) => {
      for (const kind of Object.keys(target)) {
        const what = `${kind} ${target[kind].replaceAll("$DIR", ctx.dir)}`;
        for (const name of [`${kind}-denied`, `${kind}-other`, `${kind}-ungranted`]) {
          const denied = await request(`${ctx.base}/hooks/${name}`, { method: "POST" });
          assert.equal(denied.status, 500, `${name}: ${denied.status} ${denied.text}`);
          await logged(ctx.d, `plugin ${name}: permission denied: ${what}\n`);
        }
        // The daemon and the other plugins are unaffected.
        const health = await healthz(ctx);
        assert.deepEqual(health.failed, [], JSON.stringify(health));
        const ok = await request(`${ctx.base}/hooks/ok`);
        assert.deepEqual([ok.status, ok.text], [200, "ok plugin"]);

        const allowed = await request(`${ctx.base}/hooks/${kind}-granted`, { method: "POST" });
        assert.deepEqual(
          [allowed.status, allowed.text],
          [200, expected[kind]],
          `${kind}-granted answered ${allowed.status} ${allowed.text}\n${ctx.d.stderr}`,
        );
      }
      // The denied fetches never reached the receiver.
      assert.deepEqual(r.requests.map((q) => q.path), ["/from-plugin"]);
      assert.doesNotMatch(ctx.d.stderr, /plugin \w+-granted: permission denied/);
      const runs = await ctx.d.waitForCount(
        (x) => x.type === "hook_run" && x.hook === "env-denied",
        1,
      );
      assert.deepEqual(runs.map((x) => x.status), [500]);
      const [row] = (await pluginsLs(ctx, ctx.session)).filter((p) => p.name === "run-ungranted");
      assert.deepEqual([row.declared, row.permissions, row.missing], ["run=sh", "none", "run=sh"]);
      await logged(ctx.d, "plugin run-ungranted: loaded (");
      assert.match(
        ctx.d.stderr,
        /plugin run-ungranted: loaded \(.*\); declared run=sh, granted none, missing run=sh/,
      );
    });
  } finally {
    await r.server.shutdown();
  }
});

Deno.test("the operator's [plugins.NAME] permissions narrow what the plugin declares", async () => {
  await withDaemon({
    plugins: {
      "narrowed.ts": `export default {
        permissions: { env: true, net: true },
        webhook(request) {
          const name = new URL(request.url).searchParams.get("var");
          return new Response(name + "=" + Deno.env.get(name));
        },
      };`,
    },
    toml: `[plugins.narrowed]\npermissions = { env = ["ALLOWED"] }\n`,
    env: { ALLOWED: "yes", OTHER: "no" },
  }, async (ctx) => {
    const allowed = await request(`${ctx.base}/hooks/narrowed?var=ALLOWED`);
    assert.deepEqual([allowed.status, allowed.text], [200, "ALLOWED=yes"]);
    const other = await request(`${ctx.base}/hooks/narrowed?var=OTHER`);
    assert.equal(other.status, 500, other.text);
    await logged(ctx.d, "plugin narrowed: permission denied: env OTHER\n");

    const [row] = (await pluginsLs(ctx, ctx.session)).filter((p) => p.name === "narrowed");
    assert.equal(row.permissions, "env=ALLOWED", JSON.stringify(row));
  });
});

Deno.test("[plugins.NAME] is keyed by the file: a declared name renames the route, never selects another's table", async () => {
  await withDaemon({
    plugins: {
      // Declares another name: [plugins.file-name] still applies to it, timeout too.
      "file-name.ts": `export default {
        name: "declared",
        permissions: { env: true },
        webhook(request, ctx) {
          const q = new URL(request.url).searchParams;
          if (q.has("loop")) while (true) {}
          return new Response(String(Deno.env.get(q.get("var"))));
        },
      };`,
      // The operator restricted evil; it declares innocent's name to get innocent's table.
      "evil.ts": `export default {
        name: "innocent",
        permissions: { env: true, run: true },
        webhook: () => new Response("evil " + Deno.env.get("ALLOWED")),
      };`,
      "innocent.ts": `export default {
        permissions: { env: true },
        webhook: () => new Response("innocent " + Deno.env.get("ALLOWED")),
      };`,
      // Renamed: its table's signature check still guards its route.
      "signed.ts": `export default {
        name: "renamed",
        webhook: () => new Response("unverified accepted"),
      };`,
    },
    toml: `[plugins.file-name]\ntimeout = 1\npermissions = { env = ["ALLOWED"] }\n
[plugins.evil]\npermissions = {}\n
[plugins.innocent]\npermissions = { env = ["ALLOWED"] }\n
[plugins.signed]\nverify = "github"\nsecret_env = "GH_SECRET"\n`,
    env: { ALLOWED: "yes", OTHER: "no", GH_SECRET: "s3cret" },
  }, async (ctx) => {
    const allowed = await request(`${ctx.base}/hooks/declared?var=ALLOWED`);
    assert.deepEqual([allowed.status, allowed.text], [200, "yes"]);
    const other = await request(`${ctx.base}/hooks/declared?var=OTHER`);
    assert.equal(other.status, 500, "[plugins.file-name] did not apply: " + other.text);
    await logged(ctx.d, "plugin declared: permission denied: env OTHER\n");

    const unsigned = await request(`${ctx.base}/hooks/renamed`, { method: "POST", body: "{}" });
    assert.equal(unsigned.status, 401, `[plugins.signed] verify did not apply: ${unsigned.text}`);
    const innocent = await request(`${ctx.base}/hooks/innocent`);
    assert.deepEqual([innocent.status, innocent.text], [200, "innocent yes"]);
    await logged(
      ctx.d,
      `plugin ${
        join(ctx.plugins, "evil.ts")
      }: It declares the name 'innocent', which [plugins.innocent] names for another file`,
    );
    const [evil] = (await pluginsLs(ctx, ctx.session)).filter((p) => p.file.endsWith("evil.ts"));
    assert.equal(evil.state, "failed", JSON.stringify(evil));

    const looping = await request(`${ctx.base}/hooks/declared?loop`);
    assert.equal(looping.status, 504, looping.text);
    await logged(ctx.d, "plugin declared: A handler ran past its ");
    const [, seconds] = /plugin declared: A handler ran past its (\S+) s timeout/.exec(
      ctx.d.stderr,
    )!;
    assert.equal(seconds, "1", "[plugins.file-name] timeout = 1 was not applied");
  });
});

// ---------------------------------------------------------------------------------------------
// Live reload

Deno.test("a plugins folder created after the daemon started is watched from then on", async () => {
  await withDaemon({
    prepare: (_, plugins) => Deno.remove(plugins, { recursive: true }),
  }, async (ctx) => {
    const url = `${ctx.base}/hooks/late`;
    assert.equal((await request(url)).status, 404);
    await logged(ctx.d, "does not exist yet; it is picked up once created");
    await Deno.mkdir(ctx.plugins);
    await Deno.writeTextFile(join(ctx.plugins, "late.ts"), answering("late v1"));
    await answerUntil(url, (a) => a.status === 200 && a.text === "late v1");
    // And it is watched as any plugins folder: a change is live.
    await Deno.writeTextFile(join(ctx.plugins, "late.ts"), answering("late v2"));
    await answerUntil(url, (a) => a.text === "late v2");
    assert.doesNotMatch(ctx.d.stderr, /Cannot read plugins folder|Not watching/);
  });
});

Deno.test("plugins are picked up, reloaded and dropped live, also on an atomic save", async () => {
  await withDaemon({ plugins: { "steady.ts": answering("steady") } }, async (ctx) => {
    const url = `${ctx.base}/hooks/hot`;
    const hot = join(ctx.plugins, "hot.ts");
    const before = await request(url);
    assert.equal(before.status, 404, before.text);

    await Deno.writeTextFile(hot, answering("v1"));
    await answerUntil(url, (a) => a.status === 200 && a.text === "v1");

    await Deno.writeTextFile(hot, answering("v2"));
    await answerUntil(url, (a) => a.text === "v2");

    // An editor's atomic save: a hidden temp file in the folder renamed over the plugin.
    const tmp = join(ctx.plugins, ".x.tmp");
    await Deno.writeTextFile(tmp, answering("v3"));
    await Deno.rename(tmp, hot);
    await answerUntil(url, (a) => a.text === "v3");

    await Deno.remove(hot);
    const gone = await answerUntil(url, (a) => a.status === 404);
    assert.match(gone.text, /No plugin named 'hot'/);

    // A folder plugin appears once its mod.ts does.
    await Deno.mkdir(join(ctx.plugins, "fold"));
    await Deno.writeTextFile(join(ctx.plugins, "fold", "part.ts"), `export const v = "folded";\n`);
    await Deno.writeTextFile(
      join(ctx.plugins, "fold", "mod.ts"),
      `import { v } from "./part.ts";\nexport default { webhook: () => new Response(v) };\n`,
    );
    await answerUntil(`${ctx.base}/hooks/fold`, (a) => a.status === 200 && a.text === "folded");
    // Editing a file beside mod.ts reloads the folder plugin.
    await Deno.writeTextFile(
      join(ctx.plugins, "fold", "part.ts"),
      `export const v = "refolded";\n`,
    );
    await answerUntil(`${ctx.base}/hooks/fold`, (a) => a.text === "refolded");

    // A script plugin dropped in and made executable.
    await script(ctx.plugins, "late.sh", "cat >/dev/null\necho late script");
    await answerUntil(`${ctx.base}/hooks/late`, (a) => a.status === 200);
    await ctx.d.waitFor((r) => isInjected(r) && r.content === "late script");

    // The untouched plugin kept answering throughout; the temp file was never loaded.
    const steady = await request(`${ctx.base}/hooks/steady`);
    assert.deepEqual([steady.status, steady.text], [200, "steady"]);
    assert.doesNotMatch(ctx.d.stderr, /\.x\.tmp/);
    assert.match(ctx.d.stderr, /plugin hot: removed/);
  });
});

// ---------------------------------------------------------------------------------------------
// Misbehaving plugins

Deno.test("a webhook past its timeout answers 504, its Worker is restarted, other plugins keep answering", async () => {
  await withDaemon({
    process: true,
    plugins: {
      "spin.ts": `export default {
        webhook(request, ctx) {
          if (new URL(request.url).searchParams.has("loop")) {
            ctx.log.info("spinning now");
            while (true) {}
          }
          return new Response("spin ok");
        },
      };`,
      "steady.ts": answering("steady"),
    },
    toml: `[plugins.spin]\ntimeout = 1\n`,
  }, async (ctx) => {
    const spinning = request(`${ctx.base}/hooks/spin?loop=1`);
    try {
      await logged(ctx.d, "plugin spin: spinning now");
      // While its Worker is stuck in a loop, the daemon and the other plugins answer.
      const steady = await request(`${ctx.base}/hooks/steady`);
      assert.deepEqual([steady.status, steady.text], [200, "steady"]);
      assert.equal((await healthz(ctx)).status, "ok");
    } finally {
      const res = await spinning;
      assert.equal(res.status, 504, res.text);
    }
    await logged(
      ctx.d,
      "plugin spin: A handler ran past its 1 s timeout; the Worker was terminated; restarting in 1000 ms",
    );
    // On a busy machine the restarted Worker may itself miss its 1 s at first (the terminated
    // one's loop still spins: Deno 2.9.6), and is restarted again: it answers in the end.
    const again = await answerUntil(`${ctx.base}/hooks/spin`, (a) => a.status === 200);
    assert.equal(again.text, "spin ok");
    await logged(ctx.d, "plugin spin: restarted");
    // hook_run records: the 504, then only 503s (restarting) or 504s, then the 200.
    await ctx.d.waitFor((r) => r.type === "hook_run" && r.hook === "spin" && r.status === 200);
    const runs = ctx.d.records.filter((r) => r.type === "hook_run" && r.hook === "spin")
      .map((r) => r.status);
    assert.equal(runs[0], 504, JSON.stringify(runs));
    assert.equal(runs.at(-1), 200, JSON.stringify(runs));
    assert.ok(runs.slice(1, -1).every((s) => s === 503 || s === 504), JSON.stringify(runs));
  });
});

Deno.test("a plugin's stray exception is logged and it keeps serving; one that exits is restarted", async () => {
  await withDaemon({
    process: true,
    plugins: {
      "crasher.ts": `export default {
        webhook(request) {
          if (new URL(request.url).searchParams.has("crash")) {
            setTimeout(() => { throw new Error("late crash"); }, 0);
          }
          return new Response("crasher here");
        },
      };`,
      "quitter.ts": `export default {
        webhook(request) {
          const q = new URL(request.url).searchParams;
          if (q.has("exit")) Deno.exit(3);
          if (q.has("close")) self.close();
          return new Response("quitter here");
        },
      };`,
      "steady.ts": answering("steady"),
    },
    toml: `[plugins.quitter]\ntimeout = 1\n`,
  }, async (ctx) => {
    const crash = await request(`${ctx.base}/hooks/crasher?crash`);
    assert.deepEqual([crash.status, crash.text], [200, "crasher here"]);
    await logged(ctx.d, "plugin crasher: uncaught error: Error: late crash");
    const back = await request(`${ctx.base}/hooks/crasher`);
    assert.deepEqual([back.status, back.text], [200, "crasher here"]);
    assert.doesNotMatch(ctx.d.stderr, /plugin crasher: .*restarting/);

    for (const how of ["exit", "close"]) {
      const gone = await request(`${ctx.base}/hooks/quitter?${how}`);
      assert.ok([500, 503, 504].includes(gone.status), `${how}: ${gone.status} ${gone.text}`);
      const again = await answerUntil(`${ctx.base}/hooks/quitter`, (a) => a.status === 200);
      assert.equal(again.text, "quitter here");
    }
    const steady = await request(`${ctx.base}/hooks/steady`);
    assert.deepEqual([steady.status, steady.text], [200, "steady"]);
    assert.equal((await healthz(ctx)).status, "ok");
    assert.doesNotMatch(ctx.d.stderr, /\n\s+at .*:\d+:\d+/, `a stack trace:\n${ctx.d.stderr}`);
  });
});

Deno.test("a plugin that throws answers 500, is logged and keeps serving", async () => {
  await withDaemon({
    plugins: {
      "thrower.ts": `export default {
        webhook(request) {
          if (new URL(request.url).searchParams.has("fine")) return new Response("fine");
          throw new Error("boom on purpose");
        },
      };`,
      "steady.ts": answering("steady"),
    },
  }, async (ctx) => {
    for (let i = 0; i < 2; i++) {
      const res = await request(`${ctx.base}/hooks/thrower`, { method: "POST", body: "x" });
      assert.equal(res.status, 500, res.text);
    }
    await logged(ctx.d, "plugin thrower: Error: boom on purpose\n");
    assert.equal(ctx.d.stderr.split("plugin thrower: Error: boom on purpose\n").length - 1, 2);
    const fine = await request(`${ctx.base}/hooks/thrower?fine`);
    assert.deepEqual([fine.status, fine.text], [200, "fine"]);
    const steady = await request(`${ctx.base}/hooks/steady`);
    assert.deepEqual([steady.status, steady.text], [200, "steady"]);
    assert.deepEqual((await healthz(ctx)).failed, []);
    assert.doesNotMatch(ctx.d.stderr, /\n\s+at .*:\d+:\d+/, "no stack trace");
    const runs = await ctx.d.waitForCount((r) => r.type === "hook_run" && r.hook === "thrower", 3);
    assert.deepEqual(runs.map((r) => r.status), [500, 500, 200]);
  });
});

// ---------------------------------------------------------------------------------------------
// ctx

const COUNTER = `export default {
  async webhook(request, ctx) {
    if (new URL(request.url).searchParams.has("list")) return Response.json(await ctx.store.list());
    const n = ((await ctx.store.get("count")) ?? 0) + 1;
    await ctx.store.set("count", n);
    await ctx.store.set(["history", n], "hit " + n);
    if (n === 2) await ctx.store.delete(["history", 1]);
    return new Response(String(n));
  },
};
`;

Deno.test("ctx.store persists across a daemon restart, in a namespace of the plugin's own", async () => {
  const tmp = await tempDir();
  try {
    await writeSetup(tmp.path, { plugins: { "counter.ts": COUNTER, "other.ts": COUNTER } });
    const env = envFor(tmp.path);
    const hit = async (base: string, name: string) => {
      const res = await request(`${base}/hooks/${name}`, { method: "POST" });
      assert.equal(res.status, 200, res.text);
      return res.text;
    };

    const first = await startDaemon(tmp.path, "store", env);
    try {
      assert.deepEqual(
        [await hit(first.base, "counter"), await hit(first.base, "counter")],
        ["1", "2"],
      );
      assert.equal(await hit(first.base, "other"), "1", "another plugin's store is separate");
    } finally {
      await stopDaemon(first.d);
    }

    const second = await startDaemon(tmp.path, "store", env);
    try {
      assert.equal(await hit(second.base, "counter"), "3");
      const list = await request(`${second.base}/hooks/counter?list`);
      assert.equal(list.status, 200, list.text);
      assert.deepEqual(JSON.parse(list.text), [
        { key: ["count"], value: 3 },
        { key: ["history", 2], value: "hit 2" },
        { key: ["history", 3], value: "hit 3" },
      ]);
    } finally {
      await stopDaemon(second.d);
    }
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("ctx.inject puts messages into the inbox as background/skill, labelled `plugin NAME`, drained in priority order", async () => {
  await withDaemon({
    process: true,
    session: "prio",
    plugins: {
      "injector.ts": `export default {
        async webhook(request, ctx) {
          await ctx.inject("bg-1");
          await ctx.inject("sk-1", { source: "skill" });
          await ctx.inject("bg-2", { source: "background" });
          let refused = "";
          try {
            await ctx.inject("bad", { source: "webhook" });
          } catch (e) {
            refused = e.message;
          }
          ctx.log.info("refused: " + refused);
          return "wh-1";
        },
      };`,
    },
    toml: `[session]\nhandler = "./block.sh"\n`,
    // The handler holds the first message until `release` exists, so everything after it waits
    // in the inbox and is then taken in priority order.
    bin: {
      "block.sh": [
        `content=$(cat)`,
        `if [ "$content" = "first" ]; then`,
        `  touch "$DIR/started"`,
        `  while [ ! -f "$DIR/release" ]; do sleep 0.05; done`,
        `fi`,
        `echo "handled $HOOKHOST_SOURCE $content"`,
      ].join("\n"),
    },
  }, async (ctx) => {
    const sent = await cli(["send", "--name", "prio", "first"], { env: ctx.env });
    assert.equal(sent.code, 0, sent.stderr);
    await until(
      () => Deno.stat(join(ctx.dir, "started")).then(() => true, () => false),
      () => `the handler never started:\n${ctx.d.stderr}`,
    );

    const res = await request(`${ctx.base}/hooks/injector`, { method: "POST" });
    assert.deepEqual([res.status, res.text], [200, "ok"]);
    const inj = await cli(["send", "--name", "prio", "inj-1"], { env: ctx.env });
    assert.equal(inj.code, 0, inj.stderr);
    await logged(
      ctx.d,
      "plugin injector: refused: inject() source must be 'skill' or 'background'",
    );
    await Deno.writeTextFile(join(ctx.dir, "release"), "");

    const injected = await ctx.d.waitForCount(isInjected, 6);
    assert.deepEqual(
      injected.map((r) => [r.content, r.source_kind, r.source_label]),
      [
        ["first", "inject", injected[0].source_label],
        ["bg-1", "background", "plugin injector"],
        ["bg-2", "background", "plugin injector"],
        ["sk-1", "skill", "plugin injector"],
        ["inj-1", "inject", injected[0].source_label],
        ["wh-1", "webhook", "webhook injector"],
      ],
    );
    const replies = await ctx.d.waitForCount((r) => r.type === "reply", 6);
    assert.deepEqual(replies.map((r) => r.content), [
      "handled inject first",
      "handled background bg-1",
      "handled background bg-2",
      "handled skill sk-1",
      "handled inject inj-1",
      "handled webhook wh-1",
    ]);
    assert.ok(!injected.some((r) => r.content === "bad"));
  });
});

Deno.test("`on` handlers get built-in events and other plugins' ctx.emit events; `message` sees processed messages", async () => {
  await withDaemon({
    process: true,
    session: "ev",
    plugins: {
      "watcher.ts": `const seen = [];
        export default {
          on: {
            run_status_changed(event) { seen.push({ on: event }); },
            plugin_ping(event) { seen.push({ on: event }); },
          },
          message(message) { seen.push({ message }); },
          webhook() { return Response.json(seen); },
        };`,
      "emitter.ts": `export default {
        async webhook(request, ctx) {
          await ctx.emit("plugin_ping", { commandKey: "emitter", n: 7 });
        },
      };`,
    },
    files: {
      "hooks.json": JSON.stringify({
        plugin_ping: [{ hooks: [{ type: "command", command: "cat > '$DIR/ping.json'" }] }],
      }),
    },
  }, async (ctx) => {
    const seen = async (): Promise<Json[]> => {
      const res = await request(`${ctx.base}/hooks/watcher`);
      assert.equal(res.status, 200, res.text);
      return JSON.parse(res.text);
    };

    const before = Date.now();
    const emitted = await request(`${ctx.base}/hooks/emitter`, { method: "POST" });
    assert.equal(emitted.status, 204, emitted.text);
    let events: Json[] = [];
    await until(async () => (events = await seen()).length > 0, () => ctx.d.stderr);
    assert.equal(events.length, 1, JSON.stringify(events));
    const ping = events[0].on;
    assert.deepEqual({ ...ping, timestamp: 0 }, {
      event: "plugin_ping",
      fullEvent: "event-plugin_ping",
      params: { commandKey: "emitter", n: 7 },
      timestamp: 0,
    });
    assert.ok(Number.isInteger(ping.timestamp) && ping.timestamp >= before, String(ping.timestamp));
    // ctx.emit also reaches the event hooks of hooks.json.
    const pingFile = join(ctx.dir, "ping.json");
    await until(
      () => Deno.readTextFile(pingFile).then((t) => t.trim().endsWith("}"), () => false),
      () => `hooks.json command never ran:\n${ctx.d.stderr}`,
    );
    assert.deepEqual(JSON.parse(await Deno.readTextFile(pingFile)).params, {
      commandKey: "emitter",
      n: 7,
    });

    const sent = await cli(["send", "--name", "ev", "hello events"], { env: ctx.env });
    assert.equal(sent.code, 0, sent.stderr);
    const msg = await ctx.d.waitFor((r) => isInjected(r) && r.content === "hello events");
    await until(
      async () => (events = await seen()).some((e) => e.message?.id === msg.id),
      () => JSON.stringify(events),
    );
    const statuses = events.filter((e) => e.on?.event === "run_status_changed")
      .map((e) => e.on);
    assert.deepEqual(statuses.map((e) => e.params), [
      { commandKey: "ev|inject", runStatus: "running", messageId: msg.id },
      { commandKey: "ev|inject", runStatus: "completed", messageId: msg.id },
    ]);
    assert.deepEqual(statuses.map((e) => e.fullEvent), [
      "event-run_status_changed",
      "event-run_status_changed",
    ]);
    const messages = events.filter((e) => e.message).map((e) => e.message);
    assert.deepEqual(messages, [{
      id: msg.id,
      session: "ev",
      source: "inject",
      label: msg.source_label,
      content: "hello events",
    }]);
  });
});

// ---------------------------------------------------------------------------------------------
// Serving

Deno.test("a script plugin follows the script interface at /hooks/<name>; /healthz answers; unknown names are 404, malformed ones 400", async () => {
  await withDaemon({
    session: "scr",
    scripts: {
      "shout.sh": [
        `body=$(cat)`,
        `case "$HOOK_QUERY" in`,
        `  *fail*) echo "shout failed on purpose" >&2; exit 3;;`,
        `  *quiet*) exit 0;;`,
        `esac`,
        `printf '%s|%s|%s|%s|%s|%s|%s\\n' "$HOOK_NAME" "$HOOK_METHOD" "$HOOK_PATH" "$HOOK_QUERY" ` +
        `"$HOOK_SESSION" "$HOOK_HEADER_X_TEST" "$body"`,
      ].join("\n"),
    },
    plugins: {
      "listener.ts": `export default { on: { anything() {} } };`,
      "notes.txt": "not a plugin",
    },
  }, async (ctx) => {
    const ok = await request(`${ctx.base}/hooks/shout/deeper?a=1`, {
      method: "POST",
      headers: { "X-Test": "yes" },
      body: "payload",
    });
    assert.deepEqual([ok.status, ok.text], [200, "ok"]);
    const msg = await ctx.d.waitFor(isInjected);
    assert.equal(msg.content, "shout|POST|/hooks/shout/deeper|a=1|scr|yes|payload");
    assert.equal(msg.source_kind, "webhook");
    assert.equal(msg.source_label, "webhook shout");

    const quiet = await request(`${ctx.base}/hooks/shout?quiet`, { method: "POST", body: "x" });
    assert.deepEqual([quiet.status, quiet.text], [204, ""]);
    const failed = await request(`${ctx.base}/hooks/shout?fail`, { method: "POST", body: "x" });
    assert.equal(failed.status, 500, failed.text);
    await logged(ctx.d, "shout failed on purpose");
    const runs = await ctx.d.waitForCount((r) => r.type === "hook_run" && r.hook === "shout", 3);
    assert.deepEqual(runs.map((r) => [r.status, r.exit_code]), [[200, 0], [204, 0], [500, 3]]);

    const health = await healthz(ctx);
    assert.deepEqual(health, { status: "ok", session: "scr", plugins: 2, failed: [] });

    for (const path of ["/hooks/nope", "/hooks/notes", "/hooks/listener", "/elsewhere", "/"]) {
      const res = await request(`${ctx.base}${path}`, { method: "POST", body: "x" });
      assert.equal(res.status, 404, `${path}: ${res.status} ${res.text}`);
    }
    for (const path of ["/hooks/%ZZ", "/hooks/%E0%A4%A", "/hooks/shout%"]) {
      const res = await request(`${ctx.base}${path}`, { method: "POST", body: "x" });
      assert.equal(res.status, 400, `${path}: ${res.status} ${res.text}`);
    }
    // Nothing was injected for those: the next message directly follows the first.
    const last = await request(`${ctx.base}/hooks/shout`, { method: "POST", body: "last" });
    assert.equal(last.status, 200, last.text);
    await ctx.d.waitFor((r) => isInjected(r) && r.content.endsWith("|last"));
    assert.equal(ctx.d.records.filter(isInjected).length, 2);
  });
});

Deno.test("a module webhook: a Response passes through, a string is injected (200 ok), nothing is 204", async () => {
  await withDaemon({
    session: "mw",
    plugins: {
      "answers.ts": `export default {
        async webhook(request) {
          const q = new URL(request.url).searchParams;
          const body = await request.text();
          switch (q.get("as")) {
            case "response":
              return new Response("teapot: " + request.method + " " + request.headers.get("x-in") + " " + body, {
                status: 418,
                headers: { "x-out": "out-value", "content-type": "text/x-tea" },
              });
            case "string":
              return "  message: " + body + "  \\n";
            case "blank":
              return "   ";
            case "null":
              return null;
            default:
              return;
          }
        },
      };`,
    },
  }, async (ctx) => {
    const url = (as: string) => `${ctx.base}/hooks/answers?as=${as}`;
    const tea = await request(url("response"), {
      method: "PUT",
      headers: { "x-in": "in-value" },
      body: "abc",
    });
    assert.deepEqual([tea.status, tea.text], [418, "teapot: PUT in-value abc"]);
    assert.equal(tea.headers.get("x-out"), "out-value");
    assert.equal(tea.headers.get("content-type"), "text/x-tea");

    const str = await request(url("string"), { method: "POST", body: "hello" });
    assert.deepEqual([str.status, str.text], [200, "ok"]);
    const msg = await ctx.d.waitFor(isInjected);
    assert.deepEqual([msg.content, msg.source_kind, msg.source_label, msg.session_id], [
      "message: hello",
      "webhook",
      "webhook answers",
      "mw",
    ]);

    for (const as of ["blank", "null", "nothing"]) {
      const none = await request(url(as), { method: "POST", body: "x" });
      assert.deepEqual([none.status, none.text], [204, ""], as);
    }
    const runs = await ctx.d.waitForCount((r) => r.type === "hook_run" && r.hook === "answers", 5);
    assert.deepEqual(runs.map((r) => r.status), [418, 200, 204, 204, 204]);
    for (const run of runs) {
      assert.equal(run.exit_code, null);
      assert.equal(typeof run.duration_ms, "number");
    }
    // Only the string became a message (a later one proves nothing else was queued before it).
    assert.equal((await request(url("string"), { method: "POST", body: "last" })).status, 200);
    await ctx.d.waitFor((r) => isInjected(r) && r.content === "message: last");
    assert.deepEqual(ctx.d.records.filter(isInjected).map((r) => r.content), [
      "message: hello",
      "message: last",
    ]);

    // A method no `Request` can carry (fetch() refuses to send it): answered by the host, and
    // the plugin is not run.
    const addr = ctx.base.slice("http://".length);
    const [hostname, port] = addr.split(":");
    const conn = await Deno.connect({ hostname, port: Number(port) });
    const head = `TRACE /hooks/answers HTTP/1.1\r\nHost: ${addr}\r\nConnection: close\r\n\r\n`;
    await conn.write(new TextEncoder().encode(head));
    const answer = new TextDecoder().decode(await new Response(conn.readable).bytes());
    assert.match(answer, /^HTTP\/1\.1 405 /);
    assert.match(answer, /\r\nallow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n/i);
    assert.match(answer, /Method 'TRACE' is not allowed\n$/);
    assert.equal((await request(url("string"), { method: "POST", body: "after" })).status, 200);
    const all = await ctx.d.waitForCount((r) => r.type === "hook_run" && r.hook === "answers", 7);
    assert.deepEqual(all.map((r) => r.status), [418, 200, 204, 204, 204, 200, 200]);
  });
});

Deno.test("a daemon stops (exit 0) while a plugin handler hangs", async () => {
  await withDaemon({
    process: true,
    plugins: {
      "hang.ts": `export default {
        webhook(request, ctx) {
          ctx.log.info("hanging now");
          while (true) {}
        },
      };`,
    },
    toml: `[session]\nshutdown_grace = 1\n\n[plugins.hang]\ntimeout = 3600\n`,
  }, async (ctx) => {
    const hanging = request(`${ctx.base}/hooks/hang`, { method: "POST" }).catch((e) => e);
    await logged(ctx.d, "plugin hang: hanging now");
    (ctx.d as Proc).child.kill("SIGTERM");
    let guard: ReturnType<typeof setTimeout> | undefined;
    const first = await Promise.race([
      (ctx.d as Proc).child.status.then(() => "daemon exited"),
      new Promise((r) => (guard = setTimeout(() => r("still running"), scaled(20_000)))),
    ]);
    clearTimeout(guard);
    assert.equal(first, "daemon exited", "the daemon waited for a hanging plugin");
    assert.equal(await (ctx.d as Proc).exited(), 0, ctx.d.stderr);
    const answer = await hanging;
    assert.ok(answer instanceof Error || answer.status >= 500, JSON.stringify(answer));
  });
});

Deno.test("a [[hooks]] entry with plugin = NAME serves that plugin on the hook's own bind", async () => {
  await withDaemon({
    plugins: {
      "greeter.ts": `export default {
        webhook(request) {
          const path = new URL(request.url).pathname;
          if (request.method === "GET") return new Response("hi at " + path);
          return "greeted at " + path;
        },
      };`,
    },
    toml: `[[hooks]]\nname = "via-hook"\nbind = "127.0.0.1:0"\nplugin = "greeter"\n`,
    hooks: ["via-hook"],
  }, async (ctx) => {
    const own = `http://${await ctx.d.addr("via-hook")}`;
    assert.notEqual(own, ctx.base);
    const get = await request(`${own}/some/path`);
    assert.deepEqual([get.status, get.text], [200, "hi at /some/path"]);
    const post = await request(`${own}/`, { method: "POST", body: "x" });
    assert.deepEqual([post.status, post.text], [200, "ok"]);
    const msg = await ctx.d.waitFor(isInjected);
    assert.equal(msg.content, "greeted at /");
    assert.equal(msg.source_kind, "webhook");
    // And still at /hooks/greeter on the plugin server.
    const there = await request(`${ctx.base}/hooks/greeter`);
    assert.deepEqual([there.status, there.text], [200, "hi at /hooks/greeter"]);
  });
});

Deno.test("[server] max_body limits both kinds of plugins (413)", async () => {
  await withDaemon({
    server: "max_body = 100",
    plugins: {
      "size.ts": `export default {
        async webhook(request) {
          return new Response("module got " + (await request.arrayBuffer()).byteLength);
        },
      };`,
    },
    scripts: { "count.sh": `echo "script got $(wc -c | tr -d ' ')"` },
  }, async (ctx) => {
    const post = (name: string, n: number) =>
      request(`${ctx.base}/hooks/${name}`, { method: "POST", body: "y".repeat(n) });
    const module = await post("size", 100);
    assert.deepEqual([module.status, module.text], [200, "module got 100"]);
    const script = await post("count", 100);
    assert.deepEqual([script.status, script.text], [200, "ok"]);
    await ctx.d.waitFor((r) => isInjected(r) && r.content === "script got 100");
    for (const name of ["size", "count"]) {
      const over = await post(name, 101);
      assert.equal(over.status, 413, `${name}: ${over.text}`);
    }
    // The script never ran for the refused body: the next message follows the first directly.
    assert.equal((await post("count", 50)).status, 200);
    await ctx.d.waitFor((r) => isInjected(r) && r.content === "script got 50");
    assert.deepEqual(ctx.d.records.filter(isInjected).map((r) => r.content), [
      "script got 100",
      "script got 50",
    ]);
  });
});

Deno.test("no plugin server without [server] or a plugins folder; HOOKHOST_PLUGINS names the folder", async () => {
  const tmp = await tempDir();
  try {
    await config(tmp.path, "");
    const env = envFor(tmp.path);
    const bare = Proc.start(
      [
        "run",
        "--name",
        "bare",
        "--daemon",
        "--format",
        "jsonl",
        "--plugins",
        join(tmp.path, "none"),
      ],
      { env },
    );
    try {
      await bare.waitFor((r) => r.type === "ready");
      const sent = await cli(["send", "--name", "bare", "marker"], { env });
      assert.equal(sent.code, 0, sent.stderr);
      // The runner only takes messages once the listeners are set up.
      await bare.waitFor((r) => isInjected(r) && r.content === "marker");
      assert.deepEqual(bare.records.filter((r) => r.type === "listening"), []);
    } finally {
      await stopDaemon(bare);
    }

    const plugins = await writeSetup(tmp.path, { plugins: { "viaenv.ts": answering("via env") } });
    const d = Proc.start(["run", "--name", "withenv", "--daemon", "--format", "jsonl"], {
      env: { ...env, HOOKHOST_PLUGINS: plugins },
    });
    try {
      const res = await request(`http://${await d.addr("server")}/hooks/viaenv`);
      assert.deepEqual([res.status, res.text], [200, "via env"]);
    } finally {
      await stopDaemon(d);
    }
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("ctx.inject reaches another known session; an unknown one is refused; plugins run only in daemons", async () => {
  await withDaemon({
    session: "main",
    plugins: {
      "relay.ts": `export default {
        async webhook(request, ctx) {
          const to = new URL(request.url).searchParams.get("to");
          try {
            return Response.json({ id: await ctx.inject("for " + to, { session: to, source: "skill" }) });
          } catch (e) {
            return new Response(e.message, { status: 422 });
          }
        },
      };`,
    },
    prepare: async (dir) => {
      // Makes `other` a known, stopped session. A one-shot run serves no plugins.
      const once = await cli([
        "run",
        "--name",
        "other",
        "--format",
        "jsonl",
        "--plugins",
        join(dir, "plugins"),
      ], {
        env: envFor(dir),
      });
      assert.equal(once.code, 0, once.stderr);
      assert.doesNotMatch(once.stdout, /"listening"/);
    },
  }, async (ctx) => {
    const ok = await request(`${ctx.base}/hooks/relay?to=other`, { method: "POST" });
    assert.equal(ok.status, 200, ok.text);
    const { id } = JSON.parse(ok.text);
    const ghost = await request(`${ctx.base}/hooks/relay?to=ghost`, { method: "POST" });
    assert.deepEqual([ghost.status, ghost.text], [422, "no session named 'ghost'"]);
    const bad = await request(`${ctx.base}/hooks/relay?to=${encodeURIComponent("bad name!")}`, {
      method: "POST",
    });
    assert.equal(bad.status, 422, bad.text);
    assert.match(bad.text, /Invalid session name/);

    const other = await cli(["run", "--name", "other", "--format", "jsonl"], { env: ctx.env });
    assert.equal(other.code, 0, other.stderr);
    const records = other.stdout.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
    const injected = records.filter(isInjected);
    assert.deepEqual(
      injected.map((r) => [r.id, r.content, r.source_kind, r.source_label]),
      [[id, "for other", "skill", "plugin relay"]],
    );
    assert.equal(ctx.d.records.filter(isInjected).length, 0, "nothing landed in main");
  });
});

Deno.test("two plugins with the same name: an error naming both files, the first keeps serving", async () => {
  await withDaemon({
    scripts: { "dup.sh": "cat >/dev/null\necho from script" },
    plugins: {
      "named-a.ts": `export default { name: "same", webhook: () => new Response("a") };`,
      "named-b.ts": `export default { name: "same", webhook: () => new Response("b") };`,
    },
  }, async (ctx) => {
    // Declared names clash too (loaded in path order: named-a first).
    const a = join(ctx.plugins, "named-a.ts");
    const b = join(ctx.plugins, "named-b.ts");
    await logged(ctx.d, `Plugin name 'same' is used by both ${a} and ${b}`);
    const same = await request(`${ctx.base}/hooks/same`);
    assert.deepEqual([same.status, same.text], [200, "a"]);

    const sh = join(ctx.plugins, "dup.sh");
    const ts = join(ctx.plugins, "dup.ts");
    await Deno.writeTextFile(ts, answering("from module"));
    await logged(ctx.d, `Plugin name 'dup' is used by both ${sh} and ${ts}`);
    for (let i = 0; i < 3; i++) {
      const res = await request(`${ctx.base}/hooks/dup`, { method: "POST", body: "x" });
      assert.deepEqual([res.status, res.text], [200, "ok"], "the script keeps serving");
    }
    await ctx.d.waitForCount((r) => isInjected(r) && r.content === "from script", 3);

    const rows = await pluginsLs(ctx, ctx.session);
    const dup = rows.filter((r) => r.name === "dup");
    assert.deepEqual(dup.map((r) => [r.file, r.state]).sort(), [[sh, "ready"], [ts, "failed"]]);
    assert.match(dup.find((r) => r.file === ts).lastError, /used by both/);
    assert.deepEqual((await healthz(ctx)).failed.sort(), ["dup", "same"]);
  });
});

Deno.test("when one of two clashing plugins is removed, the other one takes its name", async () => {
  await withDaemon({ scripts: { "dup.sh": "cat >/dev/null\necho from script" } }, async (ctx) => {
    const ts = join(ctx.plugins, "dup.ts");
    await Deno.writeTextFile(ts, answering("from module"));
    await logged(ctx.d, `Plugin name 'dup' is used by both`);
    await Deno.remove(join(ctx.plugins, "dup.sh"));
    const res = await answerUntil(
      `${ctx.base}/hooks/dup`,
      (a) => a.text === "from module",
      5_000,
    ).catch((e) => e);
    assert.ok(
      !(res instanceof Error),
      `after dup.sh was removed, dup.ts was never loaded: ${res.message}\n${ctx.d.stderr}`,
    );
  });
});

Deno.test("a plugin that fails to load is reported with file and reason and does not stop the others; plugins ls and types", async () => {
  await withDaemon({
    process: true,
    session: "lsd",
    plugins: {
      "broken.ts": "export default {\n  webhook() {\n",
      "notobj.ts": "export default 42;\n",
      "badperm.ts": `export default { permissions: { net: "yes" }, webhook() {} };`,
      "flaky.ts": `export default { webhook() { throw new Error("flaky today"); } };`,
      "good.ts": `import type { Plugin } from "${TYPES}";
        export default {
          permissions: { env: ["HOME"] },
          webhook: () => new Response("good"),
          on: { run_status_changed() {} },
        } satisfies Plugin;`,
    },
    toml: `[plugins.good]\npermissions = { env = ["HOME"] }\n`,
  }, async (ctx) => {
    const file = (name: string) => join(ctx.plugins, name);
    await logged(ctx.d, `plugin ${file("broken.ts")}: `);
    await logged(
      ctx.d,
      `plugin ${file("notobj.ts")}: TypeError: The default export must be a plugin object`,
    );
    await logged(ctx.d, `plugin ${file("badperm.ts")}: Permission 'net' must be true`);
    const good = await request(`${ctx.base}/hooks/good`);
    assert.deepEqual([good.status, good.text], [200, "good"]);
    for (const name of ["broken", "notobj", "badperm"]) {
      const res = await request(`${ctx.base}/hooks/${name}`);
      assert.equal(res.status, 404, `${name}: ${res.text}`);
    }
    assert.deepEqual((await healthz(ctx)).failed.sort(), ["badperm", "broken", "notobj"]);
    const flaky = await request(`${ctx.base}/hooks/flaky`);
    assert.equal(flaky.status, 500);

    // Live: from the running daemon (only it knows flaky's last error).
    const live = await pluginsLs(ctx, "lsd");
    const byName = Object.fromEntries(live.map((r) => [r.name, r]));
    assert.deepEqual(Object.keys(byName).sort(), ["badperm", "broken", "flaky", "good", "notobj"]);
    for (const name of ["broken", "notobj", "badperm"]) {
      assert.equal(byName[name].state, "failed", JSON.stringify(byName[name]));
      assert.equal(byName[name].file, file(`${name}.ts`));
      assert.ok(byName[name].lastError, JSON.stringify(byName[name]));
    }
    assert.match(byName.notobj.lastError, /default export must be a plugin object/);
    const { rss, ...goodRow } = byName.good;
    assert.deepEqual(goodRow, {
      name: "good",
      file: file("good.ts"),
      kind: "module",
      handles: ["webhook", "on:run_status_changed"],
      declared: "env=HOME",
      permissions: "env=HOME",
      missing: "none",
      isolation: "process",
      restarts: 0,
      state: "ready",
    });
    assert.ok(rss > 1024 * 1024 && rss < 256 * 1024 * 1024, `good's RSS: ${rss}`);
    assert.equal(byName.flaky.lastError, "Error: flaky today");

    const text = await cli(["plugins", "ls", "--name", "lsd", "--plugins", ctx.plugins], {
      env: ctx.env,
    });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stderr, /live in session 'lsd'/);
    assert.match(text.stdout, /broken\s+module\s+.*failed/);
    assert.match(
      text.stdout,
      /good\s+module\s+webhook,on:run_status_changed\s+env=HOME\s+env=HOME\s+none\s+\d+ MiB\s+ready/,
    );

    // Without --name: each plugin loaded here, the same failures, no runtime history.
    const offline = await pluginsLs(ctx);
    const off = Object.fromEntries(offline.map((r) => [r.name, r]));
    assert.equal(off.broken.state, "failed");
    assert.equal(off.notobj.lastError, byName.notobj.lastError);
    assert.equal(off.flaky.state, "ready");
    assert.equal(off.flaky.lastError, undefined);

    const types = await cli(["plugins", "types"], { env: ctx.env });
    assert.equal(types.code, 0, types.stderr);
    assert.match(types.stdout, /export interface Plugin \{/);
    assert.match(types.stdout, /export interface PluginContext \{/);
  });
});

// ---------------------------------------------------------------------------------------------
// The shipped examples

/** Copies a shipped plugin into `dir`, pointing its type import at this checkout. */
async function copyShipped(name: string, dir: string): Promise<void> {
  const text = await Deno.readTextFile(join(SHIPPED, name));
  const rewritten = text.replaceAll(`"../src/plugins/types.ts"`, JSON.stringify(TYPES));
  if (name.endsWith(".ts")) {
    assert.notEqual(rewritten, text, `${name} no longer imports ../src/plugins/types.ts`);
  }
  await Deno.writeTextFile(join(dir, name), rewritten);
  await Deno.chmod(join(dir, name), (await Deno.stat(join(SHIPPED, name))).mode! & 0o777);
}

async function hmac(secret: string, body: string): Promise<string> {
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    enc.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(body)));
  return "sha256=" + Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("shipped examples: github-push, notify-failures and echo.sh work as documented", async () => {
  const r = receiver();
  try {
    await withDaemon({
      session: "demo",
      toml: [
        `[session]`,
        `handler = "./agent.sh"`,
        `max_attempts = 1`,
        ``,
        `[plugins.notify-failures]`,
        `permissions = { env = ["FAILURE_WEBHOOK_URL"], net = ["127.0.0.1:${r.port}"] }`,
        ``,
        `[plugins.github-push]`,
        `verify = "github"`,
        `secret_env = "GITHUB_WEBHOOK_SECRET"`,
      ].join("\n"),
      env: { GITHUB_WEBHOOK_SECRET: "topsecret", FAILURE_WEBHOOK_URL: `${r.url}/failures` },
      bin: {
        "agent.sh":
          `c=$(cat)\nif [ "$c" = "please fail" ]; then echo "refusing" >&2; exit 1; fi\necho "did $c"`,
      },
      prepare: async (_dir, plugins) => {
        for (const name of ["github-push.ts", "notify-failures.ts", "echo.sh"]) {
          await copyShipped(name, plugins);
        }
      },
    }, async (ctx) => {
      const loaded = await pluginsLs(ctx, "demo");
      assert.deepEqual(loaded.map((p) => [p.name, p.state]), [
        ["echo", "ready"],
        ["github-push", "ready"],
        ["notify-failures", "ready"],
      ], ctx.d.stderr);

      const gh = `${ctx.base}/hooks/github-push`;
      const push = JSON.stringify({
        ref: "refs/heads/main",
        repository: { full_name: "octo/repo" },
        pusher: { name: "alice" },
        commits: [{ id: "1" }, { id: "2" }],
      });
      const headers = (event: string, sig: string) => ({
        "content-type": "application/json",
        "x-github-event": event,
        "x-hub-signature-256": sig,
      });
      const good = await request(gh, {
        method: "POST",
        headers: headers("push", await hmac("topsecret", push)),
        body: push,
      });
      assert.deepEqual([good.status, good.text], [200, "ok"]);
      const summary = "New push to octo/repo (main) by alice: 2 commit(s).";
      const msg = await ctx.d.waitFor((x) => isInjected(x) && x.content === summary);
      assert.equal(msg.source_kind, "webhook");
      assert.equal(msg.source_label, "webhook github-push");

      const bad = await request(gh, {
        method: "POST",
        headers: headers("push", await hmac("wrong secret", push)),
        body: push,
      });
      assert.equal(bad.status, 401, bad.text);
      const unsigned = await request(gh, { method: "POST", body: push });
      assert.equal(unsigned.status, 401, unsigned.text);
      // A client's own X-Hookhost-Verified is dropped before the plugin sees the request.
      const claimed = await request(gh, {
        method: "POST",
        headers: { "x-hookhost-verified": "github" },
        body: push,
      });
      assert.equal(claimed.status, 401, claimed.text);
      const ping = JSON.stringify({ zen: "Keep it logically awesome." });
      const other = await request(gh, {
        method: "POST",
        headers: headers("ping", await hmac("topsecret", ping)),
        body: ping,
      });
      assert.deepEqual([other.status, other.text], [204, ""]);

      const echo = await request(`${ctx.base}/hooks/echo`, { method: "POST", body: "hi there" });
      assert.deepEqual([echo.status, echo.text], [200, "ok"]);
      await ctx.d.waitFor((x) =>
        isInjected(x) && x.content === "echo via POST /hooks/echo: hi there"
      );
      // Both messages were handled (and did not fail) before the failing one is sent.
      await ctx.d.waitForCount((x) => x.type === "reply", 2);

      const sent = await cli(["send", "--name", "demo", "please fail"], { env: ctx.env });
      assert.equal(sent.code, 0, sent.stderr);
      const failing = await ctx.d.waitFor((x) => isInjected(x) && x.content === "please fail");
      await until(() => r.requests.length > 0, () => `no failure was posted:\n${ctx.d.stderr}`);
      assert.equal(r.requests.length, 1, JSON.stringify(r.requests));
      const [post] = r.requests;
      assert.equal(post.method, "POST");
      assert.equal(post.path, "/failures");
      assert.equal(post.contentType, "application/json");
      const body = JSON.parse(post.body);
      assert.equal(body.text, `hookhost: message ${failing.id} of demo|inject failed`);
      assert.equal(body.event.event, "run_status_changed");
      assert.deepEqual(body.event.params, {
        commandKey: "demo|inject",
        runStatus: "failed",
        messageId: failing.id,
      });

      const notify = (await pluginsLs(ctx, "demo")).find((p) => p.name === "notify-failures");
      assert.equal(notify.permissions, `net=127.0.0.1:${r.port} env=FAILURE_WEBHOOK_URL`);
    });
  } finally {
    await r.server.shutdown();
  }
});

Deno.test("a second daemon on a [server] bind already served says what to do, and exits 1", async () => {
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const tmp = await tempDir();
  try {
    await Deno.mkdir(join(tmp.path, "plugins"));
    await config(tmp.path, `[server]\nbind = "127.0.0.1:${held.addr.port}"\n`);
    const r = await cli([
      "run",
      "--name",
      "second",
      "--daemon",
      "--plugins",
      join(tmp.path, "plugins"),
    ], {
      env: envFor(tmp.path),
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /Plugin server cannot listen on '127\.0\.0\.1:\d+': .*another daemon may serve plugins there: give this one another \[server\] bind, or --plugins another folder/,
    );
    // It never started, so it is not listed as a session that ran.
    const ls = await cli(["sessions", "--json"], { env: envFor(tmp.path) });
    assert.equal(ls.code, 0, ls.stderr);
    assert.doesNotMatch(ls.stdout, /"second"/);
  } finally {
    held.close();
    await tmp.cleanup();
  }
});
