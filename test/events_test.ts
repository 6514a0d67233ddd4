/**
 * End-to-end tests of event hooks (docs/event-hooks.md, with `emit`, `hooks test` and `config
 * check`): the real CLI and real sessions in-process, real shell commands, real HTTP receivers.
 */
import { Webhook } from "standardwebhooks";
import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, config, envFor, receiver, script, tempDir } from "./_helpers.ts";
import { alive, until } from "./_poll.ts";
import { InSession } from "./_session.ts";
import { withDaemon } from "./_hostile.ts";

// ---------------------------------------------------------------------------------------------
// Helpers

// deno-lint-ignore no-explicit-any
type Json = any;

/** Writes `hooks` as `hooks.json` into `dir` (next to the config) and returns its path. */
async function writeHooks(dir: string, hooks: unknown): Promise<string> {
  const path = join(dir, "hooks.json");
  await Deno.writeTextFile(path, JSON.stringify(hooks, null, 2));
  return path;
}

/** Lines of `path` (none when it does not exist). */
async function lines(path: string): Promise<string[]> {
  try {
    return (await Deno.readTextFile(path)).split("\n").filter((l) => l.trim());
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

/**
 * A script that saves its stdin (the event JSON) atomically as `<dir>/<random>.<kind>.json`, so
 * concurrent hooks never interleave their output.
 */
async function recorder(dir: string): Promise<string> {
  return await script(
    dir,
    "record.sh",
    `f=$(mktemp "${dir}/.rec.XXXXXX")\ncat > "$f"\nmv "$f" "$f.$1.json"`,
  );
}

/** The event JSONs `recorder` saved for `kind`, oldest timestamp first. */
async function recorded(dir: string, kind: string): Promise<Json[]> {
  const out: Json[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.name.endsWith(`.${kind}.json`)) {
      out.push(JSON.parse(await Deno.readTextFile(join(dir, e.name))));
    }
  }
  return out.sort((a, b) => a.timestamp - b.timestamp);
}

/** Waits until `recorder` saved `n` events of `kind` (saying what `d` logged if not). */
function waitRecorded(
  dir: string,
  d: InSession,
): (kind: string, n: number) => Promise<Json[]> {
  return async (kind, n) => {
    await until(
      async () => (await recorded(dir, kind)).length >= n,
      () => `${n} ${kind} event(s)\n${d.stderr}`,
    );
    return await recorded(dir, kind);
  };
}

const EVENT_KEYS = ["event", "fullEvent", "params", "timestamp"];

/** Opens a daemon session in-process with `dir`'s config and hooks.json; the caller stops it. */
function daemon(dir: string, name: string, hooks: string[] = []): Promise<InSession> {
  return InSession.open({ dir, name, hooks, eventsFile: join(dir, "hooks.json") });
}

/** POSTs `body` to `addr` and returns the status, consuming the answer. */
async function post(addr: string, body: string): Promise<number> {
  const res = await fetch(`http://${addr}/`, { method: "POST", body });
  await res.body?.cancel();
  return res.status;
}

// ---------------------------------------------------------------------------------------------
// emit

Deno.test("emit: a command hook and an http hook get exactly the documented event JSON", async () => {
  const tmp = await tempDir();
  const r = receiver();
  try {
    const out = join(tmp.path, "stdin.json");
    await config(tmp.path, "");
    await writeHooks(tmp.path, {
      my_event: [{
        hooks: [
          { type: "command", command: `cat > '${out}'` },
          { type: "http", url: `${r.url}/in` },
        ],
      }],
    });
    const before = Date.now();
    const res = await cli(["emit", "my_event", "--params", '{"commandKey":"x"}'], {
      env: envFor(tmp.path),
    });
    const after = Date.now();
    assert.equal(res.code, 0, res.stderr);

    const text = await Deno.readTextFile(out);
    const data = JSON.parse(text);
    assert.deepEqual(Object.keys(data), EVENT_KEYS);
    assert.deepEqual(
      { ...data, timestamp: 0 },
      { event: "my_event", fullEvent: "event-my_event", params: { commandKey: "x" }, timestamp: 0 },
    );
    assert.ok(
      Number.isInteger(data.timestamp) && before <= data.timestamp && data.timestamp <= after,
      `timestamp ${data.timestamp} is Unix ms of the emit`,
    );

    assert.equal(r.requests.length, 1);
    const [req] = r.requests;
    assert.equal(req.method, "POST");
    assert.equal(req.path, "/in");
    assert.equal(req.contentType, "application/json");
    assert.deepEqual(JSON.parse(req.body), data, "http body = command stdin");
  } finally {
    await r.server.shutdown();
    await tmp.cleanup();
  }
});

Deno.test("emit: exit 1 when a hook fails (the others still run); exit 2 on bad --params", async () => {
  const tmp = await tempDir();
  const r = receiver(() => new Response("no", { status: 500 }));
  try {
    const ran = join(tmp.path, "ran");
    await config(tmp.path, "");
    await writeHooks(tmp.path, {
      bad_cmd: [{
        hooks: [
          { type: "command", command: "echo why >&2; exit 5" },
          { type: "command", command: `echo bad_cmd >> '${ran}'` },
        ],
      }],
      bad_http: [{
        hooks: [
          { type: "http", url: r.url },
          { type: "command", command: `echo bad_http >> '${ran}'` },
        ],
      }],
      fine: [{ hooks: [{ type: "command", command: `echo fine >> '${ran}'` }] }],
    });
    const env = envFor(tmp.path);

    const cmd = await cli(["emit", "bad_cmd"], { env });
    assert.equal(cmd.code, 1, cmd.stderr);
    assert.match(cmd.stderr, /1 of 2 hook\(s\) for 'bad_cmd' failed/);
    assert.match(cmd.stderr, /bad_cmd\[0\]\.hooks\[0\]\) failed: exit code 5/);

    const http = await cli(["emit", "bad_http"], { env });
    assert.equal(http.code, 1, http.stderr);
    assert.match(http.stderr, /failed: HTTP 500/);
    assert.equal(r.requests.length, 1);

    const fine = await cli(["emit", "fine"], { env });
    assert.equal(fine.code, 0, fine.stderr);
    const none = await cli(["emit", "nobody_listens", "--params", "{}"], { env });
    assert.equal(none.code, 0, none.stderr);
    assert.deepEqual((await lines(ran)).sort(), ["bad_cmd", "bad_http", "fine"]);

    for (const params of ["{not json", "[1,2]", '"str"', "null"]) {
      const bad = await cli(["emit", "fine", "--params", params], { env });
      assert.equal(bad.code, 2, `${params}: ${bad.stderr}`);
      assert.match(bad.stderr, /--params/, params);
      assert.doesNotMatch(bad.stderr, /\n\s+at /, "no stack trace");
    }
    assert.deepEqual((await lines(ran)).sort(), ["bad_cmd", "bad_http", "fine"], "nothing ran");
  } finally {
    await r.server.shutdown();
    await tmp.cleanup();
  }
});

Deno.test("emit: finds the events file by --events, then HOOKHOST_EVENTS, then next to the config", async () => {
  const tmp = await tempDir();
  try {
    const ran = join(tmp.path, "ran");
    const hooks = (name: string) =>
      JSON.stringify({
        ev: [{ hooks: [{ type: "command", command: `echo ${name} >> '${ran}'` }] }],
      });
    await config(tmp.path, "");
    await Deno.writeTextFile(join(tmp.path, "hooks.json"), hooks("beside-config"));
    await Deno.writeTextFile(join(tmp.path, "env.json"), hooks("env"));
    await Deno.writeTextFile(join(tmp.path, "flag.json"), hooks("flag"));
    const env = envFor(tmp.path);
    const withEnv = { ...env, HOOKHOST_EVENTS: join(tmp.path, "env.json") };
    const runs = [
      await cli(["emit", "ev"], { env }),
      await cli(["emit", "ev"], { env: withEnv }),
      await cli(["emit", "ev", "--events", join(tmp.path, "flag.json")], { env: withEnv }),
    ];
    for (const res of runs) assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(await lines(ran), ["beside-config", "env", "flag"]);
  } finally {
    await tmp.cleanup();
  }
});

// ---------------------------------------------------------------------------------------------
// matchers

Deno.test("emit: matchers select hooks by commandKey (else subject); empty or absent match all", async () => {
  const tmp = await tempDir();
  try {
    const ran = join(tmp.path, "ran");
    const cmd = (name: string) => ({ type: "command", command: `echo ${name} >> '${ran}'` });
    await config(tmp.path, "");
    await writeHooks(tmp.path, {
      ev: [
        { matcher: "^deploy\\|", hooks: [cmd("match")] },
        { matcher: "^nightly$", hooks: [cmd("nightly")] },
        { matcher: "", hooks: [cmd("empty")] },
        { hooks: [cmd("absent")] },
      ],
    });
    const env = envFor(tmp.path);
    const emit = async (params: string) => {
      await Deno.remove(ran).catch(() => {});
      const res = await cli(["emit", "ev", "--params", params], { env });
      assert.equal(res.code, 0, res.stderr);
      return (await lines(ran)).sort();
    };
    assert.deepEqual(await emit('{"commandKey":"deploy|prod"}'), ["absent", "empty", "match"]);
    assert.deepEqual(await emit('{"commandKey":"predeploy|x"}'), ["absent", "empty"]);
    assert.deepEqual(await emit('{"subject":"nightly"}'), ["absent", "empty", "nightly"]);
    assert.deepEqual(await emit("{}"), ["absent", "empty"]);
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("config check: an invalid matcher regex is exit 2 with file:line:col and the JSON path", async () => {
  const tmp = await tempDir();
  try {
    await config(tmp.path, "");
    const path = join(tmp.path, "hooks.json");
    await Deno.writeTextFile(
      path,
      `{
  "run_status_changed": [
    { "hooks": [ { "type": "command", "command": "true" } ] },
    { "matcher": "chat_(ai", "hooks": [ { "type": "command", "command": "true" } ] }
  ]
}
`,
    );
    const env = envFor(tmp.path);
    const res = await cli(["config", "check"], { env });
    assert.equal(res.code, 2, res.stdout + res.stderr);
    assert.ok(
      res.stderr.includes(`${path}:4:18: run_status_changed[1].matcher: Invalid regex 'chat_(ai'`),
      res.stderr,
    );
    assert.doesNotMatch(res.stderr, /\n\s+at /, "no stack trace");

    // The same file refuses emit and hooks test too, rather than silently running nothing.
    const emit = await cli(["emit", "run_status_changed"], { env });
    assert.equal(emit.code, 2, emit.stderr);
    assert.ok(emit.stderr.includes(`${path}:4:18`), emit.stderr);

    // Fixed: check passes and counts the hooks.
    await Deno.writeTextFile(
      path,
      (await Deno.readTextFile(path)).replace("chat_(ai", "chat_(ai)"),
    );
    const ok = await cli(["config", "check"], { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /hooks\.json: ok, 2 event hook\(s\) for 1 event\(s\)/);
  } finally {
    await tmp.cleanup();
  }
});

// ---------------------------------------------------------------------------------------------
// concurrency and timeouts

Deno.test("emit: two slow hooks of one event run at the same time", async () => {
  const tmp = await tempDir();
  try {
    const d = tmp.path;
    const slow = (n: number) => ({
      type: "command",
      command: `date +%s%N > '${d}/start${n}'; sleep 1; date +%s%N > '${d}/end${n}'`,
    });
    await config(d, "");
    await writeHooks(d, { ev: [{ hooks: [slow(1)] }, { hooks: [slow(2)] }] });
    const res = await cli(["emit", "ev"], { env: envFor(d) });
    assert.equal(res.code, 0, res.stderr);
    const t = async (name: string) => BigInt((await Deno.readTextFile(join(d, name))).trim());
    const [s1, e1, s2, e2] = await Promise.all(["start1", "end1", "start2", "end2"].map(t));
    assert.ok(s1 < e2 && s2 < e1, `runs overlap: [${s1}, ${e1}] and [${s2}, ${e2}]`);
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("emit: a hanging hook is killed at its timeout and the other hooks still fire", async () => {
  const tmp = await tempDir();
  try {
    const d = tmp.path;
    const ran = join(d, "ran");
    const pids = join(d, "pids");
    // One slot: the second hook can only run once the hanging one gave its slot back.
    await config(d, "[events]\nmax_concurrent = 1\n");
    await writeHooks(d, {
      ev: [{
        hooks: [
          {
            type: "command",
            command: `sleep 30 >/dev/null 2>&1 & echo "$$ $!" >> '${pids}'; wait`,
            timeout: 500,
          },
          { type: "command", command: `echo fired >> '${ran}'` },
        ],
      }],
    });
    const env = envFor(d);
    for (let n = 1; n <= 2; n++) {
      const res = await cli(["emit", "ev"], { env });
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, /timed out after 500 ms and was killed/);
      assert.match(res.stderr, /1 of 2 hook\(s\) for 'ev' failed/);
      assert.deepEqual(await lines(ran), Array(n).fill("fired"));
      const [shell, sleeper] = (await lines(pids))[n - 1].split(" ").map(Number);
      assert.equal(await alive(shell), false, `hook shell ${shell} is gone`);
      await until(async () => !(await alive(sleeper)), () => `sleep ${sleeper} to be gone`, 3000);
    }
  } finally {
    await tmp.cleanup();
  }
});

// ---------------------------------------------------------------------------------------------
// live reload in a daemon

Deno.test("daemon: hooks.json edits apply without restart; a broken edit keeps the old hooks", async () => {
  const tmp = await tempDir();
  let d: InSession | undefined;
  try {
    const dir = tmp.path;
    const ran = join(dir, "ran");
    await script(dir, "in.sh", "cat");
    await config(dir, `[[hooks]]\nname = "in"\nbind = "127.0.0.1:0"\nscript = "./in.sh"\n`);
    const hooks = (tag: string) => ({
      message_received: [{ hooks: [{ type: "command", command: `echo ${tag} >> '${ran}'` }] }],
    });
    const path = await writeHooks(dir, hooks("v1"));
    d = await daemon(dir, "live", ["in"]);
    const addr = await d.addr("in");
    const proc = d;
    const fire = async (n: number, want: string[]) => {
      assert.equal(await post(addr, `message ${n}`), 200);
      await until(
        async () => (await lines(ran)).length >= want.length,
        () => `${want.length} hook runs\n${proc.stderr}`,
      );
      assert.deepEqual(await lines(ran), want);
    };

    await fire(1, ["v1"]);
    await Deno.writeTextFile(path, JSON.stringify(hooks("v2-edited-in-place")));
    await fire(2, ["v1", "v2-edited-in-place"]);

    const tmpFile = join(dir, ".hooks.json.tmp");
    await Deno.writeTextFile(tmpFile, JSON.stringify(hooks("v3-renamed")));
    await Deno.rename(tmpFile, path);
    await fire(3, ["v1", "v2-edited-in-place", "v3-renamed"]);

    // Broken: a command hook without its command, on line 3.
    await Deno.writeTextFile(
      path,
      `{\n  "message_received": [\n    { "hooks": [ { "type": "command" } ] }\n  ]\n}\n`,
    );
    await fire(4, ["v1", "v2-edited-in-place", "v3-renamed", "v3-renamed"]);
    await fire(5, ["v1", "v2-edited-in-place", "v3-renamed", "v3-renamed", "v3-renamed"]);
    const errors = d.stderr.split("\n").filter((l) =>
      l.includes("keeping the previous event hooks")
    );
    assert.equal(errors.length, 1, d.stderr);
    assert.ok(errors[0].includes(`${path}:3:18`), errors[0]);
    assert.match(
      errors[0],
      /message_received\[0\]\.hooks\[0\]\.command: Command hook needs a non-empty 'command'/,
    );
    assert.match(errors[0], /ERROR/);

    await Deno.writeTextFile(path, JSON.stringify(hooks("v4-fixed")));
    await fire(6, [
      "v1",
      "v2-edited-in-place",
      "v3-renamed",
      "v3-renamed",
      "v3-renamed",
      "v4-fixed",
    ]);

    await d.stop();
    d = undefined;
  } finally {
    await d?.stop();
    await tmp.cleanup();
  }
});

// ---------------------------------------------------------------------------------------------
// built-in events

Deno.test("daemon: built-in events run_status_changed, session_list_changed, hook_failed, message_received", async () => {
  const tmp = await tempDir();
  let d: InSession | undefined;
  try {
    const dir = tmp.path;
    const rec = await recorder(dir);
    await script(dir, "bad.sh", "cat > /dev/null; echo oops >&2; exit 1");
    await config(dir, `[[hooks]]\nname = "bad"\nbind = "127.0.0.1:0"\nscript = "./bad.sh"\n`);
    const on = (event: string) => [{ hooks: [{ type: "command", command: `'${rec}' ${event}` }] }];
    await writeHooks(dir, {
      run_status_changed: on("run_status_changed"),
      session_list_changed: on("session_list_changed"),
      hook_failed: on("hook_failed"),
      message_received: on("message_received"),
    });
    d = await daemon(dir, "bi", ["bad"]);
    const wait = waitRecorded(dir, d);

    const [started] = await wait("session_list_changed", 1);
    assert.deepEqual(started.params, { commandKey: "bi", change: "started" });

    const sent = await d.control({ op: "send", content: "hello" });
    assert.ok(sent.ok, JSON.stringify(sent));
    const injected = await d.waitFor((r) => r.type === "injected");
    assert.equal(injected.content, "hello");
    const id = injected.id;
    assert.equal(sent.id, id);

    const statuses = await wait("run_status_changed", 2);
    assert.equal(statuses.length, 2);
    assert.deepEqual(
      statuses.map((e) => e.params).sort((a, b) => a.runStatus.localeCompare(b.runStatus)),
      [
        { commandKey: "bi|inject", runStatus: "completed", messageId: id },
        { commandKey: "bi|inject", runStatus: "running", messageId: id },
      ],
    );
    const running = statuses.find((e) => e.params.runStatus === "running");
    const completed = statuses.find((e) => e.params.runStatus === "completed");
    assert.ok(running.timestamp <= completed.timestamp, "running comes before completed");

    const [received] = await wait("message_received", 1);
    assert.deepEqual(received.params, {
      commandKey: "bi|inject",
      messageId: id,
      source: "inject",
      label: "inject",
    });

    assert.equal(await post(await d.addr("bad"), "payload"), 500);
    const [failed] = await wait("hook_failed", 1);
    assert.deepEqual(failed.params, { commandKey: "bad", status: 500, exitCode: 1 });

    await d.stop();
    d = undefined;
    const sessions = await recorded(dir, "session_list_changed");
    assert.deepEqual(sessions.map((e) => e.params), [
      { commandKey: "bi", change: "started" },
      { commandKey: "bi", change: "stopped" },
    ]);

    const all = [
      ...sessions,
      ...statuses,
      received,
      failed,
    ];
    for (const e of all) {
      assert.deepEqual(Object.keys(e), EVENT_KEYS);
      assert.equal(e.fullEvent, `event-${e.event}`);
      assert.ok(Number.isInteger(e.timestamp));
    }
    assert.equal(
      (await recorded(dir, "run_status_changed")).length,
      2,
      "no other status change (nothing failed)",
    );
  } finally {
    await d?.stop();
    await tmp.cleanup();
  }
});

Deno.test("daemon: EnConvo's wrapped format, enabled: false skipped, SessionStart, UserPromptSubmit and Stop", async () => {
  const tmp = await tempDir();
  let d: InSession | undefined;
  try {
    const dir = tmp.path;
    const rec = await recorder(dir);
    await config(dir, "");
    const on = (event: string, extra: Json = {}) => ({
      ...extra,
      hooks: [{ type: "command", command: `'${rec}' ${event}` }],
    });
    await writeHooks(dir, {
      hooks: {
        SessionStart: [on("SessionStart")],
        // The matcher is tested against the message's source kind: only `inject` matches.
        UserPromptSubmit: [
          on("UserPromptSubmit", { matcher: "^inject$" }),
          on("never", { matcher: "^webhook$" }),
        ],
        Stop: [on("Stop", { enabled: true }), on("disabled", { enabled: false })],
      },
    });
    const check = await cli(["config", "check"], { env: envFor(dir) });
    assert.equal(check.code, 0, check.stderr);
    d = await daemon(dir, "lc");
    const wait = waitRecorded(dir, d);
    const [start] = await wait("SessionStart", 1);
    assert.deepEqual(start.params, { commandKey: "lc", session: "lc" });
    const sent = await d.control({ op: "send", content: "hello" });
    assert.ok(sent.ok, JSON.stringify(sent));
    const [submit] = await wait("UserPromptSubmit", 1);
    assert.deepEqual(submit.params, {
      commandKey: "inject",
      session: "lc",
      messageId: sent.id,
      source: "inject",
      label: "inject",
    });
    const [stop] = await wait("Stop", 1);
    assert.deepEqual(stop.params, { ...submit.params, outcome: "completed" });
    assert.ok(submit.timestamp <= stop.timestamp);
    await d.stop();
    d = undefined;
    assert.deepEqual(
      await recorded(dir, "disabled"),
      [],
      "an entry with enabled: false never runs",
    );
    assert.deepEqual(await recorded(dir, "never"), [], "its matcher did not match 'inject'");
  } finally {
    await d?.stop();
    await tmp.cleanup();
  }
});

Deno.test("config check: a problem in the wrapped format is reported at its path below 'hooks'", async () => {
  const tmp = await tempDir();
  try {
    await config(tmp.path, "");
    await Deno.writeTextFile(
      join(tmp.path, "hooks.json"),
      `{\n  "hooks": {\n    "Stop": [{ "enabled": "no", "hooks": [] }]\n  }\n}\n`,
    );
    const check = await cli(["config", "check"], { env: envFor(tmp.path) });
    assert.equal(check.code, 2, check.stderr);
    assert.match(
      check.stderr,
      /hooks\.json:3:\d+: hooks\.Stop\[0\]\.enabled: Enabled must be true or false/,
    );
  } finally {
    await tmp.cleanup();
  }
});

// ---------------------------------------------------------------------------------------------
// event storm

Deno.test("daemon: 1,000 events with max_concurrent = 4 run every hook, never more than 4 at once", async () => {
  const tmp = await tempDir();
  let d: InSession | undefined;
  try {
    const dir = tmp.path;
    const log = join(dir, "storm.log");
    await script(dir, "in.sh", "cat");
    const storm = await script(
      dir,
      "storm.sh",
      [
        "IFS= read -r s || true",
        "t0=$(date +%s%N)",
        "sleep 0.01",
        'id=${s#*\\"messageId\\":\\"}; id=${id%%\\"*}',
        'st=${s#*\\"runStatus\\":\\"}; st=${st%%\\"*}',
        "t1=$(date +%s%N)",
        `echo "$t0 $t1 $st $id" >> '${log}'`,
      ].join("\n"),
    );
    await config(
      dir,
      `[events]\nmax_concurrent = 4\n\n[[hooks]]\nname = "in"\nbind = "127.0.0.1:0"\nscript = "./in.sh"\n`,
    );
    await writeHooks(dir, {
      run_status_changed: [{ hooks: [{ type: "command", command: storm }] }],
    });
    d = await daemon(dir, "storm", ["in"]);
    const addr = await d.addr("in");

    const MESSAGES = 500;
    for (let i = 0; i < MESSAGES; i += 25) {
      const batch = Array.from({ length: Math.min(25, MESSAGES - i) }, (_, k) => i + k);
      const statuses = await Promise.all(batch.map((n) => post(addr, `m${n}`)));
      assert.deepEqual(statuses, batch.map(() => 200));
    }
    const proc = d;
    await until(
      async () => (await lines(log)).length >= 2 * MESSAGES,
      () => `${2 * MESSAGES} hook runs, have ${proc.stderr}`,
      45_000,
    );
    await d.stop();
    d = undefined;

    const runs = (await lines(log)).map((l) => {
      const [t0, t1, status, id] = l.split(" ");
      return { t0: BigInt(t0), t1: BigInt(t1), status, id };
    });
    assert.equal(runs.length, 2 * MESSAGES, "every event ran its hook once");
    const byId = new Map<string, string[]>();
    for (const r of runs) byId.set(r.id, [...(byId.get(r.id) ?? []), r.status]);
    assert.equal(byId.size, MESSAGES);
    for (const [id, s] of byId) assert.deepEqual(s.sort(), ["completed", "running"], id);

    // Sweep over start/end points; at equal times ends go first (never overstates overlap).
    const points = runs.flatMap((r) => [[r.t0, 1], [r.t1, -1]] as [bigint, number][])
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
    let now = 0;
    let max = 0;
    for (const [, delta] of points) {
      now += delta;
      max = Math.max(max, now);
    }
    assert.ok(max <= 4, `${max} hooks ran at once`);
    assert.ok(max >= 2, `hooks did run concurrently (max ${max})`);
  } finally {
    await d?.stop();
    await tmp.cleanup();
  }
});

// ---------------------------------------------------------------------------------------------
// hooks test

Deno.test("hooks test: one report line per hook with outcome, duration and output; exit 1 on failure", async () => {
  const tmp = await tempDir();
  const r = receiver(() => new Response("created", { status: 201 }));
  try {
    const file = await writeHooks(tmp.path, {
      ev: [{
        hooks: [
          { type: "command", command: "echo hello from hook" },
          { type: "command", command: "echo broken >&2; exit 4" },
          { type: "http", url: `${r.url}/h` },
        ],
      }],
      fine: [{ hooks: [{ type: "command", command: "cat > /dev/null; echo fine" }] }],
      gated: [{ matcher: "^only$", hooks: [{ type: "command", command: "echo gated" }] }],
    });
    await config(tmp.path, "");
    const env = envFor(tmp.path);

    const res = await cli(["hooks", "test", "ev", "--params", '{"commandKey":"k"}'], { env });
    assert.equal(res.code, 1, res.stdout + res.stderr);
    const out = res.stdout;
    const reports = out.split("\n").filter((l) => /^(ok|FAIL)\b/.test(l));
    assert.equal(reports.length, 3, out);
    assert.match(
      out,
      /^ok +ev\[0\]\.hooks\[0\]: command "echo hello from hook" → exit 0 in \d+ ms\n +\| hello from hook$/m,
    );
    assert.match(
      out,
      /^FAIL ev\[0\]\.hooks\[1\]: command "echo broken >&2; exit 4" → exit 4 in \d+ ms\n(.*\n)*? +\| broken$/m,
    );
    assert.match(
      out,
      /^ok +ev\[0\]\.hooks\[2\]: http POST http:\/\/127\.0\.0\.1:\d+\/h → HTTP 201 in \d+ ms\n +\| created$/m,
    );
    assert.equal(r.requests.length, 1);
    const body = JSON.parse(r.requests[0].body);
    assert.deepEqual(Object.keys(body), EVENT_KEYS);
    assert.deepEqual(body.params, { commandKey: "k" });
    assert.equal(body.fullEvent, "event-ev");

    const fine = await cli(["hooks", "test", "fine"], { env });
    assert.equal(fine.code, 0, fine.stdout + fine.stderr);
    assert.match(fine.stdout, /^ok +fine\[0\]\.hooks\[0\]: .* → exit 0 in \d+ ms\n +\| fine$/m);

    for (const [event, params] of [["nothing_here", "{}"], ["gated", '{"commandKey":"other"}']]) {
      const none = await cli(["hooks", "test", event, "--params", params], { env });
      assert.equal(none.code, 0, none.stdout + none.stderr);
      assert.ok(none.stdout.includes(`No hook in ${file} matches '${event}'`), none.stdout);
      assert.doesNotMatch(none.stdout, /^(ok|FAIL)\b/m);
    }
  } finally {
    await r.server.shutdown();
    await tmp.cleanup();
  }
});

Deno.test("emit: an http hook with secret_env is signed with Standard Webhooks headers its receiver verifies", async () => {
  const tmp = await tempDir();
  const secret = "whsec_" + btoa("a receiver's shared key, 32 bytes");
  const got: { body: string; headers: Record<string, string>; verified: unknown }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.text();
    const headers = Object.fromEntries(req.headers);
    let verified: unknown;
    try {
      verified = new Webhook(secret).verify(body, headers);
    } catch (e) {
      verified = (e as Error).message;
    }
    got.push({ body, headers, verified });
    return new Response("ok");
  });
  try {
    await config(tmp.path, "");
    await writeHooks(tmp.path, {
      my_event: [{
        hooks: [{
          type: "http",
          url: `http://127.0.0.1:${server.addr.port}/`,
          secret_env: "OUT_SECRET",
        }],
      }],
    });
    const res = await cli(["emit", "my_event", "--params", '{"commandKey":"x"}'], {
      env: envFor(tmp.path, { OUT_SECRET: secret }),
    });
    assert.equal(res.code, 0, res.stderr);
    assert.equal(got.length, 1);
    const [req] = got;
    assert.deepEqual(req.verified, JSON.parse(req.body), "the reference package verified it");
    assert.match(req.headers["webhook-id"], /^msg_[0-9a-f]{32}$/);
    assert.match(req.headers["webhook-signature"], /^v1,[A-Za-z0-9+/]+=*$/);

    // Unset or not a whsec_ secret: a problem of hooks.json, and nothing is sent unsigned.
    for (const env of [{}, { OUT_SECRET: "plain" }] as Record<string, string>[]) {
      const check = await cli(["config", "check"], { env: envFor(tmp.path, env) });
      assert.equal(check.code, 2, check.stderr);
      assert.match(check.stderr, /hooks\.json:\d+:\d+: my_event\[0\]\.hooks\[0\]\.secret_env: /);
      assert.ok(!check.stderr.includes("plain"), "the value is not printed");
    }
    assert.equal(got.length, 1);
  } finally {
    await server.shutdown();
    await tmp.cleanup();
  }
});

Deno.test("emit from the shell reaches a running daemon's plugins (on.EVENT), and its hooks.json runs once", async () => {
  const plugin = `export default {
    on: { async deployed(event, ctx) { await ctx.inject("deployed " + event.params.env); } },
  };`;
  await withDaemon({
    toml: '[server]\nbind = "127.0.0.1:0"\n',
    hooks: [],
    plugins: { "watcher.ts": plugin },
  }, async ({ d, dir, port }) => {
    await port("server");
    const rec = await recorder(dir);
    await writeHooks(dir, {
      deployed: [{ hooks: [{ type: "command", command: `'${rec}' deployed` }] }],
    });
    const emitted = await cli(["emit", "deployed", "--params", '{"env":"prod"}'], {
      env: envFor(dir),
    });
    assert.equal(emitted.code, 0, emitted.stderr);
    const injected = await d.waitFor((r) => r.type === "injected");
    assert.equal(injected.content, "deployed prod");
    assert.equal(injected.source_label, "plugin watcher");
    // --name picks the daemon; an unknown one is not running, which is no error.
    const named = await cli(
      ["emit", "deployed", "--name", "hostile", "--params", '{"env":"dev"}'],
      {
        env: envFor(dir),
      },
    );
    assert.equal(named.code, 0, named.stderr);
    await d.waitFor((r) => r.type === "injected" && r.content === "deployed dev");
    const nobody = await cli(["emit", "deployed", "--name", "nobody"], { env: envFor(dir) });
    assert.equal(nobody.code, 0, nobody.stderr);
    assert.equal(
      (await recorded(dir, "deployed")).length,
      3,
      "the CLI ran hooks.json each time, the daemon not again",
    );
  });
});

Deno.test("daemon: event hook runs refused past queue_limit are counted per event in sessions --json, and logged", async () => {
  const toml = "[events]\nmax_concurrent = 1\nqueue_limit = 1\n";
  await withDaemon({ toml, hooks: [] }, async ({ d, dir }) => {
    await d.waitFor((r) => r.type === "ready");
    const slow = { type: "command", command: "sleep 1" };
    await writeHooks(dir, { message_received: [{ hooks: [slow, slow, slow] }] });
    const sent = await cli(["send", "--name", "hostile", "hi"], { env: envFor(dir) });
    assert.equal(sent.code, 0, sent.stderr);
    await until(() => /refused since the last such line, 1 in all/.test(d.stderr), () => d.stderr);
    const ls = await cli(["sessions", "--json"], { env: envFor(dir) });
    assert.equal(ls.code, 0, ls.stderr);
    const row = ls.stdout.trim().split("\n").map((l) => JSON.parse(l)).find((r) =>
      r.name === "hostile"
    );
    assert.deepEqual(row.event_refusals, { message_received: 1 }, ls.stdout);
  });
});
