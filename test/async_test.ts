/**
 * End-to-end tests of async webhook hooks (`mode = "async"`, docs/webhook-scripts.md): a real
 * session in-process or a `hookhost run` subprocess, real HTTP to the address of its `listening` record, real shell
 * scripts, real SIGKILLs. A request is answered `202 accepted <job id>` once it is durable; its
 * script runs later in the background with the sync interface, and its output is injected.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type Answer,
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
import { eventually, exists, pause } from "./_poll.ts";
import { InSession } from "./_session.ts";

// ---------------------------------------------------------------------------------------------
// Helpers

/** What a test body gets. */
interface Setup {
  /** The temp folder (scripts, config, state). */
  dir: string;
  /** hookhost's environment for this folder. */
  env: Record<string, string>;
  /** Starts `run --name SESSION --daemon --format jsonl --hook H…` on this folder. */
  daemon: (session: string, hooks: string[]) => Proc;
  /** Opens the same daemon in-process (for what needs no process: no SIGKILL, no exit code). */
  session: (session: string, hooks: string[]) => Promise<InSession>;
}

/**
 * Writes `scripts` (name → shell body; `$DIR` in a body is replaced by the temp folder) and a
 * config with `hooks` (`toml` first), runs `body`, then kills every daemon it started that is
 * still running and removes the folder.
 */
async function withSetup(
  options: { scripts: Record<string, string>; hooks: HookSpec[]; toml?: string },
  body: (s: Setup) => Promise<void>,
): Promise<void> {
  const tmp = await tempDir();
  const started: (Proc | InSession)[] = [];
  try {
    for (const [name, text] of Object.entries(options.scripts)) {
      await script(tmp.path, name, text.replaceAll("$DIR", tmp.path));
    }
    await config(tmp.path, `${options.toml ?? ""}\n${hooksToml(options.hooks)}`);
    const env = envFor(tmp.path);
    await body({
      dir: tmp.path,
      env,
      daemon: (session, hooks) => {
        const args = ["run", "--name", session, "--daemon", "--format", "jsonl"];
        for (const h of hooks) args.push("--hook", h);
        const d = Proc.start(args, { env });
        started.push(d);
        return d;
      },
      session: async (session, hooks) => {
        const eventsFile = join(tmp.path, "hooks.json");
        const d = await InSession.open({ dir: tmp.path, name: session, hooks, eventsFile });
        started.push(d);
        return d;
      },
    });
  } finally {
    // A test that failed half-way must not leave a daemon behind (stop() of an ended one is a
    // no-op that returns its code).
    for (const d of started) await (d instanceof Proc ? d.stop("SIGKILL") : d.stop());
    await tmp.cleanup();
  }
}

/** Stops `d` (a process with SIGTERM) and asserts it ends cleanly (exit 0). */
async function stopOk(d: Proc | InSession): Promise<void> {
  const code = d instanceof Proc ? await d.stop() : await d.stop().then(() => 0);
  assert.equal(code, 0, `daemon exit code; stderr:\n${d.stderr}`);
}

/** POSTs `body` to `base + path` with `headers`. */
function post(
  base: string,
  body: BodyInit,
  options: { path?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  return request(`${base}${options.path ?? "/"}`, {
    method: "POST",
    body,
    headers: options.headers,
  });
}

/** Asserts `res` is an async hook's `202 accepted <job id>` and returns the job id. */
function acceptedJob(res: Answer): string {
  assert.equal(res.status, 202, `answer ${res.status} ${JSON.stringify(res.text)}`);
  const m = /^accepted (\S+)\n$/.exec(res.text);
  assert.ok(m, `202 body ${JSON.stringify(res.text)}`);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
  return m[1];
}

const isInjected = (r: Rec) => r.type === "injected";
const isRun = (hook: string) => (r: Rec) => r.type === "hook_run" && r.hook === hook;

/** Asserts a `hook_run` record of an async hook's job. */
function assertJobRun(run: Rec, hook: string, job: string, status: number, exitCode: number) {
  const json = JSON.stringify(run);
  assert.equal(run.hook, hook, json);
  assert.equal(run.status, status, json);
  assert.equal(run.exit_code, exitCode, json);
  assert.equal(run.job, job, json);
  assert.equal(typeof run.duration_ms, "number", json);
  assert.ok(run.duration_ms >= 0, json);
  assert.equal(typeof run.session_id, "string", json);
  assert.equal(typeof run.ts, "string", json);
}

/** Lines of `path` (none when it does not exist). */
async function fileLines(path: string): Promise<string[]> {
  try {
    return (await Deno.readTextFile(path)).split("\n").filter((l) => l !== "");
  } catch {
    return [];
  }
}

function parseJsonl(text: string): Rec[] {
  return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

// ---------------------------------------------------------------------------------------------
// The request side and the script interface

Deno.test("an async hook answers 202 'accepted <job id>' before its slow script runs; the script gets the sync interface at nice 19 and its output is injected", async () => {
  await withSetup({
    scripts: {
      "slow.sh": [
        `body=$(cat)`,
        `sleep 1`,
        `printf '%s\\n' "method=$HOOK_METHOD query=$HOOK_QUERY x-test=$HOOK_HEADER_X_TEST"`,
        `printf '%s\\n' "path=$HOOK_PATH type=$HOOK_CONTENT_TYPE hook=$HOOK_NAME session=$HOOK_SESSION"`,
        `printf '%s\\n' "nice=$(nice)"`,
        `printf 'body=%s\\n' "$body"`,
      ].join("\n"),
    },
    hooks: [{ name: "slow", script: "./slow.sh", mode: "async" }],
  }, async ({ session }) => {
    const d = await session("as1", ["slow"]);
    const base = `http://${await d.addr("slow")}`;
    const res = await post(base, "hello async", {
      path: "/deliver/it?a=1&b=two",
      headers: { "x-test": "Value-42", "content-type": "text/x-demo" },
    });
    // The order of events: the answer came back before the script had finished (it sleeps 1 s
    // after reading its body), so no run or output of this job may have been seen yet.
    const seenAtAnswer = d.records.length;
    const job = acceptedJob(res);
    assert.ok(
      !d.records.some((r) => isInjected(r) || isRun("slow")(r)),
      `a run or output was seen before the 202: ${JSON.stringify(d.records)}`,
    );

    const run = await d.waitFor((r) => isRun("slow")(r) && r.job === job);
    assertJobRun(run, "slow", job, 200, 0);
    const injected = await d.waitFor(isInjected);
    assert.ok(d.records.indexOf(run) >= seenAtAnswer, "hook_run came after the 202");
    assert.ok(d.records.indexOf(injected) >= seenAtAnswer, "injected came after the 202");
    assert.equal(injected.source_kind, "webhook");
    assert.equal(injected.source_label, "webhook slow");
    assert.equal(typeof injected.id, "string");
    assert.equal(
      injected.content,
      [
        "method=POST query=a=1&b=two x-test=Value-42",
        "path=/deliver/it type=text/x-demo hook=slow session=as1",
        "nice=19",
        "body=hello async",
      ].join("\n"),
    );
    await stopOk(d);
  });
});

Deno.test("with the default concurrency of 1, outputs are injected in the order the requests were accepted", async () => {
  await withSetup({
    scripts: { "order.sh": `body=$(cat)\nsleep 0.2\nprintf '%s\\n' "$body"` },
    hooks: [{ name: "order", script: "./order.sh", mode: "async" }],
  }, async ({ session }) => {
    const d = await session("as2", ["order"]);
    const base = `http://${await d.addr("order")}`;
    const bodies = ["first", "second", "third", "fourth", "fifth"];
    const jobs: string[] = [];
    for (const b of bodies) jobs.push(acceptedJob(await post(base, b)));
    assert.equal(new Set(jobs).size, 5, `distinct job ids: ${jobs}`);

    const injected = await d.waitForCount(isInjected, 5);
    assert.deepEqual(injected.map((r) => r.content), bodies);
    const runs = d.records.filter(isRun("order"));
    assert.deepEqual(runs.map((r) => r.job), jobs, "hook_run records in acceptance order");
    for (const [i, r] of runs.entries()) assertJobRun(r, "order", jobs[i], 200, 0);
    await stopOk(d);
  });
});

Deno.test("an async hook with concurrency = 3 runs three scripts at once, never a fourth, and a job that arrives while all are busy takes the first slot that frees", async () => {
  await withSetup({
    scripts: {
      // Each run notes how many runs are going on as it starts (started minus ended, itself
      // included); j1..j3 then hold until the test creates "release.<body>" (at most 20 s).
      "par.sh": [
        `body=$(cat)`,
        `touch "$DIR/$body.start"`,
        `count() { ls "$DIR" | grep -c "\\.$1\$"; }`,
        `now=$(( $(count start) - $(count end) ))`,
        `case "$body" in j1|j2|j3)`,
        `  n=0`,
        `  while [ -d "$DIR" ] && [ ! -e "$DIR/release.$body" ] && [ $n -lt 400 ]; do sleep 0.05; n=$((n+1)); done;;`,
        `esac`,
        `printf '%s %s\\n' "$body" "$now"`,
        `touch "$DIR/$body.end"`,
      ].join("\n"),
    },
    hooks: [{ name: "par", script: "./par.sh", mode: "async", concurrency: 3 }],
  }, async ({ dir, session }) => {
    const d = await session("as7", ["par"]);
    const base = `http://${await d.addr("par")}`;
    const marked = async (suffix: string) => {
      const names: string[] = [];
      for await (const e of Deno.readDir(dir)) {
        if (e.name.endsWith(suffix)) names.push(e.name.slice(0, -suffix.length));
      }
      return names.sort();
    };
    const release = (b: string) => Deno.writeTextFile(join(dir, `release.${b}`), "");
    const outputs = () => d.records.filter(isInjected).map((r) => r.content.split(" ")[0]);

    for (const b of ["j1", "j2", "j3"]) acceptedJob(await post(base, b));
    assert.ok(
      await eventually(async () => (await marked(".start")).length === 3),
      `three runs at once: only ${await marked(".start")} started; stderr:\n${d.stderr}`,
    );
    // These arrive while all three slots are busy.
    for (const b of ["j4", "j5", "j6"]) acceptedJob(await post(base, b));
    await pause(500);
    assert.deepEqual(await marked(".start"), ["j1", "j2", "j3"], "a fourth run started");

    // One slot frees: the waiting jobs run in it, one at a time, while j2 and j3 still hold.
    await release("j1");
    const ran = await eventually(() => outputs().length === 4);
    assert.ok(
      ran,
      `after j1 finished, j4 did not start while j2 and j3 were running: outputs ${outputs()}, ` +
        `started ${await marked(".start")}, ended ${await marked(".end")}; stderr:\n${d.stderr}`,
    );
    // Oldest first in the free slot; j2 and j3 are still holding.
    assert.deepEqual(outputs(), ["j1", "j4", "j5", "j6"]);
    assert.deepEqual(await marked(".end"), ["j1", "j4", "j5", "j6"]);
    await release("j2");
    await release("j3");

    const injected = await d.waitForCount(isInjected, 6);
    const seen = injected.map((r) => r.content.split(" "));
    assert.deepEqual(seen.map(([b]) => b).sort(), ["j1", "j2", "j3", "j4", "j5", "j6"]);
    for (const [b, running] of seen) {
      assert.ok(Number(running) <= 3, `${b} started with ${running} runs going on`);
    }
    await stopOk(d);
  });
});

// ---------------------------------------------------------------------------------------------
// Durability

Deno.test("every request answered 202 runs exactly once across a SIGKILL of the daemon and its restart", async () => {
  await withSetup({
    scripts: { "crash.sh": "sleep 0.3; cat" },
    hooks: [{ name: "crash", script: "./crash.sh", mode: "async", concurrency: 2 }],
  }, async ({ daemon }) => {
    const d1 = daemon("as3", ["crash"]);
    const base = `http://${await d1.addr("crash")}`;
    const bodies = Array.from({ length: 20 }, (_, i) => `job-${String(i + 1).padStart(2, "0")}`);
    const jobs: string[] = [];
    // Four waves of five at once (several jobs share a stored batch), a little apart so that
    // the kill finds some jobs done, some running and some not started.
    for (let w = 0; w < 4; w++) {
      if (w) await pause(400);
      const wave = bodies.slice(w * 5, w * 5 + 5);
      jobs.push(...(await Promise.all(wave.map((b) => post(base, b)))).map(acceptedJob));
    }
    await d1.stop("SIGKILL");
    const firstRun = d1.records.filter(isInjected).length;

    const d2 = daemon("as3", ["crash"]);
    const ours = (r: Rec) => isInjected(r) && bodies.includes(r.content);
    // What the first run did not get to shows up in the second.
    const all = () => [...d1.records, ...d2.records].filter(ours);
    const ok = await eventually(() => new Set(all().map((r) => r.content)).size === 20);
    assert.ok(
      ok,
      `only ${new Set(all().map((r) => r.content)).size} of 20 bodies injected ` +
        `(${firstRun} in the first run)\nfirst stderr:\n${d1.stderr}\nsecond stderr:\n${d2.stderr}`,
    );
    // Give a job that would run a second time the chance to show.
    await pause(1_500);

    const injected = all();
    for (const b of bodies) {
      const ids = new Set(injected.filter((r) => r.content === b).map((r) => r.id));
      // A job that ran twice would store two messages (two ids). The inbox itself may print one
      // message again after a kill between printing and removing it (at-least-once, same
      // id); that is not a job running twice.
      assert.equal(ids.size, 1, `${b} was stored ${ids.size} times: ${JSON.stringify(injected)}`);
    }
    for (const [i, d] of [d1, d2].entries()) {
      const contents = d.records.filter(ours).map((r) => r.content);
      assert.equal(new Set(contents).size, contents.length, `run ${i + 1} duplicates: ${contents}`);
    }
    const runs = [...d1.records, ...d2.records].filter(isRun("crash"));
    for (const job of jobs) {
      const n = runs.filter((r) => r.job === job).length;
      assert.ok(n <= 1, `job ${job} has ${n} hook_run records`);
    }
    for (const r of runs) assert.equal(r.status, 200, JSON.stringify(r));
    await stopOk(d2);
  });
});

Deno.test("a one-shot run of a session runs the jobs a killed daemon left pending, prints their output and exits 0", async () => {
  await withSetup({
    scripts: {
      "pending.sh":
        `body=$(cat)\ntouch "$DIR/started.$body"\nsleep 1.5\nprintf 'done %s\\n' "$body"`,
    },
    hooks: [{ name: "pending", script: "./pending.sh", mode: "async" }],
  }, async ({ dir, env, daemon }) => {
    const d = daemon("as6", ["pending"]);
    const base = `http://${await d.addr("pending")}`;
    const jobs = [];
    for (const b of ["p1", "p2", "p3"]) jobs.push(acceptedJob(await post(base, b)));
    assert.ok(
      await eventually(() => exists(join(dir, "started.p1"))),
      `the first job never started; stderr:\n${d.stderr}`,
    );
    await d.stop("SIGKILL");
    assert.equal(d.records.filter(isInjected).length, 0, JSON.stringify(d.records));
    const sessions = await cli(["sessions", "--json"], { env });
    assert.equal(sessions.code, 0, sessions.stderr);
    const listed = parseJsonl(sessions.stdout).find((r) => r.name === "as6");
    assert.equal(listed?.jobs, 3, sessions.stdout);

    const res = await cli(["run", "--name", "as6", "--hook", "pending", "--format", "jsonl"], {
      env,
    });
    assert.equal(res.code, 0, res.stderr);
    const records = parseJsonl(res.stdout);
    assert.deepEqual(
      records.filter(isInjected).map((r) => [r.source_kind, r.source_label, r.content]),
      [
        ["webhook", "webhook pending", "done p1"],
        ["webhook", "webhook pending", "done p2"],
        ["webhook", "webhook pending", "done p3"],
      ],
      res.stdout,
    );
    const runs = records.filter(isRun("pending"));
    assert.deepEqual(runs.map((r) => r.job), jobs, res.stdout);
    for (const [i, r] of runs.entries()) assertJobRun(r, "pending", jobs[i], 200, 0);

    // Nothing is left: a second one-shot run has nothing to do.
    const again = await cli(["run", "--name", "as6", "--hook", "pending", "--format", "jsonl"], {
      env,
    });
    assert.equal(again.code, 0, again.stderr);
    const rest = parseJsonl(again.stdout).filter((r) => isInjected(r) || r.type === "hook_run");
    assert.deepEqual(rest, [], again.stdout);
    const after = await cli(["sessions", "--json"], { env });
    assert.equal(parseJsonl(after.stdout).find((r) => r.name === "as6")?.jobs, 0, after.stdout);
  });
});

// ---------------------------------------------------------------------------------------------
// Failures

Deno.test("a failing async script with max_attempts = 1 gives hook_run 500 with its exit code, logs its stderr, fires hook_failed, is not retried and is listed by `jobs dead`", async () => {
  await withSetup({
    scripts: {
      "flaky.sh": `cat\necho run >> "$DIR/fail-runs"\necho "boom from the script" >&2\nexit 3`,
      "record.sh": `f=$(mktemp "$DIR/.rec.XXXXXX")\ncat > "$f"\nmv "$f" "$f.failed.json"`,
    },
    hooks: [{ name: "flaky", script: "./flaky.sh", mode: "async", max_attempts: 1 }],
  }, async ({ dir, session }) => {
    await Deno.writeTextFile(
      join(dir, "hooks.json"),
      JSON.stringify({
        hook_failed: [{ hooks: [{ type: "command", command: `'${join(dir, "record.sh")}'` }] }],
      }),
    );
    const d = await session("as4", ["flaky"]);
    const base = `http://${await d.addr("flaky")}`;
    const job = acceptedJob(await post(base, "fail"));
    const run = await d.waitFor((r) => isRun("flaky")(r) && r.job === job);
    assertJobRun(run, "flaky", job, 500, 3);
    assert.equal(run.attempt, 1, JSON.stringify(run));
    assert.equal(run.dead, true, JSON.stringify(run));
    assert.ok(
      await eventually(() => d.stderr.includes("boom from the script")),
      `stderr not logged:\n${d.stderr}`,
    );

    // Given time for a retry, it does not run again.
    await pause(1_500);
    assert.equal(d.records.filter((r) => isRun("flaky")(r) && r.job === job).length, 1);
    assert.deepEqual(await fileLines(join(dir, "fail-runs")), ["run"]);
    assert.ok(!d.records.some((r) => isInjected(r) && r.content === "fail"));

    let events: string[] = [];
    assert.ok(
      await eventually(async () => {
        events = [];
        for await (const e of Deno.readDir(dir)) {
          if (e.name.endsWith(".failed.json")) {
            events.push(await Deno.readTextFile(join(dir, e.name)));
          }
        }
        return events.length >= 1;
      }),
      `no hook_failed event; stderr:\n${d.stderr}`,
    );
    assert.equal(events.length, 1, events.join("\n"));
    assert.deepEqual(JSON.parse(events[0]).params, {
      commandKey: "flaky",
      status: 500,
      exitCode: 3,
    });
    await stopOk(d);

    // Nor at the next start.
    const res = await cli(["run", "--name", "as4", "--hook", "flaky", "--format", "jsonl"], {
      env: envFor(dir),
    });
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(parseJsonl(res.stdout).filter(isRun("flaky")), [], res.stdout);
    assert.deepEqual(await fileLines(join(dir, "fail-runs")), ["run"]);
    const dead = await cli(["jobs", "dead", "--name", "as4", "--json"], { env: envFor(dir) });
    assert.equal(dead.code, 0, dead.stderr);
    const [row, ...more] = parseJsonl(dead.stdout);
    assert.deepEqual(more, [], dead.stdout);
    assert.deepEqual(
      [row.id, row.hook, row.attempts, row.error, row.body, row.method],
      [job, "flaky", 1, "exit code 3", "fail", "POST"],
    );
  });
});

/** Waits for `d`'s `hook_run` record of `job`'s run number `attempt`. */
function jobRun(d: Proc | InSession, job: string, attempt: number): Promise<Rec> {
  return d.waitFor((r) => r.type === "hook_run" && r.job === job && r.attempt === attempt);
}

Deno.test("a failed async job runs again after each retry_backoff delay, is dead after max_attempts, stays dead across a restart, and `jobs replay` makes the running daemon run it", async () => {
  await withSetup({
    scripts: {
      "flaky.sh":
        `body=$(cat)\necho "$body" >> "$DIR/runs"\n[ -f "$DIR/ok" ] || { echo "down" >&2; exit 5; }\necho "done $body"`,
    },
    hooks: [{
      name: "flaky",
      script: "./flaky.sh",
      mode: "async",
      max_attempts: 3,
      retry_backoff: [0.2, 0.4],
    }],
  }, async ({ dir, env, daemon }) => {
    const d1 = daemon("as6", ["flaky"]);
    const job = acceptedJob(await post(`http://${await d1.addr("flaky")}`, "order-1"));
    const runs = [await jobRun(d1, job, 1), await jobRun(d1, job, 2), await jobRun(d1, job, 3)];
    for (const r of runs) assertJobRun(r, "flaky", job, 500, 5);
    // Each retry waited until the time its failed run before it gave, and that time was the
    // delay after it: the second delay (0.4 s) comes after the second run, which came after the
    // first due time.
    const at = (r: Rec) => Date.parse(r.ts);
    const [first, second] = runs.map((r) => Date.parse(r.retry_at));
    assert.ok(at(runs[1]) >= first && at(runs[2]) >= second, JSON.stringify(runs));
    assert.ok(second - first >= 400, JSON.stringify(runs));
    assert.equal(runs[2].dead, true, JSON.stringify(runs[2]));
    assert.equal(runs[2].retry_at, undefined);
    assert.match(d1.stderr, /job \S+ failed 3 of 3 runs and is dead; `hookhost jobs replay`/);
    await stopOk(d1);
    assert.deepEqual(await fileLines(join(dir, "runs")), ["order-1", "order-1", "order-1"]);

    // Dead, not pending, across the restart of the daemon.
    const ls = await cli(["jobs", "ls", "--name", "as6"], { env });
    assert.equal(ls.stdout, "No pending jobs in 'as6'\n", ls.stderr);
    const table = await cli(["jobs", "dead", "--name", "as6"], { env });
    assert.equal(table.code, 0, table.stderr);
    assert.match(
      table.stdout,
      new RegExp(`^${job}\\s+flaky\\s+\\S+Z\\s+3\\s+exit code 5\\s+order-1$`, "m"),
    );
    const d2 = daemon("as6", ["flaky"]);
    await d2.addr("flaky");
    assert.equal(
      (await cli(["jobs", "dead", "--name", "as6", "--json"], { env })).stdout.split("\n").length,
      2,
    );

    await Deno.writeTextFile(join(dir, "ok"), "");
    const unknown = await cli(["jobs", "replay", "--name", "as6", "01NOPE"], { env });
    assert.equal(unknown.code, 1, unknown.stderr);
    assert.equal(unknown.stderr, "hookhost: No dead job '01NOPE' in session 'as6'\n");
    const replay = await cli(["jobs", "replay", "--name", "as6", job], { env });
    assert.equal(replay.code, 0, replay.stderr);
    assert.equal(replay.stdout, "Replayed 1 job(s) in 'as6'\n");
    const again = await jobRun(d2, job, 1);
    assertJobRun(again, "flaky", job, 200, 0);
    await d2.waitFor((r) => isInjected(r) && r.content === "done order-1");
    const none = await cli(["jobs", "dead", "--name", "as6"], { env });
    assert.equal(none.stdout, "No dead jobs in 'as6'\n", none.stderr);
    await stopOk(d2);
  });
});

Deno.test("a job waiting for its next run when the daemon is killed is listed by `jobs ls` and runs once at the next start", async () => {
  await withSetup({
    scripts: {
      "flaky.sh":
        `body=$(cat)\necho "$body" >> "$DIR/runs"\n[ -f "$DIR/ok" ] || exit 6\necho "done $body"`,
    },
    hooks: [{ name: "flaky", script: "./flaky.sh", mode: "async", retry_backoff: 0.3 }],
  }, async ({ dir, env, daemon }) => {
    const d1 = daemon("as7", ["flaky"]);
    const job = acceptedJob(await post(`http://${await d1.addr("flaky")}`, "late"));
    const failed = await jobRun(d1, job, 1);
    assert.equal(failed.status, 500, JSON.stringify(failed));
    await d1.stop("SIGKILL");
    // Killed before its next run or after it: what `jobs ls` shows says which.
    const runsBefore = (await fileLines(join(dir, "runs"))).length;
    const ls = await cli(["jobs", "ls", "--name", "as7", "--json"], { env });
    assert.equal(ls.code, 0, ls.stderr);
    const [row, ...more] = parseJsonl(ls.stdout);
    assert.deepEqual(more, [], ls.stdout);
    assert.deepEqual([row.id, row.hook, row.attempts, row.error, row.body], [
      job,
      "flaky",
      runsBefore,
      "exit code 6",
      "late",
    ]);
    assert.equal(typeof row.due, "number", ls.stdout);

    await Deno.writeTextFile(join(dir, "ok"), "");
    const d2 = daemon("as7", ["flaky"]);
    const run = await jobRun(d2, job, runsBefore + 1);
    assertJobRun(run, "flaky", job, 200, 0);
    await d2.waitFor((r) => isInjected(r) && r.content === "done late");
    const empty = await cli(["jobs", "ls", "--name", "as7"], { env });
    assert.equal(empty.stdout, "No pending jobs in 'as7'\n", empty.stderr);
    await stopOk(d2);
    assert.equal((await fileLines(join(dir, "runs"))).length, runsBefore + 1);
  });
});

Deno.test("a body over max_body gets 413 and headers too large to store get 431 from an async hook; no job runs", async () => {
  await withSetup({
    scripts: { "small.sh": `echo run >> "$DIR/runs"\ncat` },
    hooks: [{ name: "small", script: "./small.sh", mode: "async", max_body: 100 }],
  }, async ({ dir, session }) => {
    const d = await session("as5", ["small"]);
    const base = `http://${await d.addr("small")}`;
    // Refused by its Content-Length, and (no length given) while streaming.
    const big = await post(base, "x".repeat(101));
    assert.equal(big.status, 413, big.text);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 5; i++) c.enqueue(new TextEncoder().encode("y".repeat(50)));
        c.close();
      },
    });
    const streamed = await post(base, stream);
    assert.equal(streamed.status, 413, streamed.text);
    // Headers too large to store with the job: 431, and the hook keeps answering.
    const huge = await post(base, "h", { headers: { "x-huge": "h".repeat(30_000) } });
    assert.equal(huge.status, 431, huge.text);
    assert.match(huge.text, /URL and headers/);

    // A body of exactly max_body is accepted, and its job is the only one that runs.
    const exact = "z".repeat(100);
    const job = acceptedJob(await post(base, exact));
    await d.waitFor((r) => isInjected(r) && r.content === exact);
    await pause(1_000);
    const runs = d.records.filter(isRun("small"));
    assert.deepEqual(runs.map((r) => r.job), [job], JSON.stringify(runs));
    assert.deepEqual(await fileLines(join(dir, "runs")), ["run"]);
    assert.equal(d.records.filter(isInjected).length, 1);
    await stopOk(d);
  });
});

// ---------------------------------------------------------------------------------------------
// Config

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.trim());
}

/**
 * Asserts that `config check` and `run` both exit 2 and report `message` at `line:1` of the
 * config under key path `path` (`file:line:col: path: message`).
 */
async function expectConfigProblem(
  dir: string,
  problem: { line: number; path: string; message: string },
): Promise<void> {
  const file = join(dir, "hookhost.toml");
  const env = envFor(dir);
  const want = `${file}:${problem.line}:1: ${problem.path}: ${problem.message}`;
  const check = await cli(["config", "check"], { env });
  assert.equal(check.code, 2, `config check: ${check.stdout}${check.stderr}`);
  const reported = lines(check.stderr).filter((l) => l.startsWith(file + ":"));
  assert.deepEqual(reported, [want], check.stderr);

  const run = await cli(["run", "--name", "cfg", "--hook", "a"], { env });
  assert.equal(run.code, 2, `run: ${run.stdout}${run.stderr}`);
  const out = lines(run.stderr);
  assert.equal(out.length, 1, `run prints one line: ${run.stderr}`);
  assert.ok(out[0].endsWith(want), `${out[0]}\nwanted it to end with ${want}`);
  assert.ok(!run.stderr.includes("    at "), `stack trace: ${run.stderr}`);
}

const configCases: { name: string; table: string; line: number; path: string; message: string }[] =
  [
    {
      name: 'mode = "bogus" is refused, naming hooks[0].mode',
      table: `script = "./ok.sh"\nmode = "bogus"`,
      line: 5,
      path: "hooks[0].mode",
      message: 'Must be "sync" or "async"',
    },
    {
      name: "concurrency on a plugin hook is refused",
      table: `plugin = "x"\nconcurrency = 2`,
      line: 5,
      path: "hooks[0].concurrency",
      message: "Concurrency applies to scripts; a plugin runs in-process",
    },
    {
      name: 'mode = "async" with a plugin is refused',
      table: `plugin = "x"\nmode = "async"`,
      line: 5,
      path: "hooks[0].mode",
      message: "An async hook needs a script; a plugin answers its own requests",
    },
    {
      name: "concurrency 0 on an async hook is refused",
      table: `script = "./ok.sh"\nmode = "async"\nconcurrency = 0`,
      line: 6,
      path: "hooks[0].concurrency",
      message: "Must be from 1 to 1024, got '0'",
    },
    {
      name: "max_attempts on a sync hook is refused",
      table: `script = "./ok.sh"\nmax_attempts = 3`,
      line: 5,
      path: "hooks[0].max_attempts",
      message: `'max_attempts' applies to mode = "async" hooks: a sync hook's sender retries`,
    },
    {
      name: "max_attempts 0 on an async hook is refused",
      table: `script = "./ok.sh"\nmode = "async"\nmax_attempts = 0`,
      line: 6,
      path: "hooks[0].max_attempts",
      message: "Must be from 1 to 1000, got '0'",
    },
    {
      name: "a retry_backoff delay of 0 is refused, naming its index",
      table: `script = "./ok.sh"\nmode = "async"\nretry_backoff = [5, 0]`,
      line: 6,
      path: "hooks[0].retry_backoff[1]",
      message: "Must be from 0.001 to 86400 seconds, got '0'",
    },
    {
      name: "an empty retry_backoff list is refused",
      table: `script = "./ok.sh"\nmode = "async"\nretry_backoff = []`,
      line: 6,
      path: "hooks[0].retry_backoff",
      message: "Must list at least one delay",
    },
    {
      name: "concurrency 1025 on an async hook is refused",
      table: `script = "./ok.sh"\nmode = "async"\nconcurrency = 1025`,
      line: 6,
      path: "hooks[0].concurrency",
      message: "Must be from 1 to 1024, got '1025'",
    },
  ];

for (const c of configCases) {
  Deno.test(`config: ${c.name} (exit 2 from config check and run)`, async () => {
    const tmp = await tempDir();
    try {
      await script(tmp.path, "ok.sh", "cat");
      await config(tmp.path, `[[hooks]]\nname = "a"\nbind = "127.0.0.1:0"\n${c.table}\n`);
      await expectConfigProblem(tmp.path, c);
    } finally {
      await tmp.cleanup();
    }
  });
}

Deno.test('config: mode = "async" with concurrency 1 and 1024 is valid', async () => {
  const tmp = await tempDir();
  try {
    await script(tmp.path, "ok.sh", "cat");
    await config(
      tmp.path,
      hooksToml([
        { name: "a", script: "./ok.sh", mode: "async", concurrency: 1 },
        { name: "b", script: "./ok.sh", mode: "async", concurrency: 1024 },
        { name: "c", script: "./ok.sh", mode: "sync" },
      ]),
    );
    const check = await cli(["config", "check"], { env: envFor(tmp.path) });
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /hookhost\.toml: ok, 3 hook\(s\)/);
  } finally {
    await tmp.cleanup();
  }
});
