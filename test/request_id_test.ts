/**
 * End-to-end tests of request ids (docs/webhook-scripts.md "Request ids"): a client's
 * `X-Request-Id` is honoured when sane and replaced when not, answered in the same header, given
 * to scripts as `HOOK_REQUEST_ID` and to plugins in `X-Request-Id`, and named in `hook_run` and
 * `injected` records and in the log line of a failed run. Real session in-process, real HTTP,
 * real scripts; a real daemon for `HOOKHOST_LOG_FORMAT=json`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  cli,
  config,
  envFor,
  hooksToml,
  Proc,
  type Rec,
  request,
  script,
  tempDir,
} from "./_helpers.ts";
import { InSession } from "./_session.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Opens a session over `toml` and `scripts` in a temp folder, runs `body`, cleans up. */
async function withSession(
  setup: {
    toml: string;
    hooks?: string[];
    scripts?: Record<string, string>;
    files?: Record<string, string>;
    plugins?: Record<string, string>;
  },
  body: (d: InSession, dir: string) => Promise<void>,
): Promise<void> {
  const tmp = await tempDir();
  let d: InSession | undefined;
  try {
    for (const [name, text] of Object.entries(setup.scripts ?? {})) {
      await script(tmp.path, name, text);
    }
    for (const [name, text] of Object.entries(setup.files ?? {})) {
      await Deno.writeTextFile(join(tmp.path, name), text);
    }
    const pluginsDir = join(tmp.path, "plugins");
    for (const [name, text] of Object.entries(setup.plugins ?? {})) {
      await Deno.mkdir(pluginsDir, { recursive: true });
      await Deno.writeTextFile(join(pluginsDir, name), text);
    }
    await config(tmp.path, setup.toml);
    d = await InSession.open({
      dir: tmp.path,
      name: "rid",
      hooks: setup.hooks ?? [],
      ...(setup.plugins ? { pluginsDir } : {}),
    });
    await body(d, tmp.path);
  } finally {
    await d?.stop();
    await tmp.cleanup();
  }
}

const runOf = (hook: string, id: string) => (r: Rec) =>
  r.type === "hook_run" && r.hook === hook && r.request_id === id;

Deno.test("a sane X-Request-Id is honoured: answered back, HOOK_REQUEST_ID, hook_run and injected carry it", async () => {
  await withSession({
    toml: hooksToml([{ name: "echo", script: "./echo.sh" }]),
    hooks: ["echo"],
    scripts: { "echo.sh": 'printf "id=%s body=%s" "$HOOK_REQUEST_ID" "$(cat)"' },
  }, async (d) => {
    const id = "proxy-7f3a:req/42";
    const res = await request(`http://${await d.addr("echo")}/`, {
      method: "POST",
      headers: { "x-request-id": id },
      body: "hi",
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get("x-request-id"), id);
    const injected = await d.waitFor((r) => r.type === "injected");
    assert.equal(injected.content, `id=${id} body=hi`);
    assert.equal(injected.request_id, id);
    const run = await d.waitFor(runOf("echo", id));
    assert.equal(run.status, 200);
  });
});

Deno.test("a missing or unsafe X-Request-Id is replaced by a fresh UUID, different per request", async () => {
  await withSession({
    toml: hooksToml([{ name: "echo", script: "./echo.sh" }]),
    hooks: ["echo"],
    scripts: { "echo.sh": 'printf "%s|%s" "$HOOK_REQUEST_ID" "$HOOK_HEADER_X_REQUEST_ID"' },
  }, async (d) => {
    const url = `http://${await d.addr("echo")}/`;
    // Empty, too long, with a space, non-ASCII (as Latin-1 bytes on the wire).
    const sent = [undefined, "", "x".repeat(129), "has space", "caf\u00e9"];
    const ids = new Set<string>();
    for (const value of sent) {
      const res = await request(url, {
        method: "POST",
        headers: value === undefined ? {} : { "x-request-id": value },
      });
      assert.equal(res.status, 200, res.text);
      const id = res.headers.get("x-request-id")!;
      assert.match(id, UUID, `sent ${JSON.stringify(value)}`);
      ids.add(id);
      const injected = await d.waitFor((r) => r.type === "injected" && r.request_id === id);
      // The script sees hookhost's id; the client's header stays what the client sent.
      assert.ok((injected.content as string).startsWith(`${id}|`), injected.content);
      await d.waitFor(runOf("echo", id));
    }
    assert.equal(ids.size, sent.length, "two requests shared an id");
    // 128 visible characters are kept as sent.
    const longest = "a".repeat(127) + "~";
    const res = await request(url, { method: "POST", headers: { "x-request-id": longest } });
    assert.equal(res.headers.get("x-request-id"), longest);
  });
});

Deno.test("a refused request and a failed script name the request id in hook_run, the answer and the log line", async () => {
  await withSession({
    toml: [
      hooksToml([{ name: "fails", script: "./fails.sh" }]),
      `[[hooks]]\nname = "signed"\nbind = "127.0.0.1:0"\nscript = "./fails.sh"`,
      `verify = "hmac-sha256"\nsecret_file = "./secret"\n`,
    ].join("\n"),
    hooks: ["fails", "signed"],
    scripts: { "fails.sh": "echo broken >&2; exit 3" },
    files: { secret: "s3cret\n" },
  }, async (d) => {
    const failed = await request(`http://${await d.addr("fails")}/`, {
      method: "POST",
      headers: { "x-request-id": "fail-1" },
    });
    assert.equal(failed.status, 500);
    assert.equal(failed.headers.get("x-request-id"), "fail-1");
    assert.equal((await d.waitFor(runOf("fails", "fail-1"))).exit_code, 3);
    assert.match(d.stderr, /hook 'fails' \(request fail-1\): script exited with 3: broken/);

    const refused = await request(`http://${await d.addr("signed")}/`, {
      method: "POST",
      headers: { "x-request-id": "unsigned-1" },
      body: "{}",
    });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get("x-request-id"), "unsigned-1");
    const run = await d.waitFor(runOf("signed", "unsigned-1"));
    assert.equal(run.status, 401);
    assert.ok(run.reason, JSON.stringify(run));
  });
});

Deno.test("an async hook's job keeps its request id: the script sees it, its hook_run and message carry it", async () => {
  await withSession({
    toml: hooksToml([{ name: "later", script: "./later.sh", mode: "async" }]),
    hooks: ["later"],
    scripts: { "later.sh": 'echo "job of $HOOK_REQUEST_ID"' },
  }, async (d) => {
    const res = await request(`http://${await d.addr("later")}/`, {
      method: "POST",
      headers: { "x-request-id": "async-9" },
    });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.headers.get("x-request-id"), "async-9");
    const injected = await d.waitFor((r) => r.type === "injected" && r.request_id === "async-9");
    assert.equal(injected.content, "job of async-9");
    const run = await d.waitFor(runOf("later", "async-9"));
    assert.equal(run.status, 200);
    assert.equal(typeof run.job, "string");
  });
});

Deno.test("a module plugin sees the request id in X-Request-Id, a client's unsafe one replaced", async () => {
  await withSession({
    toml: `[server]\nbind = "127.0.0.1:0"\n`,
    plugins: {
      "rid.ts": `export default {
        webhook(req) { return "plugin saw " + req.headers.get("x-request-id"); },
      };\n`,
    },
  }, async (d) => {
    const base = `http://${await d.addr("server")}/hooks/rid`;
    const kept = await request(base, { method: "POST", headers: { "x-request-id": "plug-1" } });
    assert.equal(kept.status, 200, kept.text);
    assert.equal(kept.headers.get("x-request-id"), "plug-1");
    const m = await d.waitFor((r) => r.type === "injected" && r.request_id === "plug-1");
    assert.equal(m.content, "plugin saw plug-1");
    assert.equal((await d.waitFor(runOf("rid", "plug-1"))).status, 200);

    const replaced = await request(base, { method: "POST", headers: { "x-request-id": "a b" } });
    const id = replaced.headers.get("x-request-id")!;
    assert.match(id, UUID);
    const m2 = await d.waitFor((r) => r.type === "injected" && r.request_id === id);
    assert.equal(m2.content, `plugin saw ${id}`);
  });
});

Deno.test("HOOKHOST_LOG_FORMAT=json writes every log line as one JSON object with the request id as a property", async () => {
  const tmp = await tempDir();
  try {
    await script(tmp.path, "fails.sh", "echo nope >&2; exit 4");
    await config(tmp.path, hooksToml([{ name: "fails", script: "./fails.sh" }]));
    const d = Proc.start([
      "run",
      "--name",
      "logs",
      "--daemon",
      "--format",
      "jsonl",
      "--hook",
      "fails",
    ], {
      env: envFor(tmp.path, { HOOKHOST_LOG_FORMAT: "json" }),
    });
    let code: number;
    try {
      const res = await request(`http://${await d.addr("fails")}/`, {
        method: "POST",
        headers: { "x-request-id": "json-log-1" },
      });
      assert.equal(res.status, 500);
      await d.waitFor(runOf("fails", "json-log-1"));
    } finally {
      code = await d.stop();
    }
    assert.equal(code, 0, d.stderr);
    const lines = d.stderr.split("\n").filter((l) => l.trim());
    assert.ok(lines.length >= 1, d.stderr);
    const logs = lines.map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        throw new Error(`not a JSON log line: ${l}`);
      }
    });
    for (const l of logs) {
      assert.equal(typeof l["@timestamp"], "string", JSON.stringify(l));
      assert.equal(typeof l.level, "string", JSON.stringify(l));
      assert.equal(typeof l.message, "string", JSON.stringify(l));
    }
    const failed = logs.find((l) => l.properties?.request_id === "json-log-1");
    assert.ok(failed, d.stderr);
    assert.equal(failed.level, "ERROR");
    assert.equal(failed.logger, "hookhost.webhook");
    assert.match(failed.message, /script exited with 4: nope/);
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("an unknown HOOKHOST_LOG_FORMAT is refused with one line and exit 2", async () => {
  const tmp = await tempDir();
  try {
    await config(tmp.path, "");
    const res = await cli(["sessions"], { env: envFor(tmp.path, { HOOKHOST_LOG_FORMAT: "xml" }) });
    assert.equal(res.code, 2, res.stderr);
    assert.equal(res.stderr, "hookhost: HOOKHOST_LOG_FORMAT must be 'text' or 'json', not 'xml'\n");
  } finally {
    await tmp.cleanup();
  }
});
