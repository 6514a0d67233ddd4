import assert from "node:assert/strict";
import { join } from "node:path";
import { getLogger } from "@logtape/logtape";
import { processSpawner } from "../exec/spawn.ts";
import { InboxStore } from "../inbox/store.ts";
import { JOB, JOB_CHUNK, JOB_DEAD, JOB_DONE, JOB_RETRY } from "../kv/keys.ts";
import { JobStore } from "../webhook/job_store.ts";
import { JobRunner, type JobRunnerOptions } from "./job_runner.ts";
import { countKeys } from "../../test/_kv.ts";
import { exists, until } from "../../test/_poll.ts";

interface Harness {
  kv: Deno.Kv;
  jobs: JobStore;
  store: InboxStore;
  runs: { status: number; job: string }[];
  runner(script: string, options?: Partial<JobRunnerOptions>): JobRunner;
  script(name: string, body: string): Promise<string>;
  post(body: string): Promise<string>;
}

/** Real `:memory:` KV, real scripts in a temp dir, the real spawner. */
async function withJobs(fn: (h: Harness) => Promise<void>): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  const dir = await Deno.makeTempDir({ prefix: "hh-jobs" });
  const jobs = new JobStore(kv);
  const store = new InboxStore(kv);
  const runs: { status: number; job: string }[] = [];
  try {
    await fn({
      kv,
      jobs,
      store,
      runs,
      runner: (script, options = {}) =>
        new JobRunner({
          session: "s",
          hook: { name: "h", script, timeout: 10 },
          concurrency: 1,
          jobs,
          store,
          spawner: processSpawner,
          log: getLogger(["hookhost-test"]),
          hardStop: new AbortController().signal,
          onRun: (run) => runs.push({ status: run.status, job: run.job }),
          ...options,
        }),
      async script(name, body) {
        const path = join(dir, name);
        await Deno.writeTextFile(path, `#!/bin/sh\n${body}\n`);
        await Deno.chmod(path, 0o755);
        return path;
      },
      async post(body) {
        const job = await jobs.add("s", "h", {
          method: "POST",
          url: "http://127.0.0.1:1/h?x=1",
          headers: [["x-test", "yes"]],
          body: new TextEncoder().encode(body),
        });
        return job.id;
      },
    });
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("JobRunner.run() runs jobs oldest first, stores outputs and deletes finished batches", async () => {
  await withJobs(async (h) => {
    const script = await h.script(
      "echo.sh",
      'printf "%s %s %s" "$(cat)" "$HOOK_QUERY" "$HOOK_HEADER_X_TEST"',
    );
    const ids = [];
    for (const body of ["one", "two", "three"]) ids.push(await h.post(body));
    await h.runner(script).run(new AbortController().signal, { untilIdle: true });
    const inbox = await h.store.list("s");
    assert.deepEqual(inbox.map((m) => m.content), ["one x=1 yes", "two x=1 yes", "three x=1 yes"]);
    assert.ok(inbox.every((m) => m.source === "webhook" && m.label === "webhook h"));
    assert.deepEqual(h.runs, ids.map((job) => ({ status: 200, job })));
    assert.equal(await countKeys(h.kv, [JOB]), 0, "finished batches are deleted");
  });
});

Deno.test("JobRunner.run() with one attempt reports a failed script once, makes it a dead letter and does not run it again", async () => {
  await withJobs(async (h) => {
    const script = await h.script("fail.sh", "echo broken >&2; exit 3");
    const id = await h.post("x");
    await h.runner(script).run(new AbortController().signal, { untilIdle: true });
    await h.runner(script).run(new AbortController().signal, { untilIdle: true });
    assert.deepEqual(h.runs, [{ status: 500, job: id }]);
    assert.equal(await h.jobs.count("s", "h"), 0);
    assert.equal((await h.store.list("s")).length, 0);
    const [dead, ...more] = await h.jobs.retries.dead("s");
    assert.deepEqual(more, []);
    assert.equal(dead.id, id);
    assert.equal(dead.attempts, 1);
    assert.equal(dead.error, "exit code 3");
    assert.equal(await countKeys(h.kv, [JOB]), 0, "its batch is gone");
  });
});

/** A runner's runs with their attempt fields, and a clock the test moves. */
function retrying(h: Harness, script: string, attempts: JobRunnerOptions["attempts"]) {
  const clock = { now: 1_000_000 };
  const runs: { status: number; attempt: number; retry_at?: string; dead?: true }[] = [];
  const runner = () =>
    h.runner(script, {
      attempts,
      now: () => clock.now,
      onRun: ({ status, attempt, retry_at, dead }) =>
        runs.push({
          status,
          attempt,
          ...(retry_at ? { retry_at } : {}),
          ...(dead ? { dead } : {}),
        }),
    });
  const once = () => runner().run(new AbortController().signal, { untilIdle: true });
  return { clock, runs, once };
}

Deno.test("JobRunner.run() runs a failed job again once its backoff has passed (a new runner on the same KV finds it), and its success leaves no key behind", async () => {
  await withJobs(async (h) => {
    const marker = join(await Deno.makeTempDir({ prefix: "hh-retry" }), "ok");
    const script = await h.script(
      "flaky.sh",
      `[ -f ${marker} ] || exit 7; printf "got %s" "$(cat)"`,
    );
    const delays: number[] = [];
    const r = retrying(h, script, { max: 3, delay: (n) => (delays.push(n), n * 10_000) });
    const id = await h.post("payload");
    await r.once();
    assert.deepEqual(r.runs, [{
      status: 500,
      attempt: 1,
      retry_at: new Date(1_010_000).toISOString(),
    }]);
    assert.deepEqual(delays, [1]);
    assert.equal(await h.jobs.count("s", "h"), 1, "still pending");
    const [waiting] = await h.jobs.retries.waiting("s");
    assert.deepEqual([waiting.id, waiting.retry], [id, {
      attempts: 1,
      due: 1_010_000,
      error: "exit code 7",
    }]);

    // Not due yet: nothing runs.
    r.clock.now += 9_999;
    await r.once();
    assert.equal(r.runs.length, 1);

    await Deno.writeTextFile(marker, "");
    r.clock.now += 1;
    await r.once();
    assert.deepEqual(r.runs.slice(1), [{ status: 200, attempt: 2 }]);
    assert.deepEqual((await h.store.list("s")).map((m) => m.content), ["got payload"]);
    assert.equal(await h.jobs.count("s", "h"), 0);
    for (const prefix of [JOB, JOB_DONE, JOB_RETRY, JOB_DEAD, JOB_CHUNK]) {
      assert.equal(await countKeys(h.kv, [prefix]), 0, `keys under ${prefix}`);
    }
  });
});

Deno.test("JobRunner.run() makes a job dead after max_attempts failed runs, keeping its large body, and a replayed job runs with that body and fresh attempts", async () => {
  await withJobs(async (h) => {
    const marker = join(await Deno.makeTempDir({ prefix: "hh-dead" }), "ok");
    const script = await h.script(
      "flaky.sh",
      `[ -f ${marker} ] || { echo "not yet" >&2; exit 9; }; wc -c | tr -d ' '`,
    );
    const r = retrying(h, script, { max: 2, delay: () => 1_000 });
    const body = "b".repeat(200_000);
    const id = await h.post(body);
    assert.ok(await countKeys(h.kv, [JOB_CHUNK]) > 1, "the body is in chunks");
    await r.once();
    r.clock.now += 1_000;
    await r.once();
    r.clock.now += 60_000;
    await r.once();
    assert.deepEqual(r.runs, [
      { status: 500, attempt: 1, retry_at: new Date(1_001_000).toISOString() },
      { status: 500, attempt: 2, dead: true },
    ]);
    assert.equal(await h.jobs.count("s", "h"), 0, "a dead job is not pending");
    const [dead] = await h.jobs.retries.dead("s", "h");
    assert.deepEqual([dead.id, dead.hook, dead.attempts, dead.error, dead.failed_at], [
      id,
      "h",
      2,
      "exit code 9",
      1_001_000,
    ]);
    assert.ok(await countKeys(h.kv, [JOB_CHUNK]) > 1, "a dead job keeps its body");

    await assert.rejects(
      () => h.jobs.retries.replay("s", { ids: ["nope"], now: r.clock.now }),
      /No dead job 'nope' in session 's'/,
    );
    await Deno.writeTextFile(marker, "");
    assert.deepEqual(await h.jobs.retries.replay("s", { now: r.clock.now }), [id]);
    assert.deepEqual(await h.jobs.retries.dead("s"), []);
    await r.once();
    assert.deepEqual(r.runs.slice(2), [{ status: 200, attempt: 1 }]);
    assert.deepEqual((await h.store.list("s")).map((m) => m.content), ["200000"]);
    for (const prefix of [JOB, JOB_DONE, JOB_RETRY, JOB_DEAD, JOB_CHUNK]) {
      assert.equal(await countKeys(h.kv, [prefix]), 0, `keys under ${prefix}`);
    }
  });
});

Deno.test("JobRunner.run() wakes for a retry when it is due, while running as a daemon", async () => {
  await withJobs(async (h) => {
    const script = await h.script("count.sh", `cat >/dev/null; exit 4`);
    const stop = new AbortController();
    let runs = 0;
    const dead = Promise.withResolvers<void>();
    const runner = h.runner(script, {
      // Real time: the second run comes about 50 ms after the first, without a wake.
      attempts: { max: 2, delay: () => 50 },
      onRun: (run) => {
        runs++;
        if (run.dead) dead.resolve();
      },
    });
    const running = runner.run(stop.signal);
    await h.post("x");
    runner.wake();
    await dead.promise;
    stop.abort();
    await running;
    assert.equal(runs, 2);
  });
});

Deno.test("JobRunner.run() keeps a job cut short by shutdown for the next start", async () => {
  await withJobs(async (h) => {
    const slow = await h.script("slow.sh", 'touch "$0.started"\nsleep 30; echo late');
    const id = await h.post("x");
    const stop = new AbortController();
    const hard = new AbortController();
    const running = h.runner(slow, { hardStop: hard.signal }).run(stop.signal);
    // Once it runs, stop (as SIGTERM does) and then kill (as the end of the grace does).
    await until(() => exists(`${slow}.started`), () => "the job's script never started");
    stop.abort();
    hard.abort();
    await running;
    assert.equal(h.runs.length, 0, "no outcome is reported for a killed job");
    assert.equal(await h.jobs.count("s", "h"), 1, "the job waits for the next start");
    const quick = await h.script("quick.sh", "echo done");
    await h.runner(quick).run(new AbortController().signal, { untilIdle: true });
    assert.deepEqual(h.runs, [{ status: 200, job: id }]);
    assert.deepEqual((await h.store.list("s")).map((m) => m.content), ["done"]);
  });
});

Deno.test("JobRunner.run() with concurrency runs jobs at the same time", async () => {
  await withJobs(async (h) => {
    // Each script waits until all three have started, so this ends only if they overlap.
    const dir = await Deno.makeTempDir({ prefix: "hh-overlap" });
    try {
      const script = await h.script(
        "overlap.sh",
        `touch ${dir}/$$; n=0; while [ "$(ls ${dir} | wc -l)" -lt 3 ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done; ls ${dir} | wc -l`,
      );
      for (const body of ["a", "b", "c"]) await h.post(body);
      await h.runner(script, { concurrency: 3 }).run(new AbortController().signal, {
        untilIdle: true,
      });
      const contents = (await h.store.list("s")).map((m) => m.content.trim());
      assert.deepEqual(contents, ["3", "3", "3"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("JobRunner() refuses a concurrency below 1", () => {
  assert.throws(
    () =>
      new JobRunner({
        session: "s",
        hook: { name: "h", script: "/bin/true", timeout: 1 },
        concurrency: 0,
        jobs: {} as JobStore,
        store: {} as InboxStore,
        spawner: processSpawner,
        log: getLogger(["hookhost-test"]),
        hardStop: new AbortController().signal,
      }),
    RangeError,
  );
});
