/**
 * The event hook examples of docs/event-hooks.md, run as written (URLs pointed at a local receiver, HOME at a
 * temp folder) through `hookhost hooks test`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "../scripts/flags.ts";
import { cli, type CliResult, tempDir } from "./_helpers.ts";

async function examples(): Promise<Map<string, string>> {
  const readme = await Deno.readTextFile(join(ROOT, "docs", "event-hooks.md"));
  const out = new Map<string, string>();
  const re = /^## Example: ([^\n]+)\n[\s\S]*?```json\n([\s\S]*?)```/gm;
  for (const m of readme.matchAll(re)) out.set(m[1].trim(), m[2]);
  return out;
}

async function withReceiver(
  fn: (url: string, bodies: { headers: Headers; body: string }[]) => Promise<void>,
) {
  const bodies: { headers: Headers; body: string }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    bodies.push({ headers: req.headers, body: await req.text() });
    return new Response("ok");
  });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, bodies);
  } finally {
    await server.shutdown();
  }
}

/** Runs `hooks test` on `json` in a temp HOME; `check` sees the result and reads files there. */
async function hooksTest(
  json: string,
  event: string,
  params: unknown,
  check: (r: CliResult, read: (name: string) => Promise<string>) => void | Promise<void>,
) {
  const tmp = await tempDir();
  try {
    await Deno.writeTextFile(join(tmp.path, "hooks.json"), json);
    const result = await cli(["hooks", "test", event, "--params", JSON.stringify(params)], {
      env: {
        HOME: tmp.path,
        HOOKHOST_STATE: join(tmp.path, "state"),
        HOOKHOST_EVENTS: join(tmp.path, "hooks.json"),
      },
      cwd: tmp.path,
    });
    await check(result, (name) => Deno.readTextFile(join(tmp.path, name)));
  } finally {
    await tmp.cleanup();
  }
}

Deno.test("docs/event-hooks.md examples are all found", async () => {
  assert.deepEqual([...(await examples()).keys()], [
    "count messages by source, in EnConvo's current format",
    "log every status change",
    "tell someone when a message fails",
    "post to a chat webhook",
    "several hooks on one event",
  ]);
});

Deno.test("docs/event-hooks.md example in the current format: its matcher picks webhooks, the disabled entry never runs", async () => {
  const json = (await examples()).get("count messages by source, in EnConvo's current format")!;
  const params = { commandKey: "webhook", session: "s", messageId: "m1", outcome: "completed" };
  await hooksTest(json, "Stop", params, async (r, read) => {
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout.match(/^ok /gm)?.length, 1, r.stdout);
    assert.deepEqual(JSON.parse(await read("hookhost-webhooks.jsonl")), {
      outcome: "completed",
      id: "m1",
    });
    await assert.rejects(read("hookhost-all.log"), Deno.errors.NotFound);
  });
});

Deno.test("docs/event-hooks.md example 'log every status change' appends one JSON line per event", async () => {
  const json = (await examples()).get("log every status change")!;
  const params = { commandKey: "ci|webhook", runStatus: "completed" };
  await hooksTest(json, "run_status_changed", params, async (r, read) => {
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const line = JSON.parse(await read("hookhost-status.log"));
    assert.equal(line.key, "ci|webhook");
    assert.equal(line.status, "completed");
    assert.match(line.time, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
  });
});

Deno.test("docs/event-hooks.md example 'tell someone when a message fails' runs cleanly", async () => {
  const json = (await examples()).get("tell someone when a message fails")!;
  const params = { commandKey: "ci|webhook", runStatus: "failed", messageId: "01ABC" };
  await hooksTest(json, "run_status_changed", params, (r) => {
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ok .*exit 0/m);
  });
});

Deno.test("docs/event-hooks.md example 'post to a chat webhook' posts the event JSON", async () => {
  const json = (await examples()).get("post to a chat webhook")!;
  await withReceiver(async (url, bodies) => {
    const local = json.replace(/https:\/\/hooks\.slack\.com[^"]*/, url + "/slack");
    const started = { commandKey: "ci", change: "started" };
    await hooksTest(local, "session_list_changed", started, (r) => {
      assert.equal(r.code, 0, r.stdout + r.stderr);
    });
    const other = { commandKey: "cid", change: "stopped" };
    await hooksTest(local, "session_list_changed", other, (r) => {
      assert.match(r.stdout, /No hook/);
    });
    assert.equal(bodies.length, 1);
    assert.equal(bodies[0].headers.get("content-type"), "application/json");
    const body = JSON.parse(bodies[0].body);
    assert.equal(body.event, "session_list_changed");
    assert.equal(body.fullEvent, "event-session_list_changed");
    assert.deepEqual(body.params, started);
    assert.equal(typeof body.timestamp, "number");
  });
});

Deno.test("docs/event-hooks.md example 'several hooks on one event' runs all three", async () => {
  const json = (await examples()).get("several hooks on one event")!;
  await withReceiver(async (url, bodies) => {
    const local = json.replace("http://127.0.0.1:8080", url);
    const params = { commandKey: "github-push", status: 500, exitCode: 1 };
    await hooksTest(local, "hook_failed", params, async (r, read) => {
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.stdout.match(/^ok /gm)?.length, 3, r.stdout);
      assert.equal(bodies.length, 1);
      assert.equal(bodies[0].headers.get("authorization"), "Bearer s3cret");
      const logged = JSON.parse((await read("hookhost-failures.jsonl")).trim());
      assert.deepEqual(logged.params, params);
    });
  });
});
