import assert from "node:assert/strict";
import { join } from "node:path";
import { configure, getLogger, type LogRecord, reset } from "@logtape/logtape";
import { processSpawner, type RunOptions, type Spawner, SpawnError } from "../exec/spawn.ts";
import { type HookRun, scriptHookHandler, type ScriptHookOptions } from "./script_hook.ts";

interface Harness {
  dir: string;
  /** Writes an executable `/bin/sh` script and returns its path. */
  script(name: string, body: string): Promise<string>;
  /** Builds a handler; `injected` and `runs` collect what it did. */
  handler(overrides: Partial<ScriptHookOptions>): (req: Request) => Promise<Response>;
  injected: string[];
  runs: HookRun[];
  /** Rendered log messages. */
  logs: string[];
}

/** A temp dir, a capturing logger and collectors; everything is cleaned up afterwards. */
async function withHarness(fn: (h: Harness) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hh-hook" });
  const logs: string[] = [];
  await configure({
    sinks: {
      memory: (r: LogRecord) => {
        logs.push(r.message.map((p) => (typeof p === "string" ? p : String(p))).join(""));
      },
    },
    loggers: [
      { category: ["hookhost-test"], lowestLevel: "debug", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
  });
  const injected: string[] = [];
  const runs: HookRun[] = [];
  const h: Harness = {
    dir,
    injected,
    runs,
    logs,
    async script(name, body) {
      const path = join(dir, name);
      await Deno.writeTextFile(path, `#!/bin/sh\n${body}\n`);
      await Deno.chmod(path, 0o755);
      return path;
    },
    handler(overrides) {
      return scriptHookHandler({
        name: "gh",
        script: join(dir, "missing.sh"),
        timeout: 10,
        maxBody: 1024 * 1024,
        session: "demo",
        spawner: processSpawner,
        inject: (content) => {
          injected.push(content);
          return Promise.resolve();
        },
        onRun: (run) => runs.push(run),
        log: getLogger(["hookhost-test"]),
        ...overrides,
      });
    },
  };
  try {
    await fn(h);
  } finally {
    await reset();
    await Deno.remove(dir, { recursive: true });
  }
}

function post(
  body: BodyInit | null,
  init: RequestInit = {},
  url = "http://127.0.0.1:9876/hook?x=1",
) {
  return new Request(url, { method: "POST", body, ...init });
}

Deno.test("scriptHookHandler() answers 200 'ok' and injects the script's trimmed stdout", async () => {
  await withHarness(async (h) => {
    const script = await h.script(
      "echo.sh",
      'printf "\\n  %s|%s|%s|%s|%s|%s|%s  \\n\\n" "$HOOK_NAME" "$HOOK_METHOD" "$HOOK_PATH" "$HOOK_QUERY" ' +
        '"$HOOK_SESSION" "$HOOK_HEADER_X_EVENT" "$(cat)"',
    );
    const response = await h.handler({ script })(
      post("body text", { headers: { "X-Event": "push" } }),
    );
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "ok");
    assert.deepEqual(h.injected, ["gh|POST|/hook|x=1|demo|push|body text"]);
    assert.equal(h.runs.length, 1);
    assert.equal(h.runs[0].hook, "gh");
    assert.equal(h.runs[0].status, 200);
    assert.equal(h.runs[0].exit_code, 0);
    assert.ok(h.runs[0].duration_ms >= 0);
  });
});

Deno.test("scriptHookHandler() gives the script the raw body bytes on stdin", async () => {
  await withHarness(async (h) => {
    const script = await h.script("count.sh", "wc -c | tr -d ' '");
    const body = new Uint8Array(1024 * 1024 + 3);
    crypto.getRandomValues(body.subarray(0, 65_536));
    const response = await h.handler({ script, maxBody: 2 * 1024 * 1024 })(post(body));
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.deepEqual(h.injected, [String(body.length)]);
  });
});

Deno.test("scriptHookHandler() answers 204 and injects nothing when stdout is empty", async () => {
  await withHarness(async (h) => {
    const script = await h.script("quiet.sh", "cat > /dev/null\necho '   '");
    const response = await h.handler({ script })(post("x"));
    assert.equal(response.status, 204);
    assert.equal(await response.text(), "");
    assert.deepEqual(h.injected, []);
    assert.deepEqual(h.runs.map((r) => [r.status, r.exit_code]), [[204, 0]]);
  });
});

Deno.test("scriptHookHandler() answers 500, injects nothing and logs stderr on a non-zero exit", async () => {
  await withHarness(async (h) => {
    const script = await h.script(
      "fail.sh",
      "echo 'would inject'\necho 'bad signature' >&2\nexit 3",
    );
    const response = await h.handler({ script })(post("x"));
    assert.equal(response.status, 500);
    await response.body?.cancel();
    assert.deepEqual(h.injected, []);
    assert.deepEqual(h.runs.map((r) => [r.status, r.exit_code]), [[500, 3]]);
    assert.ok(h.logs.some((l) => l.includes("bad signature")), `logs: ${h.logs.join("\n")}`);
  });
});

Deno.test("scriptHookHandler() answers 500 when the script cannot start", async () => {
  await withHarness(async (h) => {
    const response = await h.handler({ script: join(h.dir, "does-not-exist.sh") })(post("x"));
    assert.equal(response.status, 500);
    await response.body?.cancel();
    assert.deepEqual(h.injected, []);
    assert.deepEqual(h.runs.map((r) => [r.status, r.exit_code]), [[500, null]]);
    assert.ok(h.logs.some((l) => l.includes("does-not-exist.sh")), `logs: ${h.logs.join("\n")}`);
  });
});

Deno.test("scriptHookHandler() answers 500 when the Spawner throws SpawnError", async () => {
  await withHarness(async (h) => {
    const calls: RunOptions[] = [];
    const failing: Spawner = {
      run(command, options) {
        calls.push(options ?? {});
        return Promise.reject(new SpawnError(command, new Error("EMFILE: too many open files")));
      },
    };
    const script = await h.script("never.sh", "echo hi");
    const response = await h.handler({ script, spawner: failing })(post("payload"));
    assert.equal(response.status, 500);
    await response.body?.cancel();
    assert.equal(calls.length, 1);
    assert.equal(new TextDecoder().decode(calls[0].stdin as Uint8Array), "payload");
    assert.deepEqual(h.runs.map((r) => [r.status, r.exit_code]), [[500, null]]);
    assert.ok(h.logs.some((l) => l.includes("EMFILE")));
  });
});

Deno.test("scriptHookHandler() answers a script that exited 0 leaving a child on stdout with its output, not 504", async () => {
  await withHarness(async (h) => {
    const pidFile = join(h.dir, "child.pid");
    // A forgotten `&` without redirection: the child holds stdout for 30 s.
    const script = await h.script("bg.sh", `echo deployed\nsleep 30 &\necho $! > ${pidFile}`);
    const response = await h.handler({ script, timeout: 20 })(post("x"));
    const child = Number((await Deno.readTextFile(pidFile)).trim());
    try {
      assert.equal(response.status, 200);
      await response.body?.cancel();
      assert.deepEqual(h.injected, ["deployed"]);
      assert.deepEqual(h.runs.map((r) => [r.status, r.exit_code]), [[200, 0]]);
    } finally {
      Deno.kill(child, "SIGKILL");
    }
  });
});

Deno.test("scriptHookHandler() answers 504 and kills the script past its timeout", async () => {
  await withHarness(async (h) => {
    // The background subshell holds stdout open: answering before 3 s needs the group killed.
    const script = await h.script("slow.sh", "(sleep 3; echo late) &\nsleep 30\necho never");
    const started = Date.now();
    const response = await h.handler({ script, timeout: 1 })(post("x"));
    const elapsed = Date.now() - started;
    assert.equal(response.status, 504);
    await response.body?.cancel();
    assert.ok(elapsed >= 900 && elapsed < 2_900, `answered after ${elapsed} ms`);
    assert.deepEqual(h.injected, []);
    assert.deepEqual(h.runs.map((r) => [r.status, r.exit_code]), [[504, null]]);
    assert.ok(h.logs.some((l) => l.includes("timed out")));
  });
});

Deno.test("scriptHookHandler() answers 413 for a body over max_body without running the script", async () => {
  await withHarness(async (h) => {
    const marker = join(h.dir, "ran");
    const script = await h.script("mark.sh", `touch ${marker}\necho ran`);
    const handler = h.handler({ script, maxBody: 10 });

    const declared = await handler(post("12345678901"));
    assert.equal(declared.status, 413);
    await declared.body?.cancel();

    // No Content-Length: the limit applies while reading the stream.
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(6));
        c.enqueue(new Uint8Array(6));
        c.close();
      },
    });
    const streamed = await handler(post(stream));
    assert.equal(streamed.status, 413);
    await streamed.body?.cancel();

    assert.equal(await Deno.stat(marker).then(() => true, () => false), false);
    assert.deepEqual(h.injected, []);

    const exact = await handler(post("1234567890"));
    assert.equal(exact.status, 200);
    await exact.body?.cancel();
  });
});

Deno.test("scriptHookHandler() answers 503 when the message cannot be stored", async () => {
  await withHarness(async (h) => {
    const script = await h.script("ok.sh", "echo stored?");
    const response = await h.handler({
      script,
      inject: () => Promise.reject(new Error("KV is down")),
    })(post("x"));
    assert.equal(response.status, 503);
    await response.body?.cancel();
    assert.deepEqual(h.runs.map((r) => [r.status, r.exit_code]), [[503, 0]]);
    assert.ok(h.logs.some((l) => l.includes("KV is down")));
  });
});

Deno.test("scriptHookHandler() answers 200 only after inject() resolved", async () => {
  await withHarness(async (h) => {
    const script = await h.script("ok.sh", "echo msg");
    let release!: () => void;
    const stored = new Promise<void>((r) => (release = r));
    let answered = false;
    const pending = h.handler({ script, inject: () => stored })(post("x")).then((r) => {
      answered = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(answered, false, "answered before the message was durable");
    release();
    const response = await pending;
    assert.equal(response.status, 200);
    await response.body?.cancel();
  });
});

Deno.test("scriptHookHandler() refuses a timeout below one second", async () => {
  await withHarness((h) => {
    assert.throws(() => h.handler({ timeout: 0 }), RangeError);
    return Promise.resolve();
  });
});
