import assert from "node:assert/strict";
import { join } from "node:path";
import { WorkerPool, type WorkerPoolOptions } from "./pool.ts";
import { alive, scaled, until } from "../../test/_poll.ts";

const quiet = {
  error() {},
  warn() {},
  info() {},
  debug() {},
} as unknown as WorkerPoolOptions["log"];
const req = (body: string) => ({
  method: "POST",
  url: "http://h/",
  headers: new Headers(),
  body: new TextEncoder().encode(body),
});

/** A pool of `sh` worker `body` (a line loop: `$line` is the request, `$id` its id). */
async function withPool(
  body: string,
  options: Partial<WorkerPoolOptions>,
  fn: (pool: WorkerPool, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const script = join(dir, "w.sh");
  await Deno.writeTextFile(
    script,
    `#!/bin/sh\nwhile read -r line; do\n  id=$(printf '%s' "$line" | sed 's/.*"id":"\\([0-9]*\\)".*/\\1/')\n${body}\ndone\n`,
  );
  await Deno.chmod(script, 0o755);
  const pool = new WorkerPool({
    hook: "h",
    session: "s",
    script,
    env: () => ({ PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", DIR: dir }),
    log: quiet,
    ...options,
  });
  try {
    await fn(pool, dir);
  } finally {
    await pool.stop(1000);
    await Deno.remove(dir, { recursive: true });
  }
}

const OK = `  printf '{"id":"%s","message":"ok"}\\n' "$id"`;
const CRASH_ON_X = `  case "$line" in *'"body":"x"'*) exit 3;; esac\n${OK}`;

Deno.test("WorkerPool: a request that timed out waiting leaves no stale wake-up behind: the next waiter is served when the worker is back, not at its own deadline", async () => {
  await withPool(CRASH_ON_X, { backoffMs: 300 }, async (pool) => {
    assert.equal((await pool.run(req("x"), { timeoutMs: 2000 })).status, 500);
    // The worker waits out its backoff: A gives up first, B is still there when it is back.
    const a = pool.run(req("a"), { timeoutMs: 50 });
    const timeout = scaled(10_000);
    const b = pool.run(req("b"), { timeoutMs: timeout });
    assert.equal((await a).status, 504);
    const got = await b;
    assert.equal(got.status, 200);
    assert.ok(got.duration_ms < timeout, `answered at ${got.duration_ms} ms, its deadline`);
  });
});

Deno.test("WorkerPool: a worker that fails while it is being replaced comes back in service", async () => {
  const body = `  case "$line" in *'"body":"hang"'*) sleep 30;; esac\n${OK}`;
  await withPool(body, { backoffMs: 100 }, async (pool) => {
    const hang = pool.run(req("hang"), { timeoutMs: 300 });
    await until(() => pool.status()[0].inflight === 1, () => JSON.stringify(pool.status()));
    pool.restart();
    assert.equal((await hang).status, 504);
    const next = await pool.run(req("n"), { timeoutMs: scaled(10_000) });
    assert.equal(next.status, 200, JSON.stringify(pool.status()));
  });
});

Deno.test("WorkerPool: a worker whose escaped child still holds its stdout is seen to exit, and stop() does not wait for that child", async () => {
  const body = `  setsid sleep 30 &\n  echo $! > "$DIR/escaped"\n  exit 1`;
  await withPool(body, { backoffMs: 60_000 }, async (pool, dir) => {
    const got = await pool.run(req("a"), { timeoutMs: scaled(20_000) });
    assert.equal(got.status, 500);
    const escaped = Number(await Deno.readTextFile(join(dir, "escaped")));
    try {
      assert.ok(got.duration_ms < scaled(10_000), `${got.duration_ms} ms`);
    } finally {
      Deno.kill(escaped, "SIGKILL");
    }
  });
});

Deno.test("WorkerPool: a request that arrives while the pool stops is answered at once, not sent to a closing worker", async () => {
  // Never reads its stdin, so it does not exit at its end: stop() waits out the grace for it.
  const dir = await Deno.makeTempDir();
  const script = join(dir, "w.sh");
  await Deno.writeTextFile(script, `#!/bin/sh\nsleep 30\n`);
  await Deno.chmod(script, 0o755);
  const pool = new WorkerPool({ hook: "h", session: "s", script, env: () => ({}), log: quiet });
  try {
    const stopping = pool.stop(scaled(2000));
    const late = await pool.run(req("late"), { timeoutMs: scaled(20_000) });
    assert.equal(late.status, 504);
    assert.ok(late.duration_ms < scaled(1000), `${late.duration_ms} ms`);
    await stopping;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("WorkerPool: replacing a worker after its script changed also ends what it left running in its process group", async () => {
  const body =
    `  [ -e "$DIR/bg" ] || { sleep 41 >/dev/null 2>&1 </dev/null & echo $! > "$DIR/bg"; }\n${OK}`;
  await withPool(body, {}, async (pool, dir) => {
    assert.equal((await pool.run(req("a"), { timeoutMs: scaled(5000) })).status, 200);
    const bg = Number(await Deno.readTextFile(join(dir, "bg")));
    assert.ok(alive(bg));
    pool.restart();
    await until(() => !alive(bg), () => `background child ${bg} of the replaced worker still runs`);
    assert.equal((await pool.run(req("b"), { timeoutMs: scaled(5000) })).status, 200);
  });
});
