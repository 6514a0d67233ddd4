import assert from "node:assert/strict";
import { join } from "node:path";
import { getLogger } from "@logtape/logtape";
import { processSpawner } from "../exec/spawn.ts";
import { InboxStore } from "../inbox/store.ts";
import { JOB } from "../kv/keys.ts";
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

Deno.test("JobRunner.run() reports a failed script once and does not run it again", async () => {
  await withJobs(async (h) => {
    const script = await h.script("fail.sh", "echo broken >&2; exit 3");
    const id = await h.post("x");
    await h.runner(script).run(new AbortController().signal, { untilIdle: true });
    await h.runner(script).run(new AbortController().signal, { untilIdle: true });
    assert.deepEqual(h.runs, [{ status: 500, job: id }]);
    assert.equal(await h.jobs.count("s", "h"), 0);
    assert.equal((await h.store.list("s")).length, 0);
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
