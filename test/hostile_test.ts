/**
 * Attacks on a real daemon (`hookhost run` on 127.0.0.1), each bounded in count and time, with
 * what a user would check afterwards: the status, that nothing ran or was lost, and the memory
 * and descriptors the daemon holds, read from `/proc` (docs/security.md, "Security model").
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, config, envFor, Proc, request, script, tempDir } from "./_helpers.ts";
import {
  close,
  closed,
  connect,
  fds,
  head,
  MIB,
  postChunked,
  readAnswer,
  rss,
  writeAll,
} from "./_raw.ts";
import { until } from "./_poll.ts";
import { hook, trickle, withDaemon } from "./_hostile.ts";

const encoder = new TextEncoder();

Deno.test("a chunked body in 3-byte chunks costs memory by the bytes received", async () => {
  await withDaemon({ toml: hook() }, async ({ d, port }) => {
    const p = await port("h");
    // One ordinary request first, so what it costs once (code, buffers) is not counted.
    assert.equal((await postChunked(p, encoder.encode("warm"))).status, 200);
    await d.waitFor((r) => r.type === "injected");
    const before = rss(d.child.pid);
    const answer = await postChunked(p, encoder.encode("x".repeat(100_000)), { size: 3 });
    assert.equal(answer.status, 200, answer.text);
    const message = await d.waitFor((r) => r.type === "injected" && r.content !== "warm");
    assert.equal(message.content.length, 100_000);
    // Each 3-byte chunk used to keep a 64 KiB buffer alive: 100 kB cost 1.6 GB.
    const grew = rss(d.child.pid) - before;
    assert.ok(grew < 64 * MIB, `RSS grew by ${Math.round(grew / MIB)} MiB`);
  });
});

Deno.test("20 connections declaring 10 MB and sending none of it: memory stays put, each gets 408 after body_timeout", async () => {
  const toml = "[limits]\nbody_timeout = 1\n\n" + hook("max_body = 20000000");
  await withDaemon({ toml }, async ({ d, port, runs }) => {
    const p = await port("h");
    assert.equal(
      (await request(`http://127.0.0.1:${p}/`, { method: "POST", body: "warm" })).status,
      200,
    );
    const before = rss(d.child.pid);
    const conns = await Promise.all(Array.from({ length: 20 }, () => connect(p)));
    const heads = head("POST", "/", { "Content-Length": "10000000" });
    for (const c of conns) await writeAll(c, heads + "a few bytes");
    const answers = await Promise.all(conns.map((c) => readAnswer(c)));
    conns.forEach(close);
    const grew = rss(d.child.pid) - before;
    // It used to reserve the declared length: ~16.5 MB a connection, 330 MB for these.
    assert.ok(grew < 40 * MIB, `RSS grew by ${Math.round(grew / MIB)} MiB`);
    assert.deepEqual(answers.map((a) => a.status), Array(20).fill(408));
    assert.deepEqual(await runs(), ["run"], "only the warm-up ran");
  });
});

Deno.test("max_body_in_flight: bodies past the budget get 503 with Retry-After; the held one completes", async () => {
  const toml = "[limits]\nmax_body_in_flight = 1000000\n\n" + hook("max_body = 900000");
  await withDaemon({ toml }, async ({ d, port, runs }) => {
    const p = await port("h");
    const part = "x".repeat(600_000);
    // Two bodies of 600 kB, each one byte short: whichever is read second takes the total
    // past 1 MB and is refused at once; the other waits for its last byte.
    const conns = [await connect(p), await connect(p)];
    for (const c of conns) {
      await writeAll(c, head("POST", "/", { "Content-Length": "600001" }) + part);
    }
    const reading = conns.map((c, i) => readAnswer(c).then((a) => ({ i, a })));
    const refused = await Promise.race(reading);
    assert.equal(refused.a.status, 503, refused.a.text);
    assert.match(refused.a.text, /retry-after: \d+/i);
    await writeAll(conns[1 - refused.i], "!");
    const ok = (await reading[1 - refused.i]).a;
    assert.equal(ok.status, 200, ok.text);
    conns.forEach(close);
    await d.waitFor((r) => r.type === "injected" && r.content.length === 600_001);
    assert.deepEqual(await runs(), ["run"]);
    // The budget is back: another large body passes.
    const again = await request(`http://127.0.0.1:${p}/`, { method: "POST", body: part });
    assert.equal(again.status, 200, again.text);
  });
});

/** A script that notes its run, then waits for the file `go` before printing its body. */
const GATED = 'echo run >> "$DIR/runs.log"; while [ ! -f "$DIR/go" ]; do sleep 0.05; done; cat';

Deno.test("a flood of a sync hook: concurrency scripts run, queue wait, the rest get 503 at once", async () => {
  const toml = hook("concurrency = 1\nqueue = 1", "h", "./gated.sh");
  await withDaemon({ toml, scripts: { "gated.sh": GATED } }, async ({ dir, d, port, runs }) => {
    const url = `http://127.0.0.1:${await port("h")}/`;
    const answers = Array.from(
      { length: 6 },
      (_, i) => request(url, { method: "POST", body: `m${i}` }),
    );
    // One runs and one waits whatever the arrival order; the other four are refused while the
    // script is still held, so this cannot depend on timing.
    const refused = await d.waitForCount(
      (r) => r.type === "hook_run" && r.reason === "queue full",
      4,
    );
    assert.ok(refused.every((r) => r.status === 503));
    // The running script notes its run first thing, but may not have yet.
    await until(async () => (await runs()).length > 0, () => "the first script runs");
    assert.deepEqual(await runs(), ["run"], "one script at a time");
    await Deno.writeTextFile(join(dir, "go"), "");
    const all = await Promise.all(answers);
    const statuses = all.map((a) => a.status).sort();
    assert.deepEqual(statuses, [200, 200, 503, 503, 503, 503]);
    for (const a of all.filter((a) => a.status === 503)) {
      assert.match(a.headers.get("retry-after") ?? "", /^\d+$/);
    }
    assert.deepEqual(await runs(), ["run", "run"]);
  });
});

Deno.test("an async hook past max_pending answers 503 and stores nothing; accepts again once run", async () => {
  const toml = hook('mode = "async"\nconcurrency = 1\nmax_pending = 2', "h", "./gated.sh");
  await withDaemon({ toml, scripts: { "gated.sh": GATED } }, async ({ dir, d, port, runs }) => {
    const url = `http://127.0.0.1:${await port("h")}/`;
    const post = (body: string) => request(url, { method: "POST", body });
    assert.equal((await post("one")).status, 202);
    assert.equal((await post("two")).status, 202);
    const full = await post("three");
    assert.equal(full.status, 503, full.text);
    assert.match(full.headers.get("retry-after") ?? "", /^\d+$/);
    await Deno.writeTextFile(join(dir, "go"), "");
    await d.waitForCount((r) => r.type === "injected", 2);
    // Pending counts down as jobs finish, so the hook takes work again.
    assert.equal((await post("four")).status, 202);
    const got = await d.waitForCount((r) => r.type === "injected", 3);
    assert.deepEqual(got.map((r) => r.content), ["one", "two", "four"]);
    assert.equal((await runs()).length, 3);
  });
});

Deno.test("methods: a GET to a POST hook is 405 with Allow and runs nothing; '*' takes any", async () => {
  const toml = hook() + hook('methods = ["*"]', "any") + hook('methods = ["GET", "PUT"]', "gp");
  await withDaemon({ toml, hooks: ["h", "any", "gp"] }, async ({ port, runs }) => {
    const at = async (name: string) => `http://127.0.0.1:${await port(name)}/`;
    const get = await request(await at("h"), { method: "GET" });
    assert.equal(get.status, 405, get.text);
    assert.equal(get.headers.get("allow"), "POST");
    const del = await request(await at("gp"), { method: "DELETE" });
    assert.deepEqual([del.status, del.headers.get("allow")], [405, "GET, PUT"]);
    assert.deepEqual(await runs(), [], "nothing ran");
    assert.equal((await request(await at("any"), { method: "PATCH", body: "p" })).status, 200);
    assert.equal((await request(await at("gp"), { method: "PUT", body: "p" })).status, 200);
    assert.deepEqual(await runs(), ["run", "run"]);
  });
});

Deno.test("malformed URLs are 400 on a hook and on the plugin server, and run nothing", async () => {
  const toml = '[server]\nbind = "127.0.0.1:0"\n\n' + hook();
  const plugins = { "p.sh": 'echo run >> "$DIR/runs.log"; cat' };
  await withDaemon({ toml, plugins }, async ({ d, port, runs }) => {
    const server = Number((await d.addr("server")).split(":").pop());
    for (
      const [p, path] of [[await port("h"), "/%ZZ"], [server, "/hooks/%ZZ"], [server, "/hooks/p%"]]
    ) {
      const conn = await connect(p as number);
      await writeAll(conn, head("POST", path as string, { "Content-Length": "1" }) + "x");
      const answer = await readAnswer(conn);
      close(conn);
      assert.equal(answer.status, 400, `${path}: ${answer.text}`);
    }
    assert.deepEqual(await runs(), []);
  });
});

/** Writes `text` one byte at a time, `everyMs` apart, until it is sent or the peer closes. */
Deno.test("slowloris: heads trickled or never sent are closed after header_timeout; a normal client is served meanwhile", async () => {
  const toml = "[limits]\nheader_timeout = 1\n\n" + hook();
  await withDaemon({ toml }, async ({ d, port, runs }) => {
    const p = await port("h");
    const url = `http://127.0.0.1:${p}/`;
    // A request first: the connection this test's fetch keeps is then counted in the fds before.
    assert.equal((await request(url, { method: "POST", body: "warm" })).status, 200);
    const fdsBefore = fds(d.child.pid);
    const silent = await Promise.all(Array.from({ length: 5 }, () => connect(p)));
    const slow = await Promise.all(Array.from({ length: 5 }, () => connect(p)));
    // A head of ~60 bytes at a byte per 200 ms would take 12 s: it never completes in time.
    const trickling = slow.map((c) =>
      trickle(c, head("POST", "/", { "X-Pad": "a".repeat(20) }), 200)
    );
    const ok = await request(url, { method: "POST", body: "normal" });
    assert.equal(ok.status, 200, ok.text);
    const ends = await Promise.all([...silent, ...slow].map((c) => closed(c, 30_000)));
    await Promise.all(trickling);
    assert.deepEqual(ends, Array(10).fill(true), "every one was closed by the daemon");
    assert.deepEqual(await runs(), ["run", "run"], "only the normal client's requests ran");
    await until(() => fds(d.child.pid) <= fdsBefore, () => "the daemon's fds are back");
    assert.match(d.stderr, /without a request head within 1s/);
  });
});

Deno.test("idle_timeout: a keep-alive connection is closed once idle; one in use is not", async () => {
  const toml = "[limits]\nidle_timeout = 1\n\n" + hook("", "h", "./slow.sh");
  // The script outlives idle_timeout: a connection waiting for its answer is not idle.
  const scripts = { "slow.sh": "sleep 2; cat" };
  await withDaemon({ toml, scripts }, async ({ port }) => {
    const conn = await connect(await port("h"));
    await writeAll(conn, head("POST", "/", { "Content-Length": "2" }) + "ka");
    const answer = await readAnswer(conn);
    assert.equal(answer.status, 200, answer.text);
    assert.doesNotMatch(answer.text, /connection: close/i, "kept alive");
    assert.equal(await closed(conn, 30_000), true, "closed by the daemon once idle");
  });
});

Deno.test("a connection answered 408 for a stalled body is closed, not left holding an fd", async () => {
  const toml = "[limits]\nbody_timeout = 1\n\n" + hook();
  await withDaemon({ toml }, async ({ port, runs }) => {
    const conn = await connect(await port("h"));
    await writeAll(conn, head("POST", "/", { "Content-Length": "1000" }) + "only this");
    const answer = await readAnswer(conn);
    assert.equal(answer.status, 408, answer.text);
    assert.equal(await closed(conn, 30_000), true, "the daemon closed it");
    assert.deepEqual(await runs(), []);
  });
});

Deno.test("max_connections: past it, connections that never sent a request are closed; a served client keeps its connection", async () => {
  const toml = "[limits]\nmax_connections = 4\nheader_timeout = 600\n\n" + hook();
  await withDaemon({ toml }, async ({ port }) => {
    const p = await port("h");
    const served = await connect(p);
    await writeAll(served, head("POST", "/", { "Content-Length": "3" }) + "one");
    assert.equal((await readAnswer(served)).status, 200);
    const idle = await Promise.all(Array.from({ length: 8 }, () => connect(p)));
    // 9 connections, 4 allowed: 5 of the 8 that never sent a request go, and only those.
    const gone = idle.map(() => false);
    idle.forEach((c, i) => void closed(c, 30_000).then((g) => (gone[i] = g)));
    const count = () => gone.filter(Boolean).length;
    await until(() => count() >= 5, () => `${count()} of 8 closed`);
    await writeAll(served, head("POST", "/", { "Content-Length": "3" }) + "two");
    const again = await readAnswer(served);
    assert.equal(again.status, 200, "the served connection still serves: " + again.text);
    assert.equal(count(), 5, "at max_connections nothing more is closed");
    close(served);
    idle.forEach(close);
  });
});

Deno.test("out of fds: the daemon does not exit; it serves again once connections drop", async () => {
  await withDaemon({ toml: hook() }, async ({ d, port }) => {
    const p = await port("h");
    const limit = 64;
    const lowered = await new Deno.Command("prlimit", {
      args: ["--pid", String(d.child.pid), `--nofile=${limit}:${limit}`],
    }).output();
    assert.ok(lowered.success, new TextDecoder().decode(lowered.stderr));
    const conns: Deno.Conn[] = [];
    for (let i = 0; i < limit + 20; i++) {
      try {
        conns.push(await connect(p));
      } catch {
        break; // Refused: the daemon stopped listening, out of fds.
      }
    }
    await until(
      () => /stopped accepting: .*Too many open files/.test(d.stderr),
      () => `EMFILE logged: ${d.stderr}`,
    );
    conns.forEach(close);
    await until(async () => {
      try {
        const answer = await request(
          `http://127.0.0.1:${p}/`,
          { method: "POST", body: "back" },
          2000,
        );
        return answer.status === 200;
      } catch {
        return false;
      }
    }, () => "served again");
    await d.waitFor((r) => r.type === "injected" && r.content === "back");
  });
});

/** Permission bits of `path` (not following a symlink). */
const modeOf = (path: string) => (Deno.lstatSync(path).mode ?? 0) & 0o777;

Deno.test("the state folder and all in it are private: 0700 folders, 0600 KV, lock and socket", async () => {
  await withDaemon({ toml: hook() }, async ({ dir, port }) => {
    await port("h");
    const state = join(dir, "state");
    assert.equal(modeOf(state), 0o700);
    assert.equal(modeOf(join(state, "sessions")), 0o700);
    for (const f of ["hookhost.kv", "sessions/hostile.lock", "sessions/hostile.sock"]) {
      assert.equal(modeOf(join(state, f)), 0o600, f);
    }
  });
});

Deno.test("a state folder others can write to, or another user owns, is refused with exit 2 and left untouched", async () => {
  const tmp = await tempDir();
  try {
    await config(tmp.path, hook());
    await script(tmp.path, "hook.sh", "cat");
    const run = (state: string) =>
      cli(["run", "--name", "s", "--daemon", "--hook", "h"], {
        env: envFor(tmp.path, { HOOKHOST_STATE: state }),
      });
    const open = join(tmp.path, "open");
    await Deno.mkdir(open);
    await Deno.chmod(open, 0o777);
    const refused = await run(open);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(
      refused.stderr,
      /^hookhost: State folder '.*open' can be written by others \(mode 777\)/,
    );
    assert.equal(refused.stderr.trim().split("\n").length, 1, "one line");
    assert.deepEqual([...Deno.readDirSync(open)], [], "nothing created in it");
    // Root can give a folder away; anyone else finds one of root's.
    let foreign = "/";
    if (Deno.uid() === 0) {
      foreign = join(tmp.path, "theirs");
      await Deno.mkdir(foreign, { mode: 0o700 });
      await Deno.chown(foreign, 65534, 65534);
    }
    const theirs = await run(foreign);
    assert.equal(theirs.code, 2, theirs.stderr);
    assert.match(theirs.stderr, /is owned by another user/);
  } finally {
    await tmp.cleanup();
  }
});

Deno.test("a lock planted as a symlink is never written through: exit 2, its target unchanged", async () => {
  const tmp = await tempDir();
  try {
    await config(tmp.path, hook());
    await script(tmp.path, "hook.sh", "cat");
    const sessions = join(tmp.path, "state", "sessions");
    await Deno.mkdir(sessions, { recursive: true, mode: 0o700 });
    const victim = join(tmp.path, "precious");
    await Deno.writeTextFile(victim, "precious\n");
    await Deno.symlink(victim, join(sessions, "s.lock"));
    const r = await cli(["run", "--name", "s", "--daemon", "--hook", "h"], {
      env: envFor(tmp.path),
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /s\.lock' is a symlink/);
    assert.equal(await Deno.readTextFile(victim), "precious\n");
  } finally {
    await tmp.cleanup();
  }
});

Deno.test({
  name: "send refuses a control socket another user planted: exit 2, nothing sent to it",
  ignore: Deno.uid() !== 0, // Only root can make a socket that another user owns.
  fn: async () => {
    const tmp = await tempDir();
    try {
      await config(tmp.path, "");
      const sessions = join(tmp.path, "state", "sessions");
      await Deno.mkdir(sessions, { recursive: true, mode: 0o700 });
      const path = join(sessions, "s.sock");
      const listener = Deno.listen({ transport: "unix", path });
      await Deno.chown(path, 65534, 65534);
      let accepted = false;
      const accepting = listener.accept().then((c) => {
        accepted = true;
        c.close();
      }, () => {});
      const r = await cli(["send", "--name", "s", "stolen?"], { env: envFor(tmp.path) });
      listener.close();
      await accepting;
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /s\.sock' is owned by another user \(uid 65534\)/);
      assert.equal(accepted, false, "send never connected");
    } finally {
      await tmp.cleanup();
    }
  },
});

Deno.test("the state folder deleted under a running daemon: 503 and send exit 1 from then on, said once; what it took is still delivered", async () => {
  await withDaemon({ toml: hook() }, async ({ dir, d, port }) => {
    const url = `http://127.0.0.1:${await port("h")}/`;
    assert.equal((await request(url, { method: "POST", body: "before" })).status, 200);
    await Deno.remove(join(dir, "state"), { recursive: true });
    const acknowledged = ["before"];
    let n = 0;
    await until(async () => {
      const body = `after-${n++}`;
      const answer = await request(url, { method: "POST", body });
      if (answer.status === 200) acknowledged.push(body);
      return answer.status === 503;
    }, () => "a 503 after the state folder went");
    const refused = await request(url, { method: "POST", body: "refused" });
    assert.equal(refused.status, 503, refused.text);
    assert.match(refused.text, /Storage unavailable/);
    const sent = await cli(["send", "--name", "hostile", "lost?"], { env: envFor(dir) });
    assert.equal(sent.code, 1, sent.stderr);
    for (const body of acknowledged) {
      await d.waitFor((r) => r.type === "injected" && r.content === body);
    }
    assert.equal(d.stderr.match(/was deleted while the daemon ran/g)?.length, 1, d.stderr);
    assert.match(d.stderr, /hookhost\.kv' was deleted|hostile\.lock' was deleted/);
  });
});

/** Whether this machine lets the tests mount a small tmpfs (root with CAP_SYS_ADMIN). */
function canMount(): boolean {
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) return false;
  const dir = Deno.makeTempDirSync();
  try {
    const mount = new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir],
    })
      .outputSync();
    if (!mount.success) return false;
    new Deno.Command("umount", { args: [dir] }).outputSync();
    return true;
  } catch {
    return false;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test({
  name:
    "a full disk: the daemon stays up, 503 and send exit 1 while it lasts, acknowledges again once freed; nothing acknowledged is lost",
  ignore: !canMount(),
  fn: async () => {
    const tmp = await tempDir();
    const disk = join(tmp.path, "disk");
    await Deno.mkdir(disk);
    const mount = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=4m", "tmpfs", disk],
    }).output();
    assert.ok(mount.success);
    try {
      const handled = join(tmp.path, "handled.log");
      await script(tmp.path, "handler.sh", `cat >> '${handled}'; echo >> '${handled}'`);
      await script(tmp.path, "hook.sh", "cat");
      await config(tmp.path, '[session]\nhandler = "./handler.sh"\n\n' + hook());
      const env = envFor(tmp.path, { HOOKHOST_STATE: join(disk, "state") });
      const d = Proc.start([
        "run",
        "--name",
        "full",
        "--daemon",
        "--format",
        "jsonl",
        "--hook",
        "h",
      ], {
        env,
      });
      try {
        const url = `http://127.0.0.1:${Number((await d.addr("h")).split(":").pop())}/`;
        // Fill what is left of the disk.
        const filler = await Deno.open(join(disk, "filler"), { write: true, create: true });
        const block = new Uint8Array(64 * 1024);
        try {
          while (true) await filler.write(block);
        } catch {
          // No space left.
        } finally {
          filler.close();
        }
        const acknowledged: string[] = [];
        let n = 0;
        await until(async () => {
          const body = `m${n++}-${"x".repeat(8000)}`;
          const answer = await request(url, { method: "POST", body });
          if (answer.status === 200) acknowledged.push(body);
          return answer.status === 503;
        }, () => `a 503 once the disk is full (${n} sent)`);
        const sent = await cli(["send", "--name", "full", "more"], { env });
        assert.equal(sent.code, 1, sent.stderr);
        assert.match(sent.stderr, /database or disk is full/);
        await Deno.remove(join(disk, "filler"));
        await until(async () => {
          const body = `back${n++}`;
          const answer = await request(url, { method: "POST", body });
          if (answer.status === 200) acknowledged.push(body);
          return answer.status === 200;
        }, () => "acknowledging again once space is free");
        await until(async () => {
          const got = new Set((await Deno.readTextFile(handled).catch(() => "")).split("\n"));
          return acknowledged.every((b) => got.has(b));
        }, () => "every acknowledged message handled");
        assert.equal(
          d.stderr.match(/Storage failed: .*database or disk is full/g)?.length,
          1,
          d.stderr,
        );
        assert.match(d.stderr, /Storage works again/);
      } finally {
        assert.equal(await d.stop(), 0, d.stderr);
      }
    } finally {
      await new Deno.Command("umount", { args: ["-l", disk] }).output();
      await tmp.cleanup();
    }
  },
});

Deno.test("300 idle connections at a 256-fd limit: the daemon keeps fds free, and a client is served during the attack", async () => {
  const prefix = ["prlimit", "--nofile=256:256", "--"];
  await withDaemon({ toml: hook(), prefix }, async ({ d, port }) => {
    const p = await port("h");
    const conns: Deno.Conn[] = [];
    for (let i = 0; i < 300; i++) {
      try {
        conns.push(await connect(p));
      } catch {
        // Refused while the daemon was out of fds: what the attack costs others.
      }
    }
    try {
      // max_connections defaults to 4/5 of the limit, so the guard ends enough of them to serve.
      await until(async () => {
        const answer = await request(
          `http://127.0.0.1:${p}/`,
          { method: "POST", body: "during" },
          2000,
        )
          .catch(() => null);
        return answer?.status === 200;
      }, () => `a request served while 300 connections are held (${fds(d.child.pid)} fds)`);
      assert.match(d.stderr, /over max_connections 204/);
    } finally {
      conns.forEach(close);
    }
  });
});
