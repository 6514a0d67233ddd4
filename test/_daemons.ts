/**
 * Several `hookhost run --daemon` processes of one session ("shared") on one KV store, each with
 * its own state folder: the harness of the lease tests (standby_test.ts on a shared KV file,
 * remote_kv_test.ts on KV Connect), with load, and the checks every such test makes.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, config, Proc, type Rec, request, script, tempDir } from "./_helpers.ts";
import { exists, scaled, until } from "./_poll.ts";

/** The lease time of these tests' sessions, in seconds. */
export const TTL = 2;
/** The status a daemon prints when it takes the lease. */
export const TAKES_OVER = "drains the inbox now";
/** The status a daemon prints when another holds it. */
export const STANDS_BY = "standing by";
/** What no daemon's stderr may show. */
export const CLEAN = /database is locked|Stack backtrace|\n\s+at /;

/** What a test body gets. */
export interface Daemons {
  /** The temp folder (config, scripts, state folders). */
  dir: string;
  /** The environment of daemon (or command) `which`: its own state folder, the shared KV. */
  env: (which: string) => Record<string, string>;
  /** Starts daemon `which` (`--hook in`: a script hook echoing the body). */
  start: (which: string) => Proc;
}

/** Options of {@linkcode withDaemons}. */
export interface DaemonsOptions {
  /** Extra `[session]` TOML lines. */
  session?: string;
  /** The KV location; default a file in the temp folder. */
  kv?: string;
  /** Extra environment of every process (e.g. `DENO_KV_ACCESS_TOKEN`). */
  env?: Record<string, string>;
}

/** Runs `body` with daemons of session "shared" on one KV store; kills them all after. */
export async function withDaemons(
  body: (d: Daemons) => Promise<void>,
  options: DaemonsOptions = {},
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
      ...options.env,
      HOOKHOST_CONFIG: join(tmp.path, "hookhost.toml"),
      HOOKHOST_STATE: join(tmp.path, `state-${which}`),
      HOOKHOST_KV: options.kv ?? join(tmp.path, "shared", "hookhost.kv"),
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

/** A `status` record containing `text`. */
export const isStatus = (text: string) => (r: Rec) =>
  r.type === "status" && r.message.includes(text);
/** The `injected` records of `d`. */
export const injected = (d: Proc) => d.records.filter((r) => r.type === "injected");

/** Options of {@linkcode load}. */
export interface LoadOptions {
  /** The daemons' names, for the env of each `send` (round robin). */
  names: string[];
  /** Prefix of the contents. */
  prefix: string;
  /** Called after each webhook with what was acknowledged so far (e.g. to kill a daemon). */
  onAck: (acked: Set<string>) => void;
}

/**
 * 200 webhooks over 8 connections spread over `daemons`' listeners and 12 `send`s spread over
 * their state folders; returns the contents that were acknowledged (200, or `send` exit 0).
 */
export async function load(
  daemons: Proc[],
  env: (which: string) => Record<string, string>,
  options: LoadOptions,
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
export async function allPrinted(daemons: Proc[], acked: Set<string>): Promise<void> {
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
export function assertNoDoubles(daemons: Proc[], killed: Proc[]): void {
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

/**
 * The takeover every KV kind must survive: daemons a and b; a holds; `kill -9` of a under webhook
 * and `send` load through both; b takes over within the lease time (plus `slack` ms, scaled),
 * every acknowledged message is printed, none twice but for a's last batch.
 */
export async function killHolderUnderLoad(options: DaemonsOptions & { slack: number }) {
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
    assert.ok(after <= TTL * 1000 + scaled(options.slack), `took over ${after} ms after the kill`);
    await allPrinted([a, b], acked);
    assertNoDoubles([a, b], [a]);
    assert.equal(await b.stop(), 0, b.stderr);
    assert.doesNotMatch(b.stderr, CLEAN);
  }, options);
}

/**
 * A holder paused (SIGSTOP, by `options.stop`) while its handler runs a message, past its lease:
 * the standby takes over and runs the message again; the resumed holder prints no reply, deletes
 * nothing, and stands by; what comes in later through its listener and its `send` the new holder
 * prints.
 */
export async function pausedHolderPrintsNothing(
  options: DaemonsOptions & { stop: (d: Proc) => Promise<void> },
): Promise<void> {
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

      await options.stop(a);
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
    }, { ...options, session: `handler = "${handler}"\n` });
  } finally {
    await tmp.cleanup();
  }
}
