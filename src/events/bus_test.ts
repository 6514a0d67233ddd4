import assert from "node:assert/strict";
import { join } from "node:path";
import { type Logger, reset } from "@logtape/logtape";
import { type Spawner, SpawnError } from "../exec/spawn.ts";
import { EventBus, type EventBusOptions } from "./bus.ts";
import type { EventData } from "./execute.ts";
import { HooksFile } from "./hooks_file.ts";
import { captureLogs } from "../../test/_logs.ts";
import { alive, exists, until } from "../../test/_poll.ts";

const NOW = 1742313600000;

interface Env {
  dir: string;
  log: Logger;
  lines: string[];
  /** Writes hooks.json and returns a bus reading it. */
  bus(hooks: unknown, options?: Partial<EventBusOptions>): Promise<EventBus>;
}

/** A temp dir, a real LogTape logger collecting its lines, and buses over a real hooks.json. */
async function withEnv(fn: (env: Env) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hh-bus" });
  const { log: captured, lines } = await captureLogs("test-bus");
  const log = captured;
  const buses: EventBus[] = [];
  try {
    await fn({
      dir,
      log,
      lines,
      bus: async (hooks, options = {}) => {
        const path = join(dir, "hooks.json");
        await Deno.writeTextFile(path, JSON.stringify(hooks, null, 2));
        const bus = new EventBus(new HooksFile(path, { log }), { log, now: () => NOW, ...options });
        buses.push(bus);
        return bus;
      },
    });
  } finally {
    for (const bus of buses) await bus.idle();
    await reset();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A real local HTTP server recording each request. */
function receiver(
  answer: (req: Request) => Response | Promise<Response> = () => new Response("thanks"),
) {
  const requests: { method: string; headers: Headers; body: string; url: string }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    requests.push({
      method: req.method,
      headers: req.headers,
      body: await req.text(),
      url: req.url,
    });
    return await answer(req);
  });
  return { server, requests, url: `http://127.0.0.1:${server.addr.port}` };
}

const expected = (event: string, params: Record<string, unknown>): EventData => ({
  event,
  fullEvent: `event-${event}`,
  params,
  timestamp: NOW,
});

Deno.test("EventBus.emitAndWait() gives a command hook exactly the documented JSON on stdin", async () => {
  await withEnv(async ({ dir, bus: make }) => {
    const out = join(dir, "stdin.json");
    const bus = await make({
      run_status_changed: [{ hooks: [{ type: "command", command: `cat > '${out}'` }] }],
    });
    const params = { commandKey: "chat_with_ai|chat", runStatus: "running", n: [1, { x: null }] };
    const results = await bus.emitAndWait("run_status_changed", params);
    assert.equal(results.length, 1);
    assert.equal(results[0].ok, true, results[0].error);
    assert.equal(results[0].exitCode, 0);
    const text = await Deno.readTextFile(out);
    assert.deepEqual(JSON.parse(text), expected("run_status_changed", params));
    assert.deepEqual(Object.keys(JSON.parse(text)), ["event", "fullEvent", "params", "timestamp"]);
  });
});

Deno.test("EventBus uses the real clock (Unix ms) by default", async () => {
  await withEnv(async ({ dir, log }) => {
    const out = join(dir, "stdin.json");
    const path = join(dir, "hooks.json");
    await Deno.writeTextFile(
      path,
      JSON.stringify({ ev: [{ hooks: [{ type: "command", command: `cat > '${out}'` }] }] }),
    );
    const bus = new EventBus(new HooksFile(path, { log }), { log });
    const before = Date.now();
    await bus.emitAndWait("ev");
    const after = Date.now();
    const data = JSON.parse(await Deno.readTextFile(out));
    assert.deepEqual(data.params, {});
    assert.ok(before <= data.timestamp && data.timestamp <= after, String(data.timestamp));
  });
});

Deno.test("EventBus http hook POSTs the same JSON with content-type application/json", async () => {
  await withEnv(async ({ dir, bus: make }) => {
    const r = receiver();
    try {
      const out = join(dir, "stdin.json");
      const bus = await make({
        my_event: [{
          hooks: [
            { type: "http", url: `${r.url}/hook?a=1` },
            { type: "command", command: `cat > '${out}'` },
          ],
        }],
      });
      const params = { commandKey: "x", deep: { "é": "ü" } };
      const results = await bus.emitAndWait("my_event", params);
      assert.deepEqual(results.map((x) => x.ok), [true, true]);
      assert.equal(results[0].status, 200);
      assert.equal(results[0].output, "thanks");
      assert.equal(r.requests.length, 1);
      const [req] = r.requests;
      assert.equal(req.method, "POST");
      assert.equal(new URL(req.url).pathname + new URL(req.url).search, "/hook?a=1");
      assert.equal(req.headers.get("content-type"), "application/json");
      assert.deepEqual(JSON.parse(req.body), expected("my_event", params));
      assert.equal(req.body, await Deno.readTextFile(out), "http body = command stdin");
    } finally {
      await r.server.shutdown();
    }
  });
});

Deno.test("EventBus http hook honours a custom method and headers", async () => {
  await withEnv(async ({ bus: make }) => {
    const r = receiver(() => new Response(null, { status: 204 }));
    try {
      const bus = await make({
        ev: [{
          hooks: [
            {
              type: "http",
              url: `${r.url}/put`,
              method: "put",
              headers: { Authorization: "Bearer your-token", "X-Hook": "one" },
            },
            { type: "http", url: `${r.url}/get`, method: "GET" },
          ],
        }],
      });
      const results = await bus.emitAndWait("ev", { subject: "s" });
      assert.deepEqual(results.map((x) => [x.ok, x.status]), [[true, 204], [true, 204]]);
      const put = r.requests.find((q) => q.url.endsWith("/put"))!;
      assert.equal(put.method, "PUT");
      assert.equal(put.headers.get("authorization"), "Bearer your-token");
      assert.equal(put.headers.get("x-hook"), "one");
      assert.equal(put.headers.get("content-type"), "application/json");
      assert.deepEqual(JSON.parse(put.body), expected("ev", { subject: "s" }));
      const get = r.requests.find((q) => q.url.endsWith("/get"))!;
      assert.equal(get.method, "GET");
      assert.equal(get.body, "");
    } finally {
      await r.server.shutdown();
    }
  });
});

Deno.test("EventBus http hook lets a configured Content-Type header replace the default", async () => {
  await withEnv(async ({ bus: make }) => {
    const r = receiver();
    try {
      const bus = await make({
        ev: [{
          hooks: [{
            type: "http",
            url: r.url,
            headers: { "Content-Type": "application/cloudevents+json" },
          }],
        }],
      });
      const [result] = await bus.emitAndWait("ev");
      assert.equal(result.ok, true);
      assert.equal(r.requests[0].headers.get("content-type"), "application/cloudevents+json");
    } finally {
      await r.server.shutdown();
    }
  });
});

Deno.test("EventBus http hook: a non-2xx answer is a failure, logged with its output", async () => {
  await withEnv(async ({ bus: make, lines }) => {
    const r = receiver(() => new Response("upstream down", { status: 503 }));
    try {
      const bus = await make({ ev: [{ hooks: [{ type: "http", url: r.url }] }] });
      const [result] = await bus.emitAndWait("ev");
      assert.equal(result.ok, false);
      assert.equal(result.status, 503);
      assert.equal(result.timedOut, false);
      assert.equal(result.error, "HTTP 503");
      assert.equal(result.output, "upstream down");
      const errors = lines.filter((l) => l.startsWith("error"));
      assert.equal(errors.length, 1, lines.join("\n"));
      assert.match(
        errors[0],
        /event 'ev' hook http POST .* \(ev\[0\]\.hooks\[0\]\) failed: HTTP 503/,
      );
      assert.match(errors[0], /upstream down/);
    } finally {
      await r.server.shutdown();
    }
  });
});

Deno.test("EventBus http hook: a refused connection is a failure, not an exception", async () => {
  await withEnv(async ({ bus: make }) => {
    const r = receiver();
    const url = r.url;
    await r.server.shutdown();
    const bus = await make({ ev: [{ hooks: [{ type: "http", url, timeout: 5000 }] }] });
    const [result] = await bus.emitAndWait("ev");
    assert.equal(result.ok, false);
    assert.equal(result.status, undefined);
    assert.equal(result.timedOut, false);
    assert.ok(result.error, "says why");
  });
});

Deno.test("EventBus http hook: an answer slower than the timeout is a failure", async () => {
  await withEnv(async ({ bus: make }) => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const r = receiver(async () => {
      await released;
      return new Response("late");
    });
    try {
      const bus = await make({ ev: [{ hooks: [{ type: "http", url: r.url, timeout: 200 }] }] });
      const [result] = await bus.emitAndWait("ev");
      assert.equal(result.ok, false);
      assert.equal(result.timedOut, true);
      assert.match(result.error!, /timed out after 200 ms/);
      assert.equal(r.requests.length, 1, "the request did reach the server");
    } finally {
      release();
      await r.server.shutdown();
    }
  });
});

Deno.test("EventBus with an out-of-range timeout in hooks.json refuses the file instead of throwing", async () => {
  await withEnv(async ({ dir, log, lines }) => {
    const r = receiver();
    try {
      // 1e400 is valid JSON (Infinity); timers cannot honour it, so the file is refused.
      const path = join(dir, "hooks.json");
      await Deno.writeTextFile(
        path,
        `{"ev": [{"hooks": [{"type": "http", "url": "${r.url}", "timeout": 1e400}]}]}`,
      );
      const bus = new EventBus(new HooksFile(path, { log }), { log });
      const results = await bus.emitAndWait("ev");
      assert.equal(results.length, 0);
      assert.equal(
        lines.filter((l) => /ev\[0\]\.hooks\[0\]\.timeout/.test(l)).length,
        1,
        lines.join("\n"),
      );
    } finally {
      await r.server.shutdown();
    }
  });
});

Deno.test("EventBus command hook: a non-zero exit is a failure with its output", async () => {
  await withEnv(async ({ bus: make, lines }) => {
    const bus = await make({
      ev: [{ hooks: [{ type: "command", command: "echo out; echo err >&2; exit 3" }] }],
    });
    const [result] = await bus.emitAndWait("ev");
    assert.equal(result.ok, false);
    assert.equal(result.exitCode, 3);
    assert.equal(result.error, "exit code 3");
    assert.match(result.output, /^out\n+err$/);
    assert.equal(lines.filter((l) => l.startsWith("error")).length, 1, lines.join("\n"));
  });
});

Deno.test("EventBus command hook: past its timeout it is killed with its children", async () => {
  await withEnv(async ({ dir, bus: make }) => {
    const pids = join(dir, "pids");
    const bus = await make({
      ev: [{
        hooks: [{
          type: "command",
          command: `sleep 30 >/dev/null 2>&1 & echo "$$ $!" > '${pids}'; wait`,
          timeout: 300,
        }],
      }],
    });
    const [result] = await bus.emitAndWait("ev");
    assert.equal(result.ok, false);
    assert.equal(result.timedOut, true);
    assert.match(result.error!, /timed out after 300 ms and was killed/);
    const [shell, sleeper] = (await Deno.readTextFile(pids)).trim().split(" ").map(Number);
    assert.equal(await alive(shell), false, "the shell is gone");
    await until(async () => !(await alive(sleeper)), () => `sleep ${sleeper} to die`, 2000, 10);
  });
});

Deno.test("EventBus command hook with the longest allowed timeout is not killed at once", async () => {
  await withEnv(async ({ dir, bus: make }) => {
    const out = join(dir, "done");
    const bus = await make({
      ev: [{
        hooks: [{
          type: "command",
          command: `sleep 0.2; echo done > '${out}'`,
          timeout: 2 ** 31 - 1,
        }],
      }],
    });
    const [result] = await bus.emitAndWait("ev");
    assert.equal(result.timedOut, false, result.error);
    assert.equal(result.ok, true);
    assert.equal(await exists(out), true);
  });
});

Deno.test("EventBus command hook that cannot start is a failure", async () => {
  await withEnv(async ({ bus: make }) => {
    const failing: Spawner = {
      run: (command) => Promise.reject(new SpawnError(command, new Error("no such file"))),
    };
    const bus = await make(
      { ev: [{ hooks: [{ type: "command", command: "true" }] }] },
      { spawner: failing },
    );
    const [result] = await bus.emitAndWait("ev");
    assert.equal(result.ok, false);
    assert.equal(result.exitCode, null);
    assert.match(result.error!, /Cannot start '\/bin\/sh': no such file/);
  });
});

Deno.test("EventBus runs only the hooks whose matcher fits", async () => {
  await withEnv(async ({ dir, bus: make }) => {
    const log = join(dir, "log");
    const cmd = (name: string) => ({ type: "command", command: `echo ${name} >> '${log}'` });
    const bus = await make({
      ev: [
        { matcher: "^chat\\|", hooks: [cmd("chat")] },
        { matcher: "", hooks: [cmd("all")] },
        { matcher: "^bot$", hooks: [cmd("bot")] },
      ],
    });
    assert.equal((await bus.emitAndWait("ev", { commandKey: "chat|x" })).length, 2);
    assert.equal((await bus.emitAndWait("ev", { subject: "bot" })).length, 2);
    assert.equal((await bus.emitAndWait("other", { commandKey: "chat|x" })).length, 0);
    const lines = (await Deno.readTextFile(log)).trim().split("\n");
    assert.deepEqual(lines.sort(), ["all", "all", "bot", "chat"]);
  });
});

Deno.test("EventBus runs an event's hooks concurrently", async () => {
  await withEnv(async ({ dir, bus: make }) => {
    // Each hook waits for the other's flag: only hooks running at the same time both succeed.
    const meet = (mine: string, other: string) => ({
      type: "command",
      timeout: 5000,
      command: `touch '${join(dir, mine)}'; while [ ! -e '${
        join(dir, other)
      }' ]; do sleep 0.01; done`,
    });
    const bus = await make({ ev: [{ hooks: [meet("a", "b")] }, { hooks: [meet("b", "a")] }] });
    const results = await bus.emitAndWait("ev");
    assert.deepEqual(results.map((r) => [r.ok, r.timedOut]), [[true, false], [true, false]]);
  });
});

Deno.test("EventBus with maxConcurrent 1 runs hooks one at a time", async () => {
  await withEnv(async ({ dir, bus: make }) => {
    const meet = (mine: string, other: string, timeout: number) => ({
      type: "command",
      timeout,
      command: `touch '${join(dir, mine)}'; while [ ! -e '${
        join(dir, other)
      }' ]; do sleep 0.01; done`,
    });
    const bus = await make(
      { ev: [{ hooks: [meet("a", "b", 300), meet("b", "a", 5000)] }] },
      { maxConcurrent: 1 },
    );
    const results = await bus.emitAndWait("ev");
    // The first waits in vain (the second cannot start) and is killed; then the second runs.
    assert.deepEqual(results.map((r) => [r.ok, r.timedOut]), [[false, true], [true, false]]);
    assert.equal(bus.peakConcurrency, 1);
  });
});

Deno.test("EventBus: http hooks hung on one target do not hold back other hooks", async () => {
  await withEnv(async ({ bus: make }) => {
    const release = Promise.withResolvers<void>();
    const r = receiver(async () => {
      await release.promise;
      return new Response("late");
    });
    try {
      // hooks.json timeouts are ms: these outlast the test.
      const hung = { type: "http", url: `${r.url}/hang`, timeout: 20_000 };
      const bus = await make({
        slow: [{ hooks: Array(30).fill(hung) }],
        fast: [{ hooks: [{ type: "command", command: "echo done" }] }],
      }, { maxConcurrent: 8 });
      let slowDone = 0;
      const slow = bus.emitAndWait("slow").then((results) => {
        slowDone = results.length;
        return results;
      });
      // The target's share of the slots (4 of 8) is taken by hung requests.
      while (r.requests.length < 4) await new Promise((ok) => setTimeout(ok, 10));
      const [fast] = await bus.emitAndWait("fast");
      assert.equal(fast.ok, true);
      assert.equal(fast.output, "done");
      assert.equal(slowDone, 0, "the command hook waited for the hung http hooks");
      assert.equal(r.requests.length, 4, "one target took more than its share");
      release.resolve();
      assert.ok((await slow).every((x) => x.ok));
    } finally {
      release.resolve();
      await r.server.shutdown();
    }
  });
});

Deno.test("EventBus refuses, counts and logs hook runs past the queue limit", async () => {
  await withEnv(async ({ bus: make, lines }) => {
    const cmd = { type: "command", command: "sleep 0.1" };
    const bus = await make({ ev: [{ hooks: [cmd, cmd, cmd] }] }, {
      maxConcurrent: 1,
      queueLimit: 1,
    });
    const results = await bus.emitAndWait("ev");
    assert.deepEqual(results.map((r) => r.ok), [true, true, false]);
    assert.match(results[2].error!, /queue is full/);
    assert.equal(bus.overflowed, 1);
    const warnings = lines.filter((l) => l.startsWith("warning"));
    assert.equal(warnings.length, 1, lines.join("\n"));
    assert.match(
      warnings[0],
      /not run: .*queue is full.*; 1 refused since the last such line, 1 in all/,
    );
    assert.deepEqual(bus.refusals(), { ev: 1 });
  });
});

Deno.test("EventBus logs refusals at least once a second while refusing, and counts them by event", async () => {
  await withEnv(async ({ bus: make, lines }) => {
    let clock = 0;
    const cmd = { type: "command", command: "sleep 0.05" };
    const bus = await make({ a: [{ hooks: Array(6).fill(cmd) }], b: [{ hooks: [cmd, cmd] }] }, {
      maxConcurrent: 1,
      queueLimit: 0,
      now: () => clock,
    });
    // One runs, five are refused within the same second: one line.
    assert.equal((await bus.emitAndWait("a")).filter((r) => !r.ok).length, 5);
    clock = 1500;
    assert.equal((await bus.emitAndWait("b")).filter((r) => !r.ok).length, 1);
    const warnings = lines.filter((l) => l.startsWith("warning"));
    assert.equal(warnings.length, 2, lines.join("\n"));
    assert.match(warnings[0], /event 'a' .*; 5 refused since the last such line, 5 in all/);
    assert.match(warnings[1], /event 'b' .*; 1 refused since the last such line, 6 in all/);
    assert.deepEqual(bus.refusals(), { a: 5, b: 1 });
  });
});

Deno.test("EventBus subscribers receive every event's data; a failing one breaks nothing", async () => {
  await withEnv(async ({ dir, bus: make, lines }) => {
    const out = join(dir, "out");
    const bus = await make({ ev: [{ hooks: [{ type: "command", command: `cat > '${out}'` }] }] });
    const got: EventData[] = [];
    const off = bus.subscribe((d) => {
      got.push(d);
    });
    bus.subscribe(() => {
      throw new Error("sync boom");
    });
    bus.subscribe(() => Promise.reject(new Error("async boom")));
    const results = await bus.emitAndWait("ev", { commandKey: "k" });
    await bus.idle();
    assert.deepEqual(results.map((r) => r.ok), [true]);
    assert.deepEqual(got, [expected("ev", { commandKey: "k" })]);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(out)), got[0]);
    bus.emit("unhooked", { subject: "s" });
    await bus.idle();
    assert.deepEqual(got.map((d) => d.event), ["ev", "unhooked"]);
    off();
    bus.emit("ev");
    await bus.idle();
    assert.equal(got.length, 2, "unsubscribed");
    const errors = lines.filter((l) => /subscriber failed/.test(l));
    assert.equal(errors.filter((l) => /: sync boom/.test(l)).length, 3, lines.join("\n"));
    assert.equal(errors.filter((l) => /: async boom/.test(l)).length, 3, lines.join("\n"));
  });
});

Deno.test("EventBus.listens() is true only for events a hook or a subscriber wants", async () => {
  await withEnv(async ({ dir, bus: make }) => {
    const bus = await make({ ev: [{ hooks: [{ type: "command", command: "true" }] }] });
    // A file modified in the last 2 s is re-read at every look (see HooksFile): until then any
    // event may be hooked.
    assert.equal(bus.listens("other"), true);
    const file = join(dir, "hooks.json");
    const age = () => Deno.utime(file, NOW / 1000, NOW / 1000);
    await age();
    await bus.emitAndWait("ev");
    assert.equal(bus.listens("ev"), true);
    assert.equal(bus.listens("other"), false);

    const got: string[] = [];
    const off = bus.subscribe((d) => void got.push(d.event), (event) => event === "other");
    assert.equal(bus.listens("other"), true);
    assert.equal(bus.listens("third"), false);
    bus.emit("third");
    bus.emit("other");
    await bus.emitAndWait("ev");
    assert.deepEqual(got, ["other"], "told only of the events it wants");
    off();
    assert.equal(bus.listens("other"), false);

    // An edit of hooks.json counts at once: a file changed since it was read may hook anything.
    await new Promise((r) => setTimeout(r, 20));
    await Deno.writeTextFile(
      file,
      JSON.stringify({ third: [{ hooks: [{ type: "command", command: "true" }] }] }),
    );
    assert.equal(bus.listens("third"), true);
    await age();
    await new Promise((r) => setTimeout(r, 20));
    await bus.emitAndWait("ev");
    assert.equal(bus.listens("third"), true);
    assert.equal(bus.listens("ev"), false, "hooks.json no longer hooks 'ev'");

    // A subscriber that wants everything hears everything.
    bus.subscribe(() => {});
    assert.equal(bus.listens("anything"), true);
  });
});

Deno.test("EventBus without a hooks file still tells subscribers", async () => {
  await withEnv(async ({ log }) => {
    const bus = new EventBus(null, { log, now: () => NOW });
    const got: EventData[] = [];
    bus.subscribe((d) => {
      got.push(d);
    });
    assert.deepEqual(await bus.emitAndWait("ev", { a: 1 }), []);
    assert.deepEqual(got, [expected("ev", { a: 1 })]);
  });
});

Deno.test("EventBus.emit() returns at once while its hooks run in the background", async () => {
  await withEnv(async ({ dir, bus: make }) => {
    const started = join(dir, "started");
    const go = join(dir, "go");
    const out = join(dir, "out");
    const bus = await make({
      ev: [{
        hooks: [{
          type: "command",
          timeout: 10_000,
          command:
            `touch '${started}'; while [ ! -e '${go}' ]; do sleep 0.01; done; cat > '${out}'`,
        }],
      }],
    });
    const returned = bus.emit("ev", { commandKey: "bg" });
    assert.equal(returned, undefined);
    // The hook cannot have finished: it waits for `go`, which only this test writes, later.
    assert.equal(await exists(out), false);
    await until(() => exists(started), () => "the hook to start in the background", 10_000, 10);
    assert.equal(await exists(out), false);
    await Deno.writeTextFile(go, "");
    await bus.idle();
    assert.deepEqual(
      JSON.parse(await Deno.readTextFile(out)),
      expected("ev", { commandKey: "bg" }),
    );
  });
});

Deno.test("EventBus.emit() of a failing hook is logged and the next event still runs", async () => {
  await withEnv(async ({ dir, bus: make, lines }) => {
    const out = join(dir, "out");
    const bus = await make({
      bad: [{ hooks: [{ type: "command", command: "exit 9" }] }],
      good: [{ hooks: [{ type: "command", command: `cat > '${out}'` }] }],
    });
    bus.emit("bad");
    bus.emit("good", { n: 2 });
    await bus.idle();
    assert.deepEqual(JSON.parse(await Deno.readTextFile(out)).params, { n: 2 });
    const errors = lines.filter((l) => l.startsWith("error"));
    assert.equal(errors.length, 1, lines.join("\n"));
    assert.match(
      errors[0],
      /event 'bad' hook command 'exit 9' \(bad\[0\]\.hooks\[0\]\) failed: exit code 9/,
    );
  });
});

Deno.test("EventBus signal kills running command hooks", async () => {
  await withEnv(async ({ dir, bus: make }) => {
    const pid = join(dir, "pid");
    const stop = new AbortController();
    const bus = await make({
      ev: [{ hooks: [{ type: "command", command: `echo $$ > '${pid}'; exec sleep 30` }] }],
    }, { signal: stop.signal });
    const running = bus.emitAndWait("ev");
    await until(
      async () => (await exists(pid)) && (await Deno.readTextFile(pid)).endsWith("\n"),
      () => "pid",
      10_000,
      10,
    );
    stop.abort();
    const [result] = await running;
    assert.equal(result.ok, false);
    assert.equal(result.timedOut, false);
    assert.equal(await alive(Number((await Deno.readTextFile(pid)).trim())), false);
  });
});

Deno.test("EventBus.emit() with params no matcher can turn into text neither throws nor rejects", async () => {
  await withEnv(async ({ bus: make, dir }) => {
    const out = join(dir, "ran");
    const bus = await make({ ev: [{ hooks: [{ type: "command", command: `cat > '${out}'` }] }] });
    // A plugin or the shell can pass anything; an unhandled rejection here would end the test.
    bus.emit("ev", { commandKey: { toString: 1 } });
    await bus.idle();
    assert.equal(JSON.parse(await Deno.readTextFile(out)).event, "ev");
  });
});
