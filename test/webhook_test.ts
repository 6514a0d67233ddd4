/**
 * End-to-end tests of webhook hooks (docs/webhook-scripts.md) and their output records: a real
 * session in-process (or, for what needs a process, a `hookhost run --daemon` subprocess), real
 * HTTP to the address of its `listening` record, real shell scripts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  cli,
  config,
  envFor,
  type HookSpec,
  hooksToml,
  Proc,
  type Rec,
  request,
  script,
  tempDir,
} from "./_helpers.ts";
import { alive, eventually, exists, scaled } from "./_poll.ts";
import { InSession } from "./_session.ts";

// ---------------------------------------------------------------------------------------------
// Helpers

/** What a test body gets. */
interface Ctx {
  /** The temp folder (scripts, config, state). */
  dir: string;
  /** The session: in-process, or the subprocess with `process: true`. */
  d: Proc | InSession;
  /** The daemon's environment (for more CLI calls on the same state). */
  env: Record<string, string>;
  /** `http://host:port` of `hook`, from its `listening` record. */
  base: (hook: string) => Promise<string>;
}

/** A `cat` hook added to every daemon: its messages prove what was injected before them. */
const SENTINEL = "sentinel";

/**
 * Writes `scripts` (name → shell body; `$DIR` in a body is replaced by the temp folder) and a
 * config with `hooks` plus the sentinel hook, opens the session in-process serving all of them
 * (with `process`, or `env`, starts `run --name SESSION --daemon --format jsonl` instead), runs
 * `body`, then stops it (asserting exit 0) and removes the folder.
 */
async function withDaemon(
  options: {
    session?: string;
    scripts: Record<string, string>;
    hooks: HookSpec[];
    env?: Record<string, string>;
    /** TOML put before the `[[hooks]]` tables (e.g. a `[session]` table). */
    toml?: string;
    /** Run `hookhost run --daemon` as a subprocess (for signals, exit codes, its env). */
    process?: boolean;
  },
  body: (ctx: Ctx) => Promise<void>,
): Promise<void> {
  const tmp = await tempDir();
  let d: Proc | InSession | undefined;
  let code: number | undefined;
  try {
    for (const [name, text] of Object.entries(options.scripts)) {
      await script(tmp.path, name, text.replaceAll("$DIR", tmp.path));
    }
    await script(tmp.path, "sentinel.sh", "cat");
    const hooks = [...options.hooks, { name: SENTINEL, script: "./sentinel.sh" }];
    await config(tmp.path, `${options.toml ?? ""}\n${hooksToml(hooks)}`);
    const args = ["run", "--name", options.session ?? "wh", "--daemon", "--format", "jsonl"];
    for (const h of hooks) args.push("--hook", h.name);
    const env = envFor(tmp.path, options.env);
    d = options.process || options.env ? Proc.start(args, { env }) : await InSession.open({
      dir: tmp.path,
      name: options.session ?? "wh",
      hooks: hooks.map((h) => h.name),
    });
    const proc = d;
    await body({
      dir: tmp.path,
      d: proc,
      env,
      base: async (hook) => `http://${await proc.addr(hook)}`,
    });
  } finally {
    if (d instanceof Proc) code = await d.stop();
    else if (d) code = await d.stop().then(() => 0);
    await tmp.cleanup();
  }
  assert.equal(code, 0, `daemon exit code; stderr:\n${d?.stderr}`);
}

const isInjected = (r: Rec) => r.type === "injected";

/**
 * Sends a unique message through the sentinel hook and waits for it: since the inbox is FIFO per
 * source, every webhook message accepted before it has been output by then. Returns the
 * `injected` records before the sentinel's.
 */
async function injectedBeforeSentinel(ctx: Ctx): Promise<Rec[]> {
  const mark = `sentinel-${crypto.randomUUID()}`;
  const res = await request(`${await ctx.base(SENTINEL)}/`, { method: "POST", body: mark });
  assert.equal(res.status, 200, `sentinel hook answered ${res.status} ${res.text}`);
  await ctx.d.waitFor((r) => isInjected(r) && r.content === mark);
  const all = ctx.d.records.filter(isInjected);
  return all.slice(0, all.findIndex((r) => r.content === mark));
}

/** Waits until `hook` has `n` `hook_run` records and returns them. */
function hookRuns(d: Proc | InSession, hook: string, n = 1): Promise<Rec[]> {
  return d.waitForCount((r) => r.type === "hook_run" && r.hook === hook, n);
}

/** Asserts a `hook_run` record's fields. */
function assertHookRun(run: Rec, hook: string, status: number, exitCode?: number | null): void {
  assert.equal(run.hook, hook);
  assert.equal(run.status, status, JSON.stringify(run));
  assert.ok("exit_code" in run, `hook_run without exit_code: ${JSON.stringify(run)}`);
  if (exitCode !== undefined) assert.equal(run.exit_code, exitCode, JSON.stringify(run));
  assert.equal(typeof run.duration_ms, "number", JSON.stringify(run));
  assert.ok(run.duration_ms >= 0, JSON.stringify(run));
  assert.equal(typeof run.session_id, "string");
  assert.equal(typeof run.ts, "string");
}

async function readPid(path: string): Promise<number> {
  let pid = NaN;
  const ok = await eventually(async () => {
    try {
      pid = Number((await Deno.readTextFile(path)).trim());
      return pid > 0;
    } catch {
      return false;
    }
  });
  assert.ok(ok, `${path} was never written`);
  return pid;
}

function killQuietly(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

function randomLetters(n: number): string {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  let s = "";
  const CHUNK = 8192;
  for (let i = 0; i < n; i += CHUNK) {
    s += String.fromCharCode(...bytes.subarray(i, i + CHUNK).map((b) => 97 + (b % 26)));
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// The outcome table of docs/webhook-scripts.md

Deno.test("a script that exits 0 with output answers 200 'ok' and injects its trimmed stdout", async () => {
  await withDaemon({
    session: "gh",
    scripts: { "push.sh": `cat >/dev/null\nprintf '  \\n  first line\\nsecond line  \\n\\n'` },
    hooks: [{ name: "github-push", script: "./push.sh" }],
  }, async (ctx) => {
    const res = await request(`${await ctx.base("github-push")}/`, {
      method: "POST",
      body: "{}",
    });
    assert.equal(res.status, 200);
    assert.equal(res.text, "ok");

    const injected = await ctx.d.waitFor(isInjected);
    assert.equal(injected.source_kind, "webhook");
    assert.equal(injected.source_label, "webhook github-push");
    assert.equal(injected.content, "first line\nsecond line");
    assert.equal(injected.session_id, "gh");
    assert.equal(typeof injected.id, "string");
    assert.ok(injected.id.length > 0);

    const [run] = await hookRuns(ctx.d, "github-push");
    assertHookRun(run, "github-push", 200, 0);
  });
});

Deno.test("a script that exits 0 with only whitespace output answers 204 and injects nothing", async () => {
  await withDaemon({
    scripts: { "quiet.sh": `cat >/dev/null\nprintf ' \\n\\t\\n'` },
    hooks: [{ name: "quiet", script: "./quiet.sh" }],
  }, async (ctx) => {
    const res = await request(`${await ctx.base("quiet")}/`, { method: "POST", body: "payload" });
    assert.equal(res.status, 204);
    assert.equal(res.text, "");

    const [run] = await hookRuns(ctx.d, "quiet");
    assertHookRun(run, "quiet", 204, 0);
    assert.deepEqual(await injectedBeforeSentinel(ctx), []);
  });
});

Deno.test("a script that exits non-zero answers 500, injects nothing and its stderr is logged", async () => {
  await withDaemon({
    scripts: {
      "fail.sh": `cat >/dev/null\necho "stdout-must-not-be-injected"\n` +
        `echo "stderr-marker-7f3a: something broke" >&2\nexit 3`,
    },
    hooks: [{ name: "failing", script: "./fail.sh" }],
  }, async (ctx) => {
    const res = await request(`${await ctx.base("failing")}/`, { method: "POST", body: "x" });
    assert.equal(res.status, 500);

    const [run] = await hookRuns(ctx.d, "failing");
    assertHookRun(run, "failing", 500, 3);
    assert.deepEqual(await injectedBeforeSentinel(ctx), []);
    assert.ok(
      await eventually(() => ctx.d.stderr.includes("stderr-marker-7f3a: something broke")),
      `the script's stderr is not in the daemon's log:\n${ctx.d.stderr}`,
    );
  });
});

Deno.test("a script that cannot start (deleted, not executable, bad interpreter) answers 500", async () => {
  await withDaemon({
    scripts: {
      "gone.sh": "echo should-not-run",
      "noexec.sh": "echo should-not-run",
      "badinterp.sh": "#!/nonexistent/interpreter-hh\necho should-not-run\n",
    },
    hooks: [
      { name: "gone", script: "./gone.sh" },
      { name: "noexec", script: "./noexec.sh" },
      { name: "badinterp", script: "./badinterp.sh" },
    ],
  }, async (ctx) => {
    // Wait until every hook listens, then break the scripts under the running daemon.
    for (const h of ["gone", "noexec", "badinterp"]) await ctx.base(h);
    await Deno.remove(join(ctx.dir, "gone.sh"));
    await Deno.chmod(join(ctx.dir, "noexec.sh"), 0o644);

    for (const hook of ["gone", "noexec", "badinterp"]) {
      const res = await request(`${await ctx.base(hook)}/`, { method: "POST", body: "x" });
      assert.equal(res.status, 500, `hook ${hook}: ${res.status} ${res.text}`);
      const [run] = await hookRuns(ctx.d, hook);
      assertHookRun(run, hook, 500);
      assert.notEqual(run.exit_code, 0);
      const path = join(ctx.dir, `${hook}.sh`);
      assert.ok(
        await eventually(() => ctx.d.stderr.includes(path)),
        `no reason naming ${path} in the daemon's log:\n${ctx.d.stderr}`,
      );
    }
    assert.deepEqual(await injectedBeforeSentinel(ctx), []);
  });
});

Deno.test("a script past its timeout answers 504 and its whole process group is killed", async () => {
  await withDaemon({
    scripts: {
      "slow.sh": [
        "echo $$ > $DIR/script.pid",
        "sleep 30 &",
        "echo $! > $DIR/grandchild.pid",
        "echo stdout-must-not-be-injected",
        "sleep 30",
        "echo finished",
      ].join("\n"),
    },
    hooks: [{ name: "slow", script: "./slow.sh", timeout: 1 }],
  }, async (ctx) => {
    const pids: number[] = [];
    try {
      // A correct daemon answers about 1 s in; the 10 s guard only keeps a hang from stalling.
      const answer = request(`${await ctx.base("slow")}/`, { method: "POST", body: "x" });
      const scriptPid = await readPid(join(ctx.dir, "script.pid"));
      pids.push(scriptPid);
      const grandchild = await readPid(join(ctx.dir, "grandchild.pid"));
      pids.push(grandchild);
      assert.ok(alive(grandchild), "the grandchild should be running before the timeout");

      const res = await answer;
      assert.equal(res.status, 504);

      assert.ok(
        await eventually(() => !alive(grandchild)),
        `grandchild ${grandchild} (started with '&' by the script) survived the timeout`,
      );
      assert.ok(await eventually(() => !alive(scriptPid)), "the script survived");

      const [run] = await hookRuns(ctx.d, "slow");
      assertHookRun(run, "slow", 504);
      assert.notEqual(run.exit_code, 0);
      assert.ok(run.duration_ms >= 1000, `killed before its 1 s timeout: ${JSON.stringify(run)}`);
      assert.deepEqual(await injectedBeforeSentinel(ctx), []);
    } finally {
      for (const pid of pids) killQuietly(pid);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The script's environment

Deno.test("the script sees every HOOK_* variable and the daemon's own environment", async () => {
  const vars = [
    "HOOK_NAME",
    "HOOK_METHOD",
    "HOOK_PATH",
    "HOOK_QUERY",
    "HOOK_CONTENT_TYPE",
    "HOOK_SESSION",
    "HOOK_REQUEST_ID",
    "HOOK_HEADER_X_REQUEST_ID",
    "HOOK_HEADER_X_HUB_SIGNATURE_256",
    "HOOK_HEADER_X_MULTI",
    "HOOK_HEADER_X_WEIRD_NAME_1",
    "HOOK_HEADER_CONTENT_TYPE",
    "HOOK_HEADER_HOST",
    "HOOK_HEADER_X_NOT_SENT",
    "HH_DAEMON_EXTRA",
  ];
  await withDaemon({
    session: "envsess",
    scripts: {
      "env.sh": [
        `for v in ${vars.join(" ")}; do`,
        `  eval "val=\\\${$v-<unset>}"`,
        `  printf '%s=%s\\n' "$v" "$val"`,
        "done",
        `printf 'BODY=%s\\n' "$(cat)"`,
      ].join("\n"),
    },
    hooks: [{ name: "env-dump", script: "./env.sh", methods: ["*"] }],
    env: { HH_DAEMON_EXTRA: "inherited from the daemon" },
  }, async (ctx) => {
    const headers = new Headers();
    headers.set("Content-Type", "application/json; charset=utf-8");
    headers.set("X-Hub-Signature-256", "sha256=deadbeef");
    headers.append("X-Multi", "a");
    headers.append("X-Multi", "b");
    headers.set("x-weird.name_1", "Mixed Case value");
    headers.set("X-Request-Id", "env-dump-1");
    const base = await ctx.base("env-dump");
    const res = await request(`${base}/github/push?ref=main&x=1%202`, {
      method: "PUT",
      headers,
      body: '{"k":"v"}',
    });
    assert.equal(res.status, 200, res.text);

    const injected = await ctx.d.waitFor(isInjected);
    const got = Object.fromEntries(
      (injected.content as string).split("\n").map((l) => {
        const eq = l.indexOf("=");
        return [l.slice(0, eq), l.slice(eq + 1)];
      }),
    );
    assert.deepEqual(got, {
      HOOK_NAME: "env-dump",
      HOOK_METHOD: "PUT",
      HOOK_PATH: "/github/push",
      HOOK_QUERY: "ref=main&x=1%202",
      HOOK_CONTENT_TYPE: "application/json; charset=utf-8",
      HOOK_SESSION: "envsess",
      HOOK_REQUEST_ID: "env-dump-1",
      HOOK_HEADER_X_REQUEST_ID: "env-dump-1",
      HOOK_HEADER_X_HUB_SIGNATURE_256: "sha256=deadbeef",
      HOOK_HEADER_X_MULTI: "a, b",
      HOOK_HEADER_X_WEIRD_NAME_1: "Mixed Case value",
      HOOK_HEADER_CONTENT_TYPE: "application/json; charset=utf-8",
      HOOK_HEADER_HOST: base.slice("http://".length),
      HOOK_HEADER_X_NOT_SENT: "<unset>",
      HH_DAEMON_EXTRA: "inherited from the daemon",
      BODY: '{"k":"v"}',
    });
  });
});

Deno.test("a GET without a body runs the script with an empty stdin", async () => {
  await withDaemon({
    scripts: {
      "get.sh": [
        `n=$(wc -c | tr -d ' ')`,
        `echo "method=$HOOK_METHOD stdin=$n query=[$HOOK_QUERY] type=[$HOOK_CONTENT_TYPE]"`,
      ].join("\n"),
    },
    hooks: [{ name: "get", script: "./get.sh", methods: ["GET"] }],
  }, async (ctx) => {
    const res = await request(`${await ctx.base("get")}/status`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.text, "ok");
    const injected = await ctx.d.waitFor(isInjected);
    assert.equal(injected.content, "method=GET stdin=0 query=[] type=[]");
    const [run] = await hookRuns(ctx.d, "get");
    assertHookRun(run, "get", 200, 0);
  });
});

// ---------------------------------------------------------------------------------------------
// Bodies and output sizes

Deno.test("a 5 MiB body piped through 'cat' comes back byte for byte", async () => {
  const body = randomLetters(5 * 1024 * 1024);
  await withDaemon({
    scripts: { "cat.sh": "cat" },
    hooks: [{ name: "cat", script: "./cat.sh" }],
  }, async (ctx) => {
    const res = await request(`${await ctx.base("cat")}/`, { method: "POST", body });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.text, "ok");
    const injected = await ctx.d.waitFor(isInjected);
    assert.equal(injected.content.length, body.length);
    assert.ok(injected.content === body, "the injected content differs from the body");
  });
});

Deno.test("a script printing 4 MiB without reading its (1 MiB) stdin is answered 200", async () => {
  const size = 4 * 1024 * 1024;
  await withDaemon({
    scripts: { "big.sh": `head -c ${size} /dev/zero | tr '\\0' x` },
    hooks: [{ name: "big", script: "./big.sh" }],
  }, async (ctx) => {
    const res = await request(`${await ctx.base("big")}/`, {
      method: "POST",
      body: randomLetters(1024 * 1024),
    });
    assert.equal(res.status, 200, res.text);
    const injected = await ctx.d.waitFor(isInjected);
    assert.equal(injected.content.length, size);
    assert.ok(/^x+$/.test(injected.content), "the injected content is not the script's output");
  });
});

Deno.test("a body over max_body is refused with 413 and the script is not run", async () => {
  await withDaemon({
    scripts: {
      "small.sh": [
        `n=$(wc -c | tr -d ' ')`,
        `echo "$n" >> $DIR/runs.log`,
        `echo "got $n bytes"`,
      ].join("\n"),
    },
    hooks: [{ name: "small", script: "./small.sh", max_body: 1000 }],
  }, async (ctx) => {
    const url = `${await ctx.base("small")}/`;
    const over = await request(url, { method: "POST", body: "y".repeat(1001) });
    assert.equal(over.status, 413, over.text);
    const wayOver = await request(url, { method: "POST", body: "y".repeat(200_000) });
    assert.equal(wayOver.status, 413, wayOver.text);

    // Exactly max_body is still fine.
    const atLimit = await request(url, { method: "POST", body: "y".repeat(1000) });
    assert.equal(atLimit.status, 200, atLimit.text);
    await ctx.d.waitFor((r) => isInjected(r) && r.content === "got 1000 bytes");

    const runs = (await Deno.readTextFile(join(ctx.dir, "runs.log"))).trim().split("\n");
    assert.deepEqual(runs, ["1000"], "the script ran for a refused body");
    assert.deepEqual(
      (await injectedBeforeSentinel(ctx)).map((r) => r.content),
      ["got 1000 bytes"],
    );
  });
});

Deno.test("a streamed (chunked) body over max_body is refused with 413", async () => {
  await withDaemon({
    scripts: { "small.sh": `echo run >> $DIR/runs.log\ncat` },
    hooks: [{ name: "small", script: "./small.sh", max_body: 1000 }],
  }, async (ctx) => {
    const chunk = new TextEncoder().encode("z".repeat(600));
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(chunk);
        c.enqueue(chunk);
        c.close();
      },
    });
    const res = await request(`${await ctx.base("small")}/`, { method: "POST", body: stream });
    assert.equal(res.status, 413, res.text);
    const ran = await Deno.stat(join(ctx.dir, "runs.log")).then(() => true, () => false);
    assert.equal(ran, false, "the script ran for a refused body");
    assert.deepEqual(await injectedBeforeSentinel(ctx), []);
  });
});

// ---------------------------------------------------------------------------------------------
// Concurrency

Deno.test("simultaneous requests run their scripts concurrently", async () => {
  const ids = ["1", "2", "3", "4"];
  await withDaemon({
    scripts: {
      "slow.sh": [
        `id="$HOOK_HEADER_X_ID"`,
        `date +%s%N > "$DIR/$id.start"`,
        "sleep 1",
        `date +%s%N > "$DIR/$id.end"`,
        `echo "done $id"`,
      ].join("\n"),
    },
    hooks: [{ name: "slow", script: "./slow.sh" }],
  }, async (ctx) => {
    const url = `${await ctx.base("slow")}/`;
    const answers = await Promise.all(
      ids.map((id) => request(url, { method: "POST", headers: { "X-Id": id }, body: id })),
    );
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200]);

    const read = async (id: string, what: string) =>
      BigInt((await Deno.readTextFile(join(ctx.dir, `${id}.${what}`))).trim());
    const starts = await Promise.all(ids.map((id) => read(id, "start")));
    const ends = await Promise.all(ids.map((id) => read(id, "end")));
    const lastStart = starts.reduce((a, b) => (a > b ? a : b));
    const firstEnd = ends.reduce((a, b) => (a < b ? a : b));
    assert.ok(
      lastStart < firstEnd,
      `the scripts did not all run at the same time: starts ${starts}, ends ${ends}`,
    );

    const injected = await ctx.d.waitForCount(isInjected, 4);
    assert.deepEqual(injected.map((r) => r.content).sort(), ids.map((id) => `done ${id}`));
    const runs = await hookRuns(ctx.d, "slow", 4);
    for (const run of runs) assertHookRun(run, "slow", 200, 0);
  });
});

// ---------------------------------------------------------------------------------------------
// Misbehaving clients and stopping

Deno.test("a client that hangs up mid-body: the script is not run, the daemon keeps serving and logs no stack trace", async () => {
  await withDaemon({
    scripts: { "cat.sh": `echo run >> $DIR/runs.log\ncat` },
    hooks: [{ name: "cat", script: "./cat.sh" }],
  }, async (ctx) => {
    const addr = (await ctx.base("cat")).slice("http://".length);
    const [hostname, port] = addr.split(":");
    const conn = await Deno.connect({ hostname, port: Number(port) });
    try {
      const head = `POST / HTTP/1.1\r\nHost: ${addr}\r\nContent-Length: 100\r\n\r\n`;
      await conn.write(new TextEncoder().encode(`${head}only part of it`));
      // Give the daemon time to start reading the body before the client goes away.
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      conn.close();
    }
    assert.deepEqual(await injectedBeforeSentinel(ctx), []);
    const ran = await Deno.stat(join(ctx.dir, "runs.log")).then(() => true, () => false);
    assert.equal(ran, false, "the script ran for a body that never arrived");
    // Give a late log line the chance to show up before checking.
    await new Promise((r) => setTimeout(r, 200));
    assert.doesNotMatch(
      ctx.d.stderr,
      /\n\s+at .*:\d+:\d+/,
      `the daemon printed a stack trace:\n${ctx.d.stderr}`,
    );
  });
});

Deno.test("a request in flight when the daemon is stopped is answered and its message is kept", async () => {
  await withDaemon({
    scripts: {
      "late.sh": "cat >/dev/null\necho started > $DIR/started\nsleep 1\necho late message",
    },
    process: true,
    hooks: [{ name: "late", script: "./late.sh" }],
  }, async (ctx) => {
    const d = ctx.d as Proc;
    const answer = request(`${await ctx.base("late")}/`, { method: "POST", body: "x" });
    assert.ok(await eventually(() => exists(join(ctx.dir, "started"))), "the script never ran");
    d.child.kill("SIGTERM");
    const res = await answer;
    assert.equal(res.status, 200, res.text);
    assert.equal(res.text, "ok");
    assert.equal(await d.exited(), 0, ctx.d.stderr);

    // Acknowledged means kept: printed before the daemon stopped, or by the next run.
    const next = await cli(["run", "--name", "wh", "--format", "jsonl"], { env: ctx.env });
    assert.equal(next.code, 0, next.stderr);
    const later = next.stdout.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
    const seen = [...ctx.d.records, ...later].filter((r) =>
      isInjected(r) && r.content === "late message"
    );
    assert.equal(seen.length, 1, `the acknowledged message was not delivered exactly once`);
    assert.equal(seen[0].source_kind, "webhook");
  });
});

Deno.test("a stdout reader that stops reading does not hold answers back: messages wait in the inbox", async () => {
  await withDaemon({
    scripts: { "echo.sh": "cat" },
    // All 110 requests wait for a turn rather than some getting 503.
    hooks: [{ name: "echo", script: "./echo.sh", queue: 200 }],
  }, async (ctx) => {
    const url = `${await ctx.base("echo")}/`;
    const body = (tag: string) => `${tag} ${"x".repeat(2000)}`;
    // Fill stdout's pipe (and whatever the reader holds): ~200 KB of records, under the 256 KiB
    // of backlog that alone would make the daemon store messages.
    ctx.d.pause();
    let answered = 0;
    const first = Array.from({ length: 100 }, async (_, i) => {
      const res = await request(url, { method: "POST", body: body(`first-${i}`) });
      answered++;
      return res;
    });
    // Stuck: some answers wait for their record to be written, and none came for a while.
    let last = -1;
    for (let still = 0; still < 5;) {
      await new Promise((r) => setTimeout(r, 200));
      still = answered === last ? still + 1 : 0;
      last = answered;
    }
    assert.ok(answered < 100, "stdout never filled up: the test proves nothing");
    // The output has been stuck for a while now: these are stored and answered at once.
    for (let i = 0; i < 10; i++) {
      const res = await request(url, { method: "POST", body: body(`second-${i}`) });
      assert.equal(res.status, 200, `second-${i}: ${res.text}`);
    }
    ctx.d.resume();
    for (const res of await Promise.all(first)) assert.equal(res.status, 200, res.text);
    const want = [
      ...Array.from({ length: 100 }, (_, i) => `first-${i}`),
      ...Array.from({ length: 10 }, (_, i) => `second-${i}`),
    ];
    const injected = await ctx.d.waitForCount(isInjected, want.length);
    const tags = injected.map((r) => r.content.split(" ")[0]).sort();
    assert.deepEqual(tags, [...want].sort(), "every answered message printed exactly once");
  });
});

Deno.test("a client that never finishes its body does not keep the daemon from stopping", async () => {
  await withDaemon({
    toml: "[session]\nshutdown_grace = 1\n",
    scripts: { "cat.sh": "cat" },
    process: true,
    hooks: [{ name: "cat", script: "./cat.sh" }],
  }, async (ctx) => {
    const d = ctx.d as Proc;
    const addr = (await ctx.base("cat")).slice("http://".length);
    const [hostname, port] = addr.split(":");
    const conn = await Deno.connect({ hostname, port: Number(port) });
    let guard: ReturnType<typeof setTimeout> | undefined;
    try {
      const head = `POST / HTTP/1.1\r\nHost: ${addr}\r\nContent-Length: 100\r\n\r\n`;
      await conn.write(new TextEncoder().encode(`${head}only part of it`));
      await new Promise((r) => setTimeout(r, 300));
      d.child.kill("SIGTERM");
      // The grace is 1 s; the client keeps its half-sent request open for far longer.
      const first = await Promise.race([
        d.child.status.then(() => "daemon exited"),
        new Promise((r) => (guard = setTimeout(() => r("client gave up first"), scaled(8_000)))),
      ]);
      assert.equal(
        first,
        "daemon exited",
        "with shutdown_grace = 1 the daemon waited for a client that never finished its body",
      );
    } finally {
      clearTimeout(guard);
      conn.close();
    }
    assert.equal(await d.exited(), 0, ctx.d.stderr);
  });
});
