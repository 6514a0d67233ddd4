/**
 * End-to-end tests of several daemons of one session on one KV file (docs/operations.md "Several
 * daemons, one inbox"): `hookhost run --daemon` processes with their own state folders and a
 * shared `HOOKHOST_KV`. One drains, holding the session's lease; the others stand by, serving
 * their webhooks and `send` into the shared inbox, and one of them takes over when the holder dies
 * or is paused past its lease.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, config, Proc, type Rec, request, script, tempDir } from "./_helpers.ts";
import { exists, scaled, until } from "./_poll.ts";

const TTL = 2;

interface Daemons {
  dir: string;
  env: (which: string) => Record<string, string>;
  start: (which: string) => Proc;
}

/** A session "shared" whose daemons share one KV file; `session` is extra `[session]` TOML. */
async function withDaemons(
  body: (d: Daemons) => Promise<void>,
  options: { session?: string } = {},
): Promise<void> {
  const tmp = await tempDir();
  const procs: Proc[] = [];
  try {
    await script(tmp.path, "echo.sh", "cat");
    await config(
      tmp.path,
      `[session]\nlease_ttl = ${TTL}\n${options.session ?? ""}\n` +
        `[[hooks]]\nname = "in"\nbind = "127.0.0.1:0"\nscript = "./echo.sh"\n`,
    );
    const env = (which: string) => ({
      HOOKHOST_CONFIG: join(tmp.path, "hookhost.toml"),
      HOOKHOST_STATE: join(tmp.path, `state-${which}`),
      HOOKHOST_KV: join(tmp.path, "shared", "hookhost.kv"),
    });
    // The session exists once a run made it.
    const first = await cli(["run", "--name", "shared"], { env: env("a") });
    assert.equal(first.code, 0, first.stderr);
    const start = (which: string) => {
      const d = Proc.start(
        ["run", "--name", "shared", "--daemon", "--format", "jsonl", "--hook", "in"],
        { env: env(which) },
      );
      procs.push(d);
      return d;
    };
    await body({ dir: tmp.path, env, start });
  } finally {
    for (const d of procs) {
      try {
        d.child.kill("SIGCONT");
      } catch { /* gone */ }
      await d.stop("SIGKILL").catch(() => {});
    }
    await tmp.cleanup();
  }
}

const isStatus = (text: string) => (r: Rec) => r.type === "status" && r.message.includes(text);
const injected = (d: Proc) => d.records.filter((r) => r.type === "injected");
const TAKES_OVER = "drains the inbox now";
const STANDS_BY = "standing by";

/** Whether `pid` holds a POSIX write lock (SQLite's: the session lock is a flock). Linux. */
async function holdsWriteLock(pid: number): Promise<boolean> {
  const locks = await Deno.readTextFile("/proc/locks");
  return locks.split("\n").some((l) => {
    const f = l.trim().split(/\s+/);
    return f[1] === "POSIX" && f[3] === "WRITE" && f[4] === String(pid);
  });
}

/**
 * Stops `d` with SIGSTOP at a moment it is not inside a KV commit. A process stopped inside one
 * keeps SQLite's write lock of the shared file, and no daemon on that file can write until it
 * resumes (docs/operations.md: a limit of a local KV file, which remote KV does not have); that is
 * not the pause this tests, so such a stop is undone and tried again.
 */
async function stopOutsideCommit(d: Proc): Promise<void> {
  await until(async () => {
    d.child.kill("SIGSTOP");
    if (!(await holdsWriteLock(d.child.pid))) return true;
    d.child.kill("SIGCONT");
    return false;
  }, () => `pid ${d.child.pid} stayed inside a KV commit`);
}

/**
 * Load on every listed daemon's webhook and `send`, until `stopWhen(acknowledged)`: returns the
 * contents that were acknowledged (200 or `send` exit 0).
 */
async function load(
  daemons: Proc[],
  env: (which: string) => Record<string, string>,
  options: { names: string[]; onAck: (acked: Set<string>) => void; prefix: string },
): Promise<Set<string>> {
  const addrs = await Promise.all(daemons.map((d) => d.addr("in")));
  const acked = new Set<string>();
  let n = 0;
  const hooks = async (w: number) => {
    while (n < 200) {
      const content = `${options.prefix}wh-${n++}`;
      try {
        const res = await fetch(`http://${addrs[w % addrs.length]}/`, {
          method: "POST",
          body: content,
        });
        await res.body?.cancel();
        if (res.status === 200) acked.add(content);
      } catch {
        // A killed daemon's connections reset.
      }
      options.onAck(acked);
    }
  };
  const sends = Array.from({ length: 12 }, async (_, i) => {
    const content = `${options.prefix}send-${i}`;
    const r = await cli(["send", "--name", "shared", content], {
      env: env(options.names[i % options.names.length]),
    });
    if (r.code === 0) acked.add(content);
  });
  await Promise.all([...Array.from({ length: 8 }, (_, w) => hooks(w)), ...sends]);
  return acked;
}

/** Waits until every content in `acked` was printed by one of `daemons`. */
async function allPrinted(daemons: Proc[], acked: Set<string>): Promise<void> {
  const printed = () => new Set(daemons.flatMap(injected).map((r) => r.content));
  await until(
    () => [...acked].every((c) => printed().has(c)),
    () => `missing: ${[...acked].filter((c) => !printed().has(c))}`,
  );
}

/**
 * Asserts no content was printed under two ids, and that an id printed twice was printed once by
 * a daemon that was killed (it died after printing, before deleting) and once by another.
 */
function assertNoDoubles(daemons: Proc[], killed: Proc[]): void {
  const ids = new Map<string, Set<string>>();
  const by = new Map<string, Proc[]>();
  for (const d of daemons) {
    for (const r of injected(d)) {
      if (!ids.has(r.content)) ids.set(r.content, new Set());
      ids.get(r.content)!.add(r.id);
      by.set(r.id, [...(by.get(r.id) ?? []), d]);
    }
  }
  for (const [content, set] of ids) assert.equal(set.size, 1, `${content}: ${[...set]}`);
  for (const [id, printers] of by) {
    if (printers.length < 2) continue;
    assert.equal(printers.length, 2, `${id} printed ${printers.length} times`);
    assert.notEqual(printers[0], printers[1], `${id} printed twice by one daemon`);
    assert.ok(printers.some((p) => killed.includes(p)), `${id} printed by two live daemons`);
  }
}

const CLEAN = /database is locked|Stack backtrace|\n\s+at /;

Deno.test("a standby daemon of the same session takes over within the lease time when the holder is killed -9 under load; nothing acknowledged is lost or printed twice", async () => {
  await withDaemons(async ({ env, start }) => {
    const a = start("a");
    await a.addr("in");
    const b = start("b");
    await b.waitFor(isStatus(STANDS_BY));
    let killedAt = 0;
    const kill = () => {
      if (killedAt) return;
      killedAt = Date.now();
      a.child.kill("SIGKILL");
    };
    const acked = await load([a, b], env, {
      names: ["a", "b"],
      prefix: "",
      onAck: (acked) => acked.size >= 60 && kill(),
    });
    kill();
    await a.exited();

    const took = await b.waitFor(isStatus(TAKES_OVER), 60_000);
    const after = Date.parse(took.ts) - killedAt;
    assert.ok(after <= TTL * 1000 + scaled(3000), `took over ${after} ms after the kill`);
    await allPrinted([a, b], acked);
    assertNoDoubles([a, b], [a]);
    assert.equal(await b.stop(), 0, b.stderr);
    assert.doesNotMatch(b.stderr, CLEAN);
  });
});

Deno.test("three daemons of a session: at each kill -9 of the holder under load exactly one standby takes over; nothing acknowledged is lost or printed twice", async () => {
  await withDaemons(async ({ env, start }) => {
    const all = [start("a")];
    await all[0].addr("in");
    all.push(start("b"), start("c"));
    for (const d of all.slice(1)) await d.waitFor(isStatus(STANDS_BY));
    const killed: Proc[] = [];
    const acked = new Set<string>();
    let holder = all[0];
    for (const round of [1, 2]) {
      let killedAt = 0;
      const live = all.filter((d) => !killed.includes(d));
      const kill = () => {
        if (killedAt) return;
        killedAt = Date.now();
        holder.child.kill("SIGKILL");
      };
      const got = await load(live, env, {
        names: ["a", "b", "c"].filter((_, i) => !killed.includes(all[i])),
        prefix: `r${round}-`,
        onAck: (acked) => acked.size >= 40 && kill(),
      });
      kill();
      await holder.exited();
      killed.push(holder);
      for (const c of got) acked.add(c);
      const rest = all.filter((d) => !killed.includes(d));
      // Exactly one of the rest takes over; the other (if any) keeps standing by.
      await until(
        () => rest.some((d) => d.records.filter(isStatus(TAKES_OVER)).length > 0),
        () => `nobody took over in round ${round}`,
      );
      const took = rest.filter((d) => d.records.some(isStatus(TAKES_OVER)));
      assert.equal(took.length, 1, `round ${round}: ${took.length} took over`);
      holder = took[0];
      await allPrinted(all, acked);
    }
    assertNoDoubles(all, killed);
    const sessions = await cli(["sessions", "--json"], { env: env("c") });
    const row = JSON.parse(sessions.stdout.trim().split("\n")[0]);
    assert.equal(row.holder?.pid, holder.child.pid, sessions.stdout);
    assert.equal(await holder.stop(), 0, holder.stderr);
    assert.doesNotMatch(holder.stderr, CLEAN);
  });
});

Deno.test("a SIGSTOPped holder resumed after losing its lease prints and deletes nothing, and stands by", async () => {
  const tmp = await tempDir();
  try {
    // The handler holds "slow" until the test opens its gate: gate-0 for the first run (the
    // holder's, then paused), gate-1 for the second (the new holder's).
    const gates = tmp.path;
    const handler = await script(
      gates,
      "handler.sh",
      [
        `body=$(cat)`,
        `if [ "$body" = slow ]; then`,
        `  n=$(ls ${gates} | grep -c '^ran-')`,
        `  : > ${gates}/ran-$n`,
        `  while [ ! -e ${gates}/gate-$n ]; do sleep 0.02; done`,
        `fi`,
        `echo "done $body"`,
      ].join("\n"),
    );
    await withDaemons(async ({ env, start }) => {
      const a = start("a");
      await a.addr("in");
      const b = start("b");
      await b.waitFor(isStatus(STANDS_BY));
      const sent = await cli(["send", "--name", "shared", "slow"], { env: env("b") });
      assert.equal(sent.code, 0, sent.stderr);
      const { id } = await a.waitFor((r) => r.type === "injected" && r.content === "slow");
      await until(() => exists(join(gates, "ran-0")), () => "the holder's handler did not start");

      await stopOutsideCommit(a);
      const stoppedAt = Date.now();
      const took = await b.waitFor(isStatus(TAKES_OVER), 60_000);
      assert.ok(Date.parse(took.ts) - stoppedAt <= TTL * 1000 + scaled(3000));
      // b runs "slow" again (a never finished it; its record was shown once, by a) and holds
      // in its handler.
      await until(
        () => exists(join(gates, "ran-1")),
        () => "the new holder's handler did not start",
      );

      // a resumes; its handler finishes, and a finds it lost the lease.
      await Deno.writeTextFile(join(gates, "gate-0"), "");
      a.child.kill("SIGCONT");
      await a.waitFor(isStatus(STANDS_BY));
      // a printed no reply and did not delete the message b is processing.
      assert.deepEqual(a.records.filter((r) => r.type === "reply"), []);
      const pending = await cli(["inbox", "ls", "--name", "shared", "--json"], { env: env("b") });
      assert.equal(pending.code, 0, pending.stderr);
      assert.deepEqual(pending.stdout.trim().split("\n").map((l) => JSON.parse(l).id), [id]);

      await Deno.writeTextFile(join(gates, "gate-1"), "");
      await b.waitFor((r) => r.type === "reply" && r.id === id && r.content === "done slow");
      // More through a's listener and a's send: b prints them, a nothing more.
      const before = injected(a).length;
      const late = await request(`http://${await a.addr("in")}/`, { method: "POST", body: "late" });
      assert.equal(late.status, 200);
      const lateSend = await cli(["send", "--name", "shared", "late-send"], { env: env("a") });
      assert.equal(lateSend.code, 0, lateSend.stderr);
      await b.waitFor((r) => r.type === "reply" && r.content === "done late");
      await b.waitFor((r) => r.type === "reply" && r.content === "done late-send");
      assert.equal(injected(a).length, before, JSON.stringify(injected(a).slice(before)));
      assert.deepEqual(a.records.filter((r) => r.type === "reply"), []);

      const empty = await cli(["inbox", "ls", "--name", "shared", "--json"], { env: env("b") });
      assert.equal(empty.stdout.trim(), "", empty.stdout);
      const sessions = await cli(["sessions", "--json"], { env: env("b") });
      const row = JSON.parse(sessions.stdout.trim().split("\n")[0]);
      assert.equal(row.holder?.pid, b.child.pid, sessions.stdout);
      assert.deepEqual(row.standbys.map((s: { pid: number }) => s.pid), [a.child.pid]);
      for (const d of [a, b]) {
        assert.equal(await d.stop(), 0, d.stderr);
        assert.doesNotMatch(d.stderr, CLEAN);
      }
    }, { session: `handler = "${handler}"\n` });
  } finally {
    await tmp.cleanup();
  }
});
