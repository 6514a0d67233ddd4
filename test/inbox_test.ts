/**
 * End-to-end tests of the durable inbox (`run`/`send`/`sessions`/`inbox ls`, drain order): the
 * real CLI as subprocesses (one-shot drains in-process), KV in temp folders.
 *
 * @module
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { scaled, until, WAIT_MS } from "./_poll.ts";
import { runOnce } from "./_session.ts";
import { holdWriteLock } from "./_kv.ts";
import {
  cli,
  type CliResult,
  config,
  envFor,
  Proc,
  type Rec,
  script,
  tempDir,
} from "./_helpers.ts";

const SOURCES = ["schedule", "background", "skill", "inject", "webhook"] as const;
type Source = typeof SOURCES[number];
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** A temp folder with a config, the env pointing at it, and every process started in it. */
class Sandbox {
  readonly procs: Proc[] = [];
  constructor(readonly dir: string, readonly env: Record<string, string>) {}

  /** Starts `hookhost ARGS…`; it is killed (if still running) and awaited when the test ends. */
  start(args: string[]): Proc {
    const p = Proc.start(args, { env: this.env });
    this.procs.push(p);
    return p;
  }

  /** Starts `run --name NAME --daemon --format jsonl EXTRA…` and waits for `ready`. */
  async daemon(name: string, extra: string[] = []): Promise<Proc> {
    const d = this.start(["run", "--name", name, "--daemon", "--format", "jsonl", ...extra]);
    const ready = await d.waitFor((r) => r.type === "ready" || r.type === "raw").catch((e) => {
      throw new Error(`daemon '${name}' did not get ready: ${e.message}`);
    });
    assert.equal(ready.type, "ready", JSON.stringify(ready));
    return d;
  }

  /**
   * A one-shot run of `name`: in-process, or with `EXTRA…` the CLI's `run --name NAME --format
   * jsonl EXTRA…` (asserting exit 0); its records.
   */
  async oneShot(name: string, extra: string[] = []): Promise<Rec[]> {
    if (extra.length === 0) return await runOnce(this.dir, name);
    const p = this.start(["run", "--name", name, "--format", "jsonl", ...extra]);
    const code = await exitWithin(p);
    assert.equal(code, 0, `one-shot run of '${name}' exited ${code}: ${p.stderr}`);
    return p.records;
  }

  /** Runs a command to completion in this sandbox. */
  cli(args: string[], options: { stdin?: string } = {}): Promise<CliResult> {
    return cli(args, { env: this.env, stdin: options.stdin });
  }

  /** `send --name NAME EXTRA… CONTENT`; asserts exit 0 and returns the printed id. */
  async send(name: string, content: string, extra: string[] = []): Promise<string> {
    const r = await this.cli(["send", "--name", name, ...extra, content]);
    assert.equal(r.code, 0, `send '${content}' exited ${r.code}: ${r.stderr}`);
    const id = r.stdout.trim();
    assert.match(id, ULID, `send printed ${JSON.stringify(r.stdout)}`);
    return id;
  }

  /** `sessions --json`, by name. */
  async sessions(): Promise<Map<string, Rec>> {
    const r = await this.cli(["sessions", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    return new Map(parse(r.stdout).map((s) => [s.name, s]));
  }

  /** `inbox ls --name NAME --json`. */
  async pending(name: string): Promise<Rec[]> {
    const r = await this.cli(["inbox", "ls", "--name", name, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    return parse(r.stdout);
  }
}

/** Runs `fn` in a fresh sandbox whose config is `toml`; cleans everything up afterwards. */
async function sandbox(fn: (sb: Sandbox) => Promise<void>, toml = ""): Promise<void> {
  const tmp = await tempDir();
  const sb = new Sandbox(tmp.path, envFor(tmp.path));
  try {
    await config(tmp.path, toml);
    await fn(sb);
  } finally {
    for (const p of sb.procs) await p.stop("SIGKILL");
    await tmp.cleanup();
  }
}

/** Waits for `p` to exit on its own; kills it and throws if it has not after `ms`. */
async function exitWithin(p: Proc, ms = WAIT_MS): Promise<number> {
  ms = scaled(ms);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), ms)));
  const result = await Promise.race([p.exited(), timeout]);
  clearTimeout(timer);
  if (result === "timeout") {
    await p.stop("SIGKILL");
    throw new Error(
      `Process did not exit within ${ms} ms; records ${
        JSON.stringify(p.records)
      }\nstderr: ${p.stderr}`,
    );
  }
  return result;
}

function parse(stdout: string): Rec[] {
  return stdout.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
}

function injected(records: readonly Rec[]): Rec[] {
  return records.filter((r) => r.type === "injected");
}

// ---------------------------------------------------------------------------------------------

Deno.test("messages queued while a session is stopped come out schedule → background → skill → inject → webhook, FIFO within a source", async () => {
  await sandbox(async (sb) => {
    assert.deepEqual(injected(await sb.oneShot("s")), []);
    // Interleaved arrival order that differs from the priority order in every round.
    const rounds: Source[][] = [
      ["webhook", "inject", "skill", "background", "schedule"],
      ["inject", "schedule", "webhook", "background", "skill"],
      ["skill", "webhook", "background", "schedule", "inject"],
    ];
    const ids = new Map<string, string>();
    for (const [round, order] of rounds.entries()) {
      for (const source of order) {
        const content = `${source}-${round}`;
        ids.set(content, await sb.send("s", content, ["--source", source]));
      }
    }
    const labelled = await sb.send("s", "labelled-skill", [
      "--source",
      "skill",
      "--label",
      "my skill",
    ]);

    const records = await sb.oneShot("s");
    const got = injected(records);
    const expected = SOURCES.flatMap((s) => [
      ...[0, 1, 2].map((round) => `${s}-${round}`),
      ...(s === "skill" ? ["labelled-skill"] : []),
    ]);
    assert.deepEqual(got.map((r) => r.content), expected);
    for (const r of got) {
      const source = r.content === "labelled-skill" ? "skill" : r.content.split("-")[0];
      assert.equal(r.source_kind, source, JSON.stringify(r));
      assert.equal(r.source_label, r.content === "labelled-skill" ? "my skill" : source);
      assert.equal(r.id, r.content === "labelled-skill" ? labelled : ids.get(r.content));
      assert.equal(r.session_id, "s");
    }
    assert.equal(records.at(-1)?.type, "status", JSON.stringify(records.at(-1)));
    // Drained: the next run has nothing left.
    assert.deepEqual(injected(await sb.oneShot("s")), []);
  });
});

Deno.test("a higher-priority message sent while the handler is busy is taken before older lower-priority ones", async () => {
  await sandbox(
    async (sb) => {
      const go = join(sb.dir, "go");
      await script(sb.dir, "h.sh", `while [ ! -f "${go}" ]; do sleep 0.02; done\ncat`);
      const d = await sb.daemon("busy");
      for (const c of ["w-1", "w-2", "w-3"]) await sb.send("busy", c, ["--source", "webhook"]);
      // w-1 is shown and its handler now waits for the go file.
      await d.waitFor((r) => r.type === "injected" && r.content === "w-1");
      await sb.send("busy", "i-1", ["--source", "inject"]);
      await sb.send("busy", "s-1", ["--source", "schedule"]);
      await sb.send("busy", "b-1", ["--source", "background"]);
      await Deno.writeTextFile(go, "");
      await d.waitForCount((r) => r.type === "reply", 6);
      assert.equal(await d.stop(), 0, d.stderr);
      const order = ["w-1", "s-1", "b-1", "i-1", "w-2", "w-3"];
      assert.deepEqual(injected(d.records).map((r) => r.content), order);
      assert.deepEqual(d.records.filter((r) => r.type === "reply").map((r) => r.content), order);
    },
    `[session]\nhandler = "./h.sh"\n`,
  );
});

Deno.test("large and non-ASCII messages come out byte for byte", async () => {
  await sandbox(async (sb) => {
    await sb.oneShot("big");
    const line = "héllo wörld ✓ 🚀 — end";
    const big = Array.from({ length: 12_000 }, (_, i) => `${i}:${line}`).join("\n");
    assert.ok(new TextEncoder().encode(big).length > 300_000);
    const stored = await sb.cli(["send", "--name", "big"], { stdin: big });
    assert.equal(stored.code, 0, stored.stderr);
    const listed = await sb.pending("big");
    assert.equal(listed.length, 1);
    assert.equal(listed[0].content, big);
    const first = injected(await sb.oneShot("big"));
    assert.equal(first.length, 1);
    assert.equal(first[0].id, stored.stdout.trim());
    assert.equal(first[0].content, big);

    const d = await sb.daemon("big");
    const live = await sb.cli(["send", "--name", "big"], { stdin: big + "!" });
    assert.equal(live.code, 0, live.stderr);
    const rec = await d.waitFor((r) => r.type === "injected" && r.id === live.stdout.trim());
    assert.equal(rec.content, big + "!");
    assert.equal(await d.stop(), 0, d.stderr);
    assert.deepEqual(await sb.pending("big"), []);
  });
});

Deno.test("send to a daemon while another process holds the KV write lock past Deno KV's busy wait is stored, without a stack trace", async () => {
  await sandbox(async (sb) => {
    const d = await sb.daemon("a");
    const lock = await holdWriteLock(join(sb.dir, "state", "hookhost.kv"), 8);
    if (!lock) return; // no python3 to hold the lock with
    const res = await cli(["send", "--name", "a", "while locked"], { env: sb.env });
    assert.equal(res.code, 0, res.stderr);
    assert.equal(await lock.done, "");
    await d.waitFor((r) => r.type === "injected" && r.content === "while locked");
    assert.equal(await d.stop(), 0, d.stderr);
    assert.doesNotMatch(d.stderr + res.stderr, /locked|Error|\n\s+at /);
  });
});

Deno.test("messages for one session never show up in another", async () => {
  await sandbox(async (sb) => {
    await sb.oneShot("a");
    await sb.oneShot("ab");
    await sb.send("a", "for-a-1");
    await sb.send("ab", "for-ab-1", ["--source", "webhook"]);
    await sb.send("a", "for-a-2", ["--source", "schedule"]);

    const d = await sb.daemon("a");
    await sb.send("ab", "for-ab-2"); // ab is stopped: stored for its next run
    await sb.send("a", "for-a-3"); // through a's daemon
    await d.waitFor((r) => r.type === "injected" && r.content === "for-a-3");
    assert.equal(await d.stop(), 0, d.stderr);
    assert.deepEqual(injected(d.records).map((r) => r.content), ["for-a-2", "for-a-1", "for-a-3"]);
    assert.ok(injected(d.records).every((r) => r.session_id === "a"));

    const ab = injected(await sb.oneShot("ab"));
    assert.deepEqual(ab.map((r) => r.content), ["for-ab-2", "for-ab-1"]);
    assert.ok(ab.every((r) => r.session_id === "ab"));
    assert.deepEqual(injected(await sb.oneShot("a")), []);
  });
});

Deno.test("one-shot run injects its MESSAGE argument, drains what is pending and exits 0", async () => {
  await sandbox(async (sb) => {
    await sb.oneShot("m");
    await sb.send("m", "queued-webhook", ["--source", "webhook"]);
    await sb.send("m", "queued-schedule", ["--source", "schedule"]);
    const records = await sb.oneShot("m", ["hello from argv"]);
    const got = injected(records);
    assert.deepEqual(got.map((r) => r.content), [
      "queued-schedule",
      "hello from argv",
      "queued-webhook",
    ]);
    assert.equal(got[1].source_kind, "inject");
    assert.match(got[1].id, ULID);
    assert.equal(records[0].type, "ready");
    assert.equal(records.at(-1)?.type, "status");
    assert.deepEqual(await sb.pending("m"), []);
  });
});

Deno.test("one-shot run takes its initial message from piped stdin, trimmed; empty stdin injects nothing", async () => {
  await sandbox(async (sb) => {
    const piped = await sb.cli(["run", "--name", "p", "--format", "jsonl"], {
      stdin: "  line one\nline two  \n\n",
    });
    assert.equal(piped.code, 0, piped.stderr);
    const got = injected(parse(piped.stdout));
    assert.equal(got.length, 1, piped.stdout);
    assert.equal(got[0].content, "line one\nline two");
    assert.equal(got[0].source_kind, "inject");

    for (const stdin of ["", "  \n\t\n"]) {
      const empty = await sb.cli(["run", "--name", "p", "--format", "jsonl"], { stdin });
      assert.equal(empty.code, 0, empty.stderr);
      assert.deepEqual(injected(parse(empty.stdout)), [], `stdin ${JSON.stringify(stdin)}`);
    }

    // MESSAGE wins over stdin.
    const both = await sb.cli(["run", "--name", "p", "--format", "jsonl", "argv wins"], {
      stdin: "ignored stdin",
    });
    assert.equal(both.code, 0, both.stderr);
    assert.deepEqual(injected(parse(both.stdout)).map((r) => r.content), ["argv wins"]);
    assert.deepEqual(await sb.pending("p"), []);
  });
});

Deno.test("send to a running daemon exits 0 and prints the id the message is injected under", async () => {
  await sandbox(async (sb) => {
    const d = await sb.daemon("live");
    const id = await sb.send("live", "hello daemon");
    const rec = await d.waitFor((r) => r.type === "injected" && r.content === "hello daemon");
    assert.equal(rec.id, id);
    assert.equal(rec.source_kind, "inject");

    const viaStdin = await sb.cli(["send", "--name", "live"], { stdin: "\n  from stdin \n\n" });
    assert.equal(viaStdin.code, 0, viaStdin.stderr);
    const rec2 = await d.waitFor((r) => r.type === "injected" && r.id === viaStdin.stdout.trim());
    assert.equal(rec2.content, "from stdin");

    const bg = await sb.send("live", "in the background", [
      "--source",
      "background",
      "--label",
      "nightly job",
    ]);
    const rec3 = await d.waitFor((r) => r.type === "injected" && r.id === bg);
    assert.equal(rec3.source_kind, "background");
    assert.equal(rec3.source_label, "nightly job");
    assert.equal(rec3.content, "in the background");

    assert.equal(await d.stop(), 0, d.stderr);
    assert.equal(injected(d.records).length, 3, JSON.stringify(d.records));
  });
});

Deno.test("send to a known but stopped session warns, exits 0 and is delivered at the next run", async () => {
  await sandbox(async (sb) => {
    await sb.oneShot("later");
    const r = await sb.cli(["send", "--name", "later", "see you later"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /not running/i);
    const id = r.stdout.trim();
    assert.match(id, ULID);
    assert.deepEqual((await sb.pending("later")).map((m) => [m.id, m.content]), [[
      id,
      "see you later",
    ]]);

    const d = await sb.daemon("later");
    const rec = await d.waitFor((x) => x.type === "injected");
    assert.equal(rec.id, id);
    assert.equal(rec.content, "see you later");
    assert.equal(await d.stop(), 0, d.stderr);
  });
});

Deno.test("send to a session that never ran exits 1 and names the known sessions", async () => {
  await sandbox(async (sb) => {
    const none = await sb.cli(["send", "--name", "ghost", "boo"]);
    assert.equal(none.code, 1, none.stderr);
    assert.match(none.stderr, /no session named 'ghost'/);

    await sb.oneShot("known-one");
    await sb.oneShot("known-two");
    const r = await sb.cli(["send", "--name", "ghost", "boo"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /no session named 'ghost'/);
    assert.match(r.stderr, /known-one/);
    assert.match(r.stderr, /known-two/);
    assert.equal(r.stdout, "");
    // It did not create the session either.
    assert.deepEqual([...(await sb.sessions()).keys()].sort(), ["known-one", "known-two"]);
  });
});

Deno.test("send with an empty message exits 2 and stores nothing", async () => {
  await sandbox(async (sb) => {
    await sb.oneShot("e");
    for (
      const [args, stdin] of [[[""], undefined], [["   "], undefined], [[], ""], [[], " \n\n"]] as [
        string[],
        string | undefined,
      ][]
    ) {
      const r = await sb.cli(["send", "--name", "e", ...args], { stdin });
      assert.equal(
        r.code,
        2,
        `args ${JSON.stringify(args)} stdin ${JSON.stringify(stdin)}: ${r.stderr}`,
      );
      assert.match(r.stderr, /empty/i);
    }
    const d = await sb.daemon("e");
    const r = await sb.cli(["send", "--name", "e", "  "]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(await d.stop(), 0, d.stderr);
    assert.deepEqual(injected(d.records), []);
    assert.deepEqual(await sb.pending("e"), []);
  });
});

Deno.test("30 concurrent senders to a running daemon: all exit 0, each message injected exactly once", async () => {
  await sandbox(async (sb) => {
    const d = await sb.daemon("busy");
    const n = 30;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => sb.cli(["send", "--name", "busy", `msg-${i}`])),
    );
    const idOf = new Map<string, string>();
    results.forEach((r, i) => {
      assert.equal(r.code, 0, `sender ${i}: ${r.stderr}`);
      assert.match(r.stdout.trim(), ULID);
      idOf.set(`msg-${i}`, r.stdout.trim());
    });
    assert.equal(new Set(idOf.values()).size, n, "ids are unique");
    await d.waitForCount((r) => r.type === "injected", n);
    assert.equal(await d.stop(), 0, d.stderr);
    const got = injected(d.records);
    assert.equal(got.length, n, JSON.stringify(got.map((r) => r.content)));
    assert.deepEqual(got.map((r) => r.content).sort(), [...idOf.keys()].sort());
    for (const r of got) assert.equal(r.id, idOf.get(r.content), r.content);
  });
});

Deno.test("30 concurrent senders to a stopped session: all exit 0, each message delivered exactly once at the next run", async () => {
  await sandbox(async (sb) => {
    await sb.oneShot("idle");
    const n = 30;
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => sb.cli(["send", "--name", "idle", `msg-${i}`])),
    );
    const idOf = new Map<string, string>();
    results.forEach((r, i) => {
      assert.equal(r.code, 0, `sender ${i}: ${r.stderr}`);
      idOf.set(`msg-${i}`, r.stdout.trim());
    });
    assert.equal(new Set(idOf.values()).size, n, "ids are unique");
    const got = injected(await sb.oneShot("idle"));
    assert.deepEqual(got.map((r) => r.content).sort(), [...idOf.keys()].sort());
    for (const r of got) assert.equal(r.id, idOf.get(r.content), r.content);
  });
});

Deno.test("a second run of a running session is refused with its pid; a SIGKILLed daemon does not block a restart", async () => {
  await sandbox(async (sb) => {
    const d1 = await sb.daemon("solo");
    const pid = d1.records.find((r) => r.type === "ready")!.pid;
    assert.equal(pid, d1.child.pid);

    const second = sb.start(["run", "--name", "solo", "--daemon", "--format", "jsonl"]);
    assert.equal(await exitWithin(second), 1, second.stderr);
    assert.match(second.stderr, new RegExp(`\\b${pid}\\b`));
    assert.ok(!second.records.some((r) => r.type === "ready"), JSON.stringify(second.records));

    const oneShot = sb.start(["run", "--name", "solo", "--format", "jsonl", "refused-initial"]);
    assert.equal(await exitWithin(oneShot), 1, oneShot.stderr);
    assert.match(oneShot.stderr, new RegExp(`\\b${pid}\\b`));

    // The refused run's initial message was not stored: the marker comes first.
    await sb.send("solo", "marker");
    await d1.waitFor((r) => r.type === "injected" && r.content === "marker");
    assert.deepEqual(injected(d1.records).map((r) => r.content), ["marker"]);

    await d1.stop("SIGKILL");
    const after = await sb.sessions();
    assert.equal(after.get("solo")?.running, false, JSON.stringify(after.get("solo")));
    // Its socket file is stale now: send stores the message for the next run.
    const stale = await sb.cli(["send", "--name", "solo", "while dead"]);
    assert.equal(stale.code, 0, stale.stderr);
    assert.match(stale.stderr, /not running/i);

    const d2 = await sb.daemon("solo");
    const pid2 = d2.records.find((r) => r.type === "ready")!.pid;
    assert.equal(pid2, d2.child.pid);
    const id = await sb.send("solo", "after restart");
    const rec = await d2.waitFor((r) => r.type === "injected" && r.content === "after restart");
    assert.equal(rec.id, id);
    const whileDead = injected(d2.records).find((r) => r.content === "while dead");
    assert.equal(whileDead?.id, stale.stdout.trim(), JSON.stringify(d2.records));
    const running = await sb.sessions();
    assert.equal(running.get("solo")?.running, true);
    assert.equal(running.get("solo")?.pid, pid2);
    assert.equal(await d2.stop(), 0, d2.stderr);
  });
});

Deno.test("run --daemon without --name is a usage error (exit 2)", async () => {
  await sandbox(async (sb) => {
    const p = sb.start(["run", "--daemon", "--format", "jsonl"]);
    assert.equal(await exitWithin(p), 2, p.stderr);
    assert.match(p.stderr, /--name/);
    assert.deepEqual(p.records, []);
  });
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`${signal} stops a daemon cleanly: exit 0 with a final status record`, async () => {
    await sandbox(async (sb) => {
      const d = await sb.daemon("sig");
      const id = await sb.send("sig", "before the signal");
      await d.waitFor((r) => r.type === "injected" && r.id === id);
      assert.equal(await d.stop(signal), 0, d.stderr);
      const last = d.records.at(-1)!;
      assert.equal(last.type, "status", JSON.stringify(d.records));
      assert.equal(typeof last.message, "string");
      assert.equal(last.session_id, "sig");
      assert.equal((await sb.sessions()).get("sig")?.running, false);
    });
  });
}

Deno.test("SIGTERM lets an in-flight webhook finish: it is answered 200 and its message is not lost", async () => {
  await sandbox(
    async (sb) => {
      const started = join(sb.dir, "started");
      await script(sb.dir, "slow.sh", `touch "${started}"\nsleep 0.5\ncat`);
      const d = await sb.daemon("grace", ["--hook", "slow"]);
      const addr = await d.addr("slow");
      const pending = fetch(`http://${addr}/`, { method: "POST", body: "in flight" });
      await until(() => existsSync(started), () => `the hook script to start: ${d.stderr}`);
      d.child.kill("SIGTERM");
      const res = await pending;
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "ok");
      assert.equal(await exitWithin(d), 0, d.stderr);
      assert.equal(d.records.at(-1)?.type, "status");
      const later = injected(await sb.oneShot("grace"));
      const all = [...injected(d.records), ...later].map((r) => r.content);
      assert.deepEqual(all, ["in flight"]);
    },
    `[[hooks]]\nname = "slow"\nbind = "127.0.0.1:0"\nscript = "./slow.sh"\n`,
  );
});

/**
 * Fires `requests` webhook requests (at most 50 at once) and `sends` `send` processes at a
 * daemon, SIGKILLs it once `killAfterHooks` requests or `killAfterSends` sends were acknowledged
 * (whichever comes first), restarts the session one-shot and checks that nothing acknowledged was
 * lost, nothing was invented, and a message shown twice kept its id.
 */
async function crashAndRecover(
  sb: Sandbox,
  o: {
    requests: number;
    sends: number;
    killAfterHooks: number;
    killAfterSends: number;
    handler: boolean;
  },
): Promise<void> {
  const d = await sb.daemon("crash", ["--hook", "in"]);
  const addr = await d.addr("in");
  const sent = new Set<string>();
  const acked = new Set<string>();
  let killed = false;
  let hookAcks = 0;
  let sendAcks = 0;
  const kill = () => {
    if (killed) return;
    killed = true;
    d.child.kill("SIGKILL");
  };
  let next = 0;
  const worker = async () => {
    while (!killed && next < o.requests) {
      const content = `wh-${next++}`;
      sent.add(content);
      try {
        const res = await fetch(`http://${addr}/hook`, { method: "POST", body: content });
        const body = await res.text();
        if (res.status === 200) {
          assert.equal(body, "ok");
          acked.add(content);
          if (++hookAcks >= o.killAfterHooks) kill();
        }
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        // Connection reset by the kill: allowed to be missing.
      }
    }
  };
  const senders = Array.from({ length: o.sends }, async (_, i) => {
    const content = `send-${i}`;
    sent.add(content);
    const r = await sb.cli(["send", "--name", "crash", content]);
    if (r.code === 0) {
      assert.match(r.stdout.trim(), ULID);
      acked.add(content);
      if (++sendAcks >= o.killAfterSends) kill();
    }
  });
  const settled = await Promise.allSettled([...Array.from({ length: 50 }, worker), ...senders]);
  kill();
  await d.exited();
  for (const s of settled) if (s.status === "rejected") throw s.reason;
  assert.ok(
    hookAcks >= Math.min(o.killAfterHooks, o.requests) ||
      sendAcks >= Math.min(o.killAfterSends, o.sends),
    `only ${hookAcks} requests and ${sendAcks} sends were acknowledged`,
  );

  const restarted = await sb.oneShot("crash");
  const runs = [injected(d.records), injected(restarted)];
  const idsOf = new Map<string, Set<string>>();
  const contentOf = new Map<string, string>();
  for (const run of runs) {
    const seen = new Set<string>();
    for (const r of run) {
      assert.ok(sent.has(r.content), `injected content that was never sent: ${r.content}`);
      assert.ok(!seen.has(r.id), `${r.id} (${r.content}) injected twice in one run`);
      seen.add(r.id);
      assert.equal(r.source_kind, r.content.startsWith("wh-") ? "webhook" : "inject");
      if (r.content.startsWith("wh-")) assert.equal(r.source_label, "webhook in");
      if (!idsOf.has(r.content)) idsOf.set(r.content, new Set());
      idsOf.get(r.content)!.add(r.id);
      const prev = contentOf.get(r.id);
      assert.ok(prev === undefined || prev === r.content, `${r.id} carried two contents`);
      contentOf.set(r.id, r.content);
    }
  }
  const lost = [...acked].filter((c) => !idsOf.has(c));
  assert.deepEqual(lost, [], `${lost.length} of ${acked.size} acknowledged messages were lost`);
  for (const [content, ids] of idsOf) {
    assert.equal(ids.size, 1, `${content} was injected under ids ${[...ids].join(", ")}`);
  }
  if (o.handler) {
    // Every message got handled by the end: a reply echoing it, under its id.
    const replies = [...d.records, ...restarted].filter((r) => r.type === "reply");
    for (const r of replies) assert.equal(r.content, contentOf.get(r.id), JSON.stringify(r));
    const replied = new Set(replies.map((r) => r.id));
    const unhandled = [...contentOf.keys()].filter((id) => !replied.has(id));
    assert.deepEqual(unhandled, [], "messages without a handler reply");
  }
  assert.deepEqual(await sb.pending("crash"), [], "the restarted run left messages behind");
}

const crashConfig = (handler: boolean) =>
  `[[hooks]]\nname = "in"\nbind = "127.0.0.1:0"\nscript = "./echo.sh"\n` +
  (handler ? `\n[session]\nhandler = "./h.sh"\n` : "");

Deno.test("SIGKILL under load loses no acknowledged webhook or send (no handler)", async () => {
  await sandbox(async (sb) => {
    await script(sb.dir, "echo.sh", "cat");
    await sb.oneShot("crash");
    await crashAndRecover(sb, {
      requests: 500,
      sends: 20,
      killAfterHooks: 200,
      killAfterSends: Infinity,
      handler: false,
    });
  }, crashConfig(false));
});

Deno.test("SIGKILL under load loses no acknowledged message (with a session handler)", async () => {
  await sandbox(async (sb) => {
    await script(sb.dir, "echo.sh", "cat");
    await script(sb.dir, "h.sh", "sleep 0.01\ncat");
    await sb.oneShot("crash");
    await crashAndRecover(sb, {
      requests: 300,
      sends: 10,
      killAfterHooks: 120,
      killAfterSends: Infinity,
      handler: true,
    });
  }, crashConfig(true));
});

Deno.test("SIGKILL while send processes are in flight loses no acknowledged send", async () => {
  await sandbox(async (sb) => {
    await script(sb.dir, "echo.sh", "cat");
    await sb.oneShot("crash");
    await crashAndRecover(sb, {
      requests: 100,
      sends: 40,
      killAfterHooks: Infinity,
      killAfterSends: 8,
      handler: false,
    });
  }, crashConfig(false));
});

Deno.test("sessions lists names, running, pid and pending per source; inbox ls shows drain order", async () => {
  await sandbox(async (sb) => {
    await sb.oneShot("alpha");
    const ids = [
      await sb.send("alpha", "w-1", ["--source", "webhook"]),
      await sb.send("alpha", "i-1", ["--source", "inject", "--label", "by hand"]),
      await sb.send("alpha", "s-1", ["--source", "schedule"]),
      await sb.send("alpha", "w-2", ["--source", "webhook"]),
      await sb.send("alpha", "k-1", ["--source", "skill"]),
    ];
    const beta = await sb.daemon("beta");
    const betaPid = beta.child.pid;

    const json = await sb.sessions();
    assert.deepEqual([...json.keys()].sort(), ["alpha", "beta"]);
    assert.deepEqual(json.get("alpha"), {
      name: "alpha",
      running: false,
      pid: null,
      pending: { schedule: 1, background: 0, skill: 1, inject: 1, webhook: 2 },
      jobs: 0,
      event_refusals: {},
      workers: {},
      holder: null,
      standbys: [],
    });
    assert.equal(json.get("beta")?.running, true);
    assert.equal(json.get("beta")?.holder?.pid, betaPid, "the daemon holds beta's lease");
    assert.deepEqual(json.get("beta")?.standbys, []);
    assert.deepEqual(json.get("beta")?.event_refusals, {}, "asked of the running daemon");
    assert.equal(json.get("beta")?.pid, betaPid);
    assert.deepEqual(json.get("beta")?.pending, {
      schedule: 0,
      background: 0,
      skill: 0,
      inject: 0,
      webhook: 0,
    });

    const text = await sb.cli(["sessions"]);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trim().split("\n").map((l) => l.trim().split(/\s+/));
    assert.deepEqual(lines[0].map((h) => h.toLowerCase()), [
      "name",
      "running",
      "pid",
      ...SOURCES,
      "jobs",
      "holder",
      "standbys",
    ]);
    const row = (name: string) => lines.find((l) => l[0] === name);
    assert.deepEqual(row("alpha"), ["alpha", "no", "-", "1", "0", "1", "1", "2", "0", "-", "-"]);
    assert.deepEqual(row("beta")?.slice(0, 9), [
      "beta",
      "yes",
      String(betaPid),
      "0",
      "0",
      "0",
      "0",
      "0",
      "0",
    ]);
    assert.match(row("beta")![9], new RegExp(`^${betaPid}@`));

    const order = ["s-1", "k-1", "i-1", "w-1", "w-2"];
    const idOf = new Map(["w-1", "i-1", "s-1", "w-2", "k-1"].map((c, i) => [c, ids[i]]));
    const listed = await sb.pending("alpha");
    assert.deepEqual(listed.map((m) => m.content), order);
    assert.deepEqual(listed.map((m) => m.id), order.map((c) => idOf.get(c)));
    assert.deepEqual(listed.map((m) => m.source), [
      "schedule",
      "skill",
      "inject",
      "webhook",
      "webhook",
    ]);
    assert.equal(listed[2].label, "by hand");

    const ls = await sb.cli(["inbox", "ls", "--name", "alpha"]);
    assert.equal(ls.code, 0, ls.stderr);
    const idColumn = ls.stdout.trim().split("\n").slice(1).map((l) => l.split(/\s+/)[0]);
    assert.deepEqual(idColumn, order.map((c) => idOf.get(c)));

    const ghost = await sb.cli(["inbox", "ls", "--name", "ghost"]);
    assert.equal(ghost.code, 1, ghost.stderr);
    assert.match(ghost.stderr, /no session named 'ghost'/);

    // Listing does not consume: the next run drains exactly these, in this order.
    assert.deepEqual(injected(await sb.oneShot("alpha")).map((r) => r.content), order);
    const drained = await sb.sessions();
    assert.deepEqual(drained.get("alpha")?.pending, {
      schedule: 0,
      background: 0,
      skill: 0,
      inject: 0,
      webhook: 0,
    });
    assert.equal(await beta.stop(), 0, beta.stderr);
  });
});
