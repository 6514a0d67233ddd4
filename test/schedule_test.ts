/**
 * End-to-end tests of durable schedules (`schedule add|ls|rm`, the inbox source `schedule`).
 */
import assert from "node:assert/strict";
import { cli, envFor, Proc, type Rec, tempDir } from "./_helpers.ts";

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** JSONL lines as objects. */
// deno-lint-ignore no-explicit-any
function jsonLines(stdout: string): any[] {
  return stdout.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

const isSchedule = (r: Rec) => r.type === "injected" && r.source_kind === "schedule";

/** Runs `fn` with a temp folder and its env (no config file), cleaning up after. */
async function withEnv(fn: (env: Record<string, string>) => Promise<void>): Promise<void> {
  const tmp = await tempDir();
  try {
    // An empty HOOKHOST_CONFIG means "not set"; no hookhost.toml exists in the temp folder.
    await fn(envFor(tmp.path, { HOOKHOST_CONFIG: "", XDG_CONFIG_HOME: tmp.path }));
  } finally {
    await tmp.cleanup();
  }
}

/** Makes session `name` known (it ran once) and leaves it stopped. */
async function createSession(env: Record<string, string>, name: string): Promise<void> {
  const res = await cli(["run", "--name", name], { env });
  assert.equal(res.code, 0, res.stderr);
}

async function add(env: Record<string, string>, args: string[]): Promise<string> {
  const res = await cli(["schedule", "add", ...args], { env });
  assert.equal(res.code, 0, res.stderr);
  const id = res.stdout.trim();
  assert.match(id, ULID);
  return id;
}

// deno-lint-ignore no-explicit-any
async function lsJson(env: Record<string, string>, name?: string): Promise<any[]> {
  const res = await cli(["schedule", "ls", "--json", ...(name ? ["--name", name] : [])], { env });
  assert.equal(res.code, 0, res.stderr);
  return jsonLines(res.stdout);
}

async function daemon(env: Record<string, string>, name: string): Promise<Proc> {
  const d = Proc.start(["run", "--name", name, "--daemon", "--format", "jsonl"], { env });
  await d.waitFor((r) => r.type === "ready");
  return d;
}

async function oneShot(env: Record<string, string>, name: string): Promise<Rec[]> {
  const res = await cli(["run", "--name", name, "--format", "jsonl"], { env });
  assert.equal(res.code, 0, res.stderr);
  return jsonLines(res.stdout);
}

Deno.test("schedule: --in fires once into a running daemon and then leaves the list", async () => {
  await withEnv(async (env) => {
    const d = await daemon(env, "s");
    try {
      // Listed while pending: one due in an hour, so no machine is too slow to see it listed.
      const far = await add(env, ["--name", "s", "--in", "1h", "hello schedule"]);
      const text = await cli(["schedule", "ls"], { env });
      assert.equal(text.code, 0, text.stderr);
      const row = text.stdout.split("\n").find((l) => l.startsWith(far));
      assert.ok(row, text.stdout);
      assert.match(row, /\bs\b/);
      assert.match(row, /hello schedule/);
      const listed = await lsJson(env, "s");
      assert.deepEqual(listed.map((s) => [s.id, s.session, s.message, s.spec.kind, s.fired]), [
        [far, "s", "hello schedule", "at", 0],
      ]);

      const id = await add(env, ["--name", "s", "--in", "1s", "soon"]);
      const rec = await d.waitFor(isSchedule);
      assert.equal(rec.content, "soon");
      assert.equal(rec.source_label, `schedule ${id}`);
      assert.ok(typeof rec.id === "string" && rec.id !== id);

      const after = await cli(["schedule", "ls"], { env });
      assert.equal(after.code, 0, after.stderr);
      assert.ok(!after.stdout.includes(id), after.stdout);
      assert.deepEqual((await lsJson(env)).map((s) => s.id), [far]);
      // The session took it: nothing of it is left pending.
      const inbox = await cli(["inbox", "ls", "--name", "s", "--json"], { env });
      assert.deepEqual(jsonLines(inbox.stdout), []);
    } finally {
      assert.equal(await d.stop(), 0, d.stderr);
    }
    assert.equal(d.records.filter(isSchedule).length, 1, JSON.stringify(d.records));
  });
});

Deno.test("schedule: rm removes a schedule (and it never fires); unknown id → exit 1", async () => {
  await withEnv(async (env) => {
    await createSession(env, "r");
    const far = await add(env, ["--name", "r", "--in", "1h", "far away"]);
    assert.deepEqual((await lsJson(env)).map((s) => s.id), [far]);
    const rm = await cli(["schedule", "rm", far], { env });
    assert.equal(rm.code, 0, rm.stderr);
    assert.match(rm.stdout, new RegExp(far));
    assert.deepEqual(await lsJson(env), []);
    const ls = await cli(["schedule", "ls"], { env });
    assert.ok(!ls.stdout.includes(far), ls.stdout);

    const again = await cli(["schedule", "rm", far], { env });
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`'${far}'`));
    const unknown = await cli(["schedule", "rm", "NOSUCHID"], { env });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /No schedule with id 'NOSUCHID'/);
    assert.equal(unknown.stderr.trim().split("\n").length, 1, unknown.stderr);

    // A removed schedule does not fire in a daemon, though its timer was armed; a later one does.
    const d = await daemon(env, "r");
    try {
      // The removal must land before the schedule is due, or the test proves nothing: on a
      // machine too slow for that, try again with twice the time.
      let dueIn = 2;
      for (;; dueIn *= 2) {
        const started = Date.now();
        const gone = await add(env, ["--name", "r", "--in", `${dueIn}s`, "removed"]);
        assert.equal((await cli(["schedule", "rm", gone], { env })).code, 0);
        if (Date.now() - started < dueIn * 1000 - 250) break;
      }
      // Due after the removed one would have fired.
      await add(env, ["--name", "r", "--in", `${dueIn + 1}s`, "marker"]);
      const marker = await d.waitFor((r) => isSchedule(r) && r.content === "marker");
      assert.ok(marker);
    } finally {
      assert.equal(await d.stop(), 0, d.stderr);
    }
    assert.deepEqual(d.records.filter(isSchedule).map((r) => r.content), ["marker"]);
  });
});

Deno.test("schedule: added while stopped, it is delivered by a later one-shot run, once", async () => {
  await withEnv(async (env) => {
    await createSession(env, "p");
    const id = await add(env, ["--name", "p", "--in", "1s", "while you were out"]);
    await new Promise((r) => setTimeout(r, 2000));
    const recs = await oneShot(env, "p");
    const fired = recs.filter(isSchedule);
    assert.deepEqual(fired.map((r) => [r.content, r.source_label]), [
      ["while you were out", `schedule ${id}`],
    ]);
    assert.deepEqual(await lsJson(env), []);
    const again = await oneShot(env, "p");
    assert.equal(again.filter(isSchedule).length, 0, JSON.stringify(again));
  });
});

Deno.test("schedule: added while stopped and not yet due, it fires in a daemon started later", async () => {
  await withEnv(async (env) => {
    await createSession(env, "q");
    // The `schedule add` process armed the timer and is gone; the daemon must arm its own.
    const id = await add(env, ["--name", "q", "--in", "2s", "after restart"]);
    const d = await daemon(env, "q");
    try {
      const rec = await d.waitFor(isSchedule);
      assert.equal(rec.content, "after restart");
      assert.equal(rec.source_label, `schedule ${id}`);
    } finally {
      assert.equal(await d.stop(), 0, d.stderr);
    }
    assert.deepEqual(await lsJson(env), []);
  });
});

Deno.test("schedule: --every fires repeatedly in a daemon", async () => {
  await withEnv(async (env) => {
    const d = await daemon(env, "e");
    let id = "";
    try {
      id = await add(env, ["--name", "e", "--every", "1s", "tick"]);
      const ls = await cli(["schedule", "ls", "--name", "e"], { env });
      assert.match(ls.stdout, /every 1s/);
      const ticks = await d.waitForCount(isSchedule, 2);
      assert.ok(ticks.every((r) => r.content === "tick" && r.source_label === `schedule ${id}`));
      assert.equal(new Set(ticks.map((r) => r.id)).size, ticks.length, "each firing is new");
      // It repeats: still listed, with its firings counted.
      const [s] = await lsJson(env, "e");
      assert.equal(s.id, id);
      assert.ok(s.fired >= 2, JSON.stringify(s));
    } finally {
      if (id) await cli(["schedule", "rm", id], { env });
      assert.equal(await d.stop(), 0, d.stderr);
    }
  });
});

Deno.test("schedule: a repeating schedule that fell behind fires once, not in a burst", async () => {
  await withEnv(async (env) => {
    await createSession(env, "b");
    const id = await add(env, ["--name", "b", "--every", "1s", "catch up"]);
    const [before] = await lsJson(env, "b");
    await new Promise((r) => setTimeout(r, 4200));
    const recs = await oneShot(env, "b");
    assert.deepEqual(recs.filter(isSchedule).map((r) => r.content), ["catch up"]);
    const [s] = await lsJson(env, "b");
    assert.equal(s.id, id);
    assert.equal(s.fired, 1);
    // It moved past the missed runs instead of keeping them due.
    assert.ok(s.next_at >= before.created_at + 4200, JSON.stringify({ before, s }));
    assert.equal((s.next_at - before.next_at) % 1000, 0, "keeps its phase");
  });
});

Deno.test("schedule: a stopped session's schedule fires neither through another session's daemon nor in a burst later", async () => {
  await withEnv(async (env) => {
    await createSession(env, "a");
    await add(env, ["--name", "a", "--every", "1s", "a tick"]);
    const d = await daemon(env, "b");
    let id = "";
    try {
      // b's own schedule is the clock: by its third firing a's timers have come due in b's queue.
      id = await add(env, ["--name", "b", "--every", "1s", "b tick"]);
      await d.waitForCount(isSchedule, 3);
    } finally {
      if (id) await cli(["schedule", "rm", id], { env });
      assert.equal(await d.stop(), 0, d.stderr);
    }
    assert.ok(d.records.filter(isSchedule).every((r) => r.content === "b tick"));
    const ls = await cli(["inbox", "ls", "--name", "a", "--json"], { env });
    assert.equal(ls.code, 0, ls.stderr);
    assert.equal(ls.stdout.trim(), "", "nothing fired into a while it was stopped");
    // a's own run fires what fell behind once.
    const recs = await oneShot(env, "a");
    assert.deepEqual(recs.filter(isSchedule).map((r) => r.content), ["a tick"]);
  });
});

Deno.test("schedule: two running daemons each fire their own schedules, whichever dequeues the timer", async () => {
  await withEnv(async (env) => {
    const a = await daemon(env, "a");
    const b = await daemon(env, "b");
    const ids: string[] = [];
    try {
      ids.push(await add(env, ["--name", "a", "--every", "1s", "a tick"]));
      ids.push(await add(env, ["--name", "b", "--every", "1s", "b tick"]));
      // One KV queue serves both processes: a timer of a's taken by b wakes a to fire it.
      await Promise.all([a.waitForCount(isSchedule, 3), b.waitForCount(isSchedule, 3)]);
    } finally {
      for (const id of ids) await cli(["schedule", "rm", id], { env });
      assert.equal(await a.stop(), 0, a.stderr);
      assert.equal(await b.stop(), 0, b.stderr);
    }
    assert.ok(a.records.filter(isSchedule).every((r) => r.content === "a tick"));
    assert.ok(b.records.filter(isSchedule).every((r) => r.content === "b tick"));
  });
});

Deno.test("schedule add: bad input → exit 2 with a clear one-line message, nothing stored", async () => {
  await withEnv(async (env) => {
    await createSession(env, "v");
    const cases: [string[], RegExp][] = [
      [["--in", "1s", "--at", "2099-01-01 09:00"], /exactly one of --in, --at, --every or --cron/],
      [["--every", "1s", "--cron", "* * * * *"], /exactly one of --in, --at, --every or --cron/],
      [[], /exactly one of --in, --at, --every or --cron/],
      [["--in", "5x"], /Invalid duration '5x'/],
      [["--every", "0s"], /Duration '0s' must be longer than zero/],
      [["--at", "2020-01-01 09:00"], /in the past/],
      [["--at", "2099-02-31 09:00"], /Invalid date or time '2099-02-31 09:00'/],
      [["--at", "tomorrow"], /Invalid time 'tomorrow'/],
      [["--cron", "not a cron"], /Invalid cron expression 'not a cron'/],
      [["--cron", "61 * * * *"], /Invalid cron expression '61 \* \* \* \*'/],
    ];
    for (const [flags, message] of cases) {
      const res = await cli(["schedule", "add", "--name", "v", ...flags, "msg"], { env });
      const what = `schedule add ${flags.join(" ")}`;
      assert.equal(res.code, 2, `${what}: ${res.stderr}`);
      assert.match(res.stderr, message, what);
      assert.equal(res.stderr.trim().split("\n").length, 1, `${what}: ${res.stderr}`);
      assert.ok(!res.stderr.includes("    at "), `${what}: stack trace: ${res.stderr}`);
    }
    const empty = await cli(["schedule", "add", "--name", "v", "--in", "1m", "   "], { env });
    assert.equal(empty.code, 2, empty.stderr);
    const noSession = await cli(["schedule", "add", "--name", "ghost", "--in", "1m", "x"], { env });
    assert.equal(noSession.code, 1);
    assert.match(noSession.stderr, /no session named 'ghost'/);
    assert.deepEqual(await lsJson(env), []);
  });
});

Deno.test("schedule add: --cron and a future --at are accepted and listed", async () => {
  await withEnv(async (env) => {
    await createSession(env, "c");
    const cron = await add(env, ["--name", "c", "--cron", "* * * * *", "every minute"]);
    const at = await add(env, ["--name", "c", "--at", "2099-01-01 09:00", "far future"]);
    const text = await cli(["schedule", "ls"], { env });
    assert.equal(text.code, 0, text.stderr);
    const cronRow = text.stdout.split("\n").find((l) => l.startsWith(cron));
    assert.ok(cronRow, text.stdout);
    assert.match(cronRow, /cron \* \* \* \* \*/);
    assert.match(cronRow, /every minute/);
    assert.ok(text.stdout.includes(at), text.stdout);

    const list = await lsJson(env, "c");
    // Soonest first: the cron runs within a minute, the --at in 2099.
    assert.deepEqual(list.map((s) => s.id), [cron, at]);
    assert.deepEqual(list[0].spec, { kind: "cron", expr: "* * * * *" });
    assert.equal(list[0].next_at % 60_000, 0, "on a whole minute");
    assert.ok(list[0].next_at > list[0].created_at);
    assert.equal(list[1].spec.kind, "at");
    assert.equal(list[1].next_at, new Date(2099, 0, 1, 9, 0).getTime());
    assert.deepEqual(await lsJson(env, "other"), []);
  });
});
