/**
 * End-to-end tests of the session handler ([session]): replies, the handler's environment and stdin,
 * retries with backoff, dead letters and replay, and the handler timeout.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { cli, config, envFor, Proc, type Rec, script, tempDir } from "./_helpers.ts";
import { scaled, WAIT_MS } from "./_poll.ts";
import { InSession, runOnce as runInProcess } from "./_session.ts";

/** `inbox ls|dead --json` lines as objects. */
// deno-lint-ignore no-explicit-any
function jsonLines(stdout: string): any[] {
  return stdout.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

/** A one-shot run of session `name` over `env`'s folder, in-process. */
function runOnce(env: Record<string, string>, name: string, message?: string): Promise<Rec[]> {
  return runInProcess(dirname(env.HOOKHOST_STATE), name, { initial: message });
}

/** A `[session]` table with a fast retry backoff. */
function sessionToml(handler: string, extra = ""): string {
  return `[session]\nhandler = "${handler}"\nretry_backoff = 0.05\n${extra}`;
}

Deno.test("handler: stdin is the content, env names session/source/id, trimmed stdout is a reply", async () => {
  const tmp = await tempDir();
  try {
    const d = tmp.path;
    await script(
      d,
      "handler.sh",
      [
        `cat > "${d}/in-$HOOKHOST_MESSAGE_ID"`,
        `printf '%s|%s|%s' "$HOOKHOST_SESSION" "$HOOKHOST_SOURCE" "$HOOKHOST_MESSAGE_ID" > "${d}/env-$HOOKHOST_MESSAGE_ID"`,
        `printf '\\n   reply to: %s  \\n\\n' "$(cat "${d}/in-$HOOKHOST_MESSAGE_ID")"`,
      ].join("\n"),
    );
    await config(d, sessionToml("./handler.sh"));
    const env = envFor(d);

    const recs = await runOnce(env, "hs", "line one\nline two");
    const inj = recs.filter((r) => r.type === "injected");
    assert.equal(inj.length, 1, JSON.stringify(recs));
    const id = inj[0].id;
    assert.equal(inj[0].source_kind, "inject");
    const replies = recs.filter((r) => r.type === "reply");
    assert.deepEqual(
      replies.map((r) => ({ id: r.id, content: r.content })),
      [{ id, content: "reply to: line one\nline two" }],
    );
    assert.ok(
      recs.findIndex((r) => r.type === "injected") < recs.findIndex((r) => r.type === "reply"),
      "injected comes before its reply",
    );
    assert.equal(await Deno.readTextFile(join(d, `in-${id}`)), "line one\nline two");
    assert.equal(await Deno.readTextFile(join(d, `env-${id}`)), `hs|inject|${id}`);
    assert.equal(recs.filter((r) => r.type === "error").length, 0);
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("handler: a webhook message in a daemon gets HOOKHOST_SOURCE=webhook and a reply", async () => {
  const tmp = await tempDir();
  try {
    const d = tmp.path;
    await script(d, "echo.sh", "cat");
    await script(
      d,
      "handler.sh",
      `printf '%s|%s|%s|%s' "$HOOKHOST_SESSION" "$HOOKHOST_SOURCE" "$HOOKHOST_MESSAGE_ID" "$(cat)" > "${d}/env-$HOOKHOST_MESSAGE_ID"\necho "  handled  "`,
    );
    await config(
      d,
      `[[hooks]]\nname = "in"\nbind = "127.0.0.1:0"\nscript = "./echo.sh"\n\n` +
        sessionToml("./handler.sh"),
    );
    const daemon = await InSession.open({ dir: d, name: "wh", hooks: ["in"] });
    try {
      const addr = await daemon.addr("in");
      const res = await fetch(`http://${addr}/x`, { method: "POST", body: "payload" });
      assert.equal(res.status, 200);
      await res.body?.cancel();
      const inj = await daemon.waitFor((r) => r.type === "injected");
      assert.equal(inj.source_kind, "webhook");
      const reply = await daemon.waitFor((r) => r.type === "reply");
      assert.equal(reply.id, inj.id);
      assert.equal(reply.content, "handled");
      assert.equal(
        await Deno.readTextFile(join(d, `env-${inj.id}`)),
        `wh|webhook|${inj.id}|payload`,
      );
    } finally {
      await daemon.stop();
    }
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("handler: empty stdout means no reply, but the message is processed", async () => {
  const tmp = await tempDir();
  try {
    const d = tmp.path;
    await script(d, "handler.sh", `cat > /dev/null\necho "   "\necho`);
    await config(d, sessionToml("./handler.sh"));
    const env = envFor(d);
    const recs = await runOnce(env, "quiet", "hi");
    assert.equal(recs.filter((r) => r.type === "injected").length, 1);
    assert.equal(recs.filter((r) => r.type === "reply").length, 0, JSON.stringify(recs));
    assert.equal(recs.filter((r) => r.type === "error").length, 0);
    const ls = await cli(["inbox", "ls", "--name", "quiet", "--json"], { env });
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(jsonLines(ls.stdout), []);
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("handler: fails twice, then succeeds → one reply, retries reported, inbox empty", async () => {
  const tmp = await tempDir();
  try {
    const d = tmp.path;
    const counter = join(d, "count");
    await script(
      d,
      "flaky.sh",
      [
        `n=$(cat "${counter}" 2>/dev/null || echo 0)`,
        `n=$((n + 1))`,
        `echo $n > "${counter}"`,
        `if [ $n -le 2 ]; then echo "failure $n" >&2; exit 7; fi`,
        `echo "ok after $n: $(cat)"`,
      ].join("\n"),
    );
    await config(d, sessionToml("./flaky.sh"));
    const env = envFor(d);
    // Create the session, then queue a message while it is stopped: it is listed as pending.
    await runOnce(env, "fl");
    const sent = await cli(["send", "--name", "fl", "retry me"], { env });
    assert.equal(sent.code, 0, sent.stderr);
    const id = sent.stdout.trim();
    const before = await cli(["inbox", "ls", "--name", "fl", "--json"], { env });
    assert.deepEqual(jsonLines(before.stdout).map((m) => m.id), [id]);

    const recs = await runOnce(env, "fl");
    assert.equal(recs.filter((r) => r.type === "injected").length, 1, "shown once");
    const replies = recs.filter((r) => r.type === "reply");
    assert.deepEqual(
      replies.map((r) => [r.id, r.content]),
      [[id, "ok after 3: retry me"]],
    );
    const retries = recs.filter((r) => r.type === "status" && r.message.includes(id));
    assert.equal(retries.length, 2, JSON.stringify(recs));
    assert.match(retries[0].message, /attempt 1 of 5/);
    assert.match(retries[0].message, /failure 1/);
    assert.match(retries[1].message, /attempt 2 of 5/);
    assert.equal(recs.filter((r) => r.type === "error").length, 0);
    assert.equal((await Deno.readTextFile(counter)).trim(), "3");

    const after = await cli(["inbox", "ls", "--name", "fl"], { env });
    assert.equal(after.code, 0, after.stderr);
    assert.ok(!after.stdout.includes(id), after.stdout);
    assert.match(after.stdout, /empty/);
    const dead = await cli(["inbox", "dead", "--name", "fl", "--json"], { env });
    assert.deepEqual(jsonLines(dead.stdout), []);
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("handler: always failing → dead letter after max_attempts; replay by id and all", async () => {
  const tmp = await tempDir();
  try {
    const d = tmp.path;
    const counter = join(d, "count");
    const flag = join(d, "ok.flag");
    await script(
      d,
      "fail.sh",
      [
        `echo x >> "${counter}"`,
        `if [ -f "${flag}" ]; then echo "done: $(cat)"; exit 0; fi`,
        `echo "broken" >&2`,
        `exit 3`,
      ].join("\n"),
    );
    await config(d, sessionToml("./fail.sh", "max_attempts = 3\n"));
    const env = envFor(d);

    const ids: string[] = [];
    for (const content of ["m1", "m2"]) {
      const recs = await runOnce(env, "dl", content);
      const inj = recs.find((r) => r.type === "injected")!;
      ids.push(inj.id);
      const errors = recs.filter((r) => r.type === "error");
      assert.equal(errors.length, 1, JSON.stringify(recs));
      assert.match(errors[0].message, new RegExp(inj.id));
      assert.match(errors[0].message, /3 attempt/);
      assert.match(errors[0].message, /exit code 3/);
      assert.equal(recs.filter((r) => r.type === "reply").length, 0);
    }
    const [m1, m2] = ids;
    assert.equal((await Deno.readTextFile(counter)).trim().split("\n").length, 6);

    const pending = await cli(["inbox", "ls", "--name", "dl", "--json"], { env });
    assert.deepEqual(jsonLines(pending.stdout), []);

    const deadText = await cli(["inbox", "dead", "--name", "dl"], { env });
    assert.equal(deadText.code, 0, deadText.stderr);
    for (const id of ids) {
      const row = deadText.stdout.split("\n").find((l) => l.startsWith(id));
      assert.ok(row, deadText.stdout);
      assert.match(row, /\s3\s/);
    }
    const deadJson = await cli(["inbox", "dead", "--name", "dl", "--json"], { env });
    assert.equal(deadJson.code, 0, deadJson.stderr);
    const dead = jsonLines(deadJson.stdout);
    assert.deepEqual(dead.map((m) => [m.id, m.content, m.attempts]), [
      [m1, "m1", 3],
      [m2, "m2", 3],
    ]);
    assert.match(dead[0].error, /exit code 3/);
    assert.match(dead[0].error, /broken/);

    // An unknown id is refused and nothing moves.
    const bad = await cli(["inbox", "replay", "--name", "dl", m1, "NOPE"], { env });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /'NOPE'/);
    assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
    const stillDead = await cli(["inbox", "dead", "--name", "dl", "--json"], { env });
    assert.equal(jsonLines(stillDead.stdout).length, 2);

    await Deno.writeTextFile(flag, "");

    // Replay one by id: it is pending again with its attempts reset; the other stays dead.
    const one = await cli(["inbox", "replay", "--name", "dl", m1], { env });
    assert.equal(one.code, 0, one.stderr);
    const back = jsonLines((await cli(["inbox", "ls", "--name", "dl", "--json"], { env })).stdout);
    assert.deepEqual(back.map((m) => [m.id, m.content, m.attempts]), [[m1, "m1", 0]]);
    const rest = jsonLines(
      (await cli(["inbox", "dead", "--name", "dl", "--json"], { env })).stdout,
    );
    assert.deepEqual(rest.map((m) => m.id), [m2]);

    const later = await runOnce(env, "dl");
    assert.deepEqual(
      later.filter((r) => r.type === "reply").map((r) => [r.id, r.content]),
      [[m1, "done: m1"]],
    );

    // Replay all into a running daemon: it is processed without a restart.
    const daemon = Proc.start(["run", "--name", "dl", "--daemon", "--format", "jsonl"], { env });
    try {
      await daemon.waitFor((r) => r.type === "ready");
      const all = await cli(["inbox", "replay", "--name", "dl"], { env });
      assert.equal(all.code, 0, all.stderr);
      const reply = await daemon.waitFor((r) => r.type === "reply");
      assert.deepEqual([reply.id, reply.content], [m2, "done: m2"]);
    } finally {
      assert.equal(await daemon.stop(), 0, daemon.stderr);
    }
    const none = await cli(["inbox", "dead", "--name", "dl", "--json"], { env });
    assert.deepEqual(jsonLines(none.stdout), []);
    const empty = await cli(["inbox", "ls", "--name", "dl", "--json"], { env });
    assert.deepEqual(jsonLines(empty.stdout), []);
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("handler: a handler past handler_timeout fails the attempt and is retried", async () => {
  const tmp = await tempDir();
  try {
    const d = tmp.path;
    const counter = join(d, "count");
    await script(
      d,
      "slow.sh",
      [
        `n=$(cat "${counter}" 2>/dev/null || echo 0)`,
        `n=$((n + 1))`,
        `echo $n > "${counter}"`,
        `if [ $n -eq 1 ]; then exec sleep 5; fi`,
        `echo "fast on $n"`,
      ].join("\n"),
    );
    await config(d, sessionToml("./slow.sh", "handler_timeout = 1\nmax_attempts = 2\n"));
    const env = envFor(d);
    const recs = await runOnce(env, "to", "tick");
    const id = recs.find((r) => r.type === "injected")!.id;
    const retry = recs.find((r) => r.type === "status" && r.message.includes(id));
    assert.ok(retry, JSON.stringify(recs));
    assert.match(retry.message, /attempt 1 of 2/);
    assert.match(retry.message, /timed out/);
    assert.deepEqual(
      recs.filter((r) => r.type === "reply").map((r) => [r.id, r.content]),
      [[id, "fast on 2"]],
    );
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("handler: a handler that always times out ends as a dead letter", async () => {
  const tmp = await tempDir();
  try {
    const d = tmp.path;
    await script(d, "hang.sh", "exec sleep 5");
    await config(d, sessionToml("./hang.sh", "handler_timeout = 1\nmax_attempts = 1\n"));
    const env = envFor(d);
    const recs = await runOnce(env, "hang", "stuck");
    const id = recs.find((r) => r.type === "injected")!.id;
    const error = recs.find((r) => r.type === "error");
    assert.ok(error, JSON.stringify(recs));
    assert.match(error.message, new RegExp(id));
    assert.match(error.message, /timed out/);
    assert.equal(recs.filter((r) => r.type === "reply").length, 0);
    const dead = jsonLines(
      (await cli(["inbox", "dead", "--name", "hang", "--json"], { env })).stdout,
    );
    assert.deepEqual(dead.map((m) => [m.id, m.attempts]), [[id, 1]]);
    assert.match(dead[0].error, /timed out/);
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("SIGTERM stops accepting at once while the in-flight handler finishes", async () => {
  const tmp = await tempDir();
  let d: Proc | undefined;
  try {
    const dir = tmp.path;
    // The handler holds the first message until the test creates the "go" file.
    await script(
      dir,
      "slow.sh",
      `while [ ! -e "${dir}/go" ]; do sleep 0.05; done\ncat`,
    );
    await script(dir, "echo.sh", "cat");
    await config(
      dir,
      `[[hooks]]\nname = "h"\nbind = "127.0.0.1:0"\nscript = "./echo.sh"\n\n` +
        sessionToml("./slow.sh", "shutdown_grace = 30\n"),
    );
    const env = envFor(dir);
    d = Proc.start(["run", "--name", "s", "--daemon", "--format", "jsonl", "--hook", "h"], { env });
    const addr = await d.addr("h");
    assert.equal((await cli(["send", "--name", "s", "first"], { env })).code, 0);
    await d.waitFor((r) => r.type === "injected" && r.content === "first");
    d.child.kill("SIGTERM");

    // Within the grace period, while "first" is still being handled, new work is refused:
    // the listener stops and `send` finds no running session (stored for the next run).
    const deadline = Date.now() + scaled(WAIT_MS);
    let refused = false;
    while (!refused && Date.now() < deadline) {
      refused = await fetch(`http://${addr}/`, { method: "POST", body: "late" })
        .then(async (r) => (await r.body?.cancel(), false), () => true);
      if (!refused) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(refused, "the webhook listener still accepted requests after SIGTERM");
    const late = await cli(["send", "--name", "s", "after stop"], { env });
    assert.equal(late.code, 0, late.stderr);
    assert.match(late.stderr, /not running/);

    await Deno.writeTextFile(join(dir, "go"), "");
    assert.equal(await d.exited(), 0);
    const reply = d.records.find((r) => r.type === "reply");
    assert.equal(reply?.content, "first");
    assert.ok(!d.records.some((r) => r.type === "injected" && r.content === "after stop"));
    const next = await runOnce(env, "s");
    assert.ok(next.some((r) => r.type === "injected" && r.content === "after stop"));
  } finally {
    if (d) await d.stop().catch(() => 0);
    await tmp.cleanup();
  }
});
