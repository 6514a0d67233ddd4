import assert from "node:assert/strict";
import { join } from "node:path";
import { validateConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { getSession } from "../inbox/sessions.ts";
import { InboxStore } from "../inbox/store.ts";
import { openSession, type OpenSessionOptions } from "./open.ts";

// deno-lint-ignore no-explicit-any
type Rec = Record<string, any>;

function configOf(toml: string, dir = "/tmp"): Config {
  const r = validateConfig(toml, { file: null, dir });
  assert.ok(r.config, JSON.stringify(r.problems));
  return r.config;
}

interface Collector {
  records: Rec[];
  write(p: Uint8Array): Promise<number>;
  /** Settles with the first record of `type` (at once if there is one). */
  next(type: string): Promise<Rec>;
}

/** An output writer whose JSONL records are collected. */
function collector(): Collector {
  const dec = new TextDecoder();
  let buf = "";
  const records: Rec[] = [];
  const waiting: { type: string; resolve: (r: Rec) => void }[] = [];
  return {
    records,
    write(p) {
      buf += dec.decode(p, { stream: true });
      const lines = buf.split("\n");
      buf = lines.pop()!;
      for (const l of lines) {
        if (!l.trim()) continue;
        const r = JSON.parse(l);
        records.push(r);
        for (const w of waiting.filter((w) => w.type === r.type)) {
          waiting.splice(waiting.indexOf(w), 1);
          w.resolve(r);
        }
      }
      return Promise.resolve(p.length);
    },
    next(type) {
      const hit = records.find((r) => r.type === type);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve) => waiting.push({ type, resolve }));
    },
  };
}

async function withKv(fn: (kv: Deno.Kv) => Promise<void>): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  try {
    await fn(kv);
  } finally {
    kv.close();
  }
}

function options(
  kv: Deno.Kv,
  out: ReturnType<typeof collector>,
  extra: Partial<OpenSessionOptions> = {},
): OpenSessionOptions {
  return { name: "s", config: configOf(""), kv, format: "jsonl", writer: out, ...extra };
}

Deno.test("openSession one-shot: ready, the initial message, stopped; recorded as started and stopped", async () => {
  await withKv(async (kv) => {
    const out = collector();
    const now = Date.UTC(2030, 0, 2, 3, 4, 5);
    const session = await openSession(options(kv, out, { initial: "  hello  ", now: () => now }));
    await session.run();
    assert.deepEqual(out.records.map((r) => r.type), ["ready", "injected", "status"]);
    const injected = out.records[1];
    assert.equal(injected.content, "hello");
    assert.equal(injected.source_kind, "inject");
    assert.equal(injected.ts, "2030-01-02T03:04:05.000Z", "records carry the injected clock");
    assert.equal(out.records[2].message, "Session 's' stopped");
    const rec = await getSession(kv, "s");
    assert.equal(rec?.started_at, now);
    assert.equal(rec?.stopped_at, now);
    assert.equal((await new InboxStore(kv).list("s")).length, 0, "the inbox is drained");
    await session.stop();
  });
});

Deno.test("openSession daemon: control send is output; unknown hooks are 404; after stop() requests are refused", async () => {
  await withKv(async (kv) => {
    const out = collector();
    let closed = 0;
    const session = await openSession(
      options(kv, out, { daemon: true, onStopAccepting: () => Promise.resolve(void closed++) }),
    );
    const running = session.run();
    const sent = await session.control({ op: "send", content: "from control", source: "skill" });
    assert.ok(sent.ok && typeof sent.id === "string", JSON.stringify(sent));
    const pong = await session.control({ op: "ping" });
    assert.deepEqual(pong, { ok: true, pid: Deno.pid, name: "s", refusals: {}, workers: {} });
    const bad = await session.control({ op: "send", content: "x", source: "nope" as "inject" });
    assert.deepEqual(bad, { ok: false, error: "Unknown source 'nope'" });
    const injected = await out.next("injected");
    assert.deepEqual([injected.id, injected.content, injected.source_kind], [
      sent.ok && sent.id,
      "from control",
      "skill",
    ]);
    const res = await session.handle("missing", new Request("http://x/"));
    assert.equal(res.status, 404);
    assert.equal(await res.text(), "No hook named 'missing'\n");
    assert.deepEqual(session.hooks, []);

    await session.stop();
    await running;
    assert.equal(closed, 1, "the caller's sockets are closed once");
    const late = await session.handle("missing", new Request("http://x/"));
    assert.equal(late.status, 503);
    await late.body?.cancel();
    assert.deepEqual(await session.control({ op: "ping" }), {
      ok: false,
      error: "Session 's' is stopping",
    });
    await session.stop(); // idempotent
  });
});

Deno.test("openSession serves a script hook through handle() and stops through its signal", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hhopen" });
  try {
    const path = join(dir, "echo.sh");
    await Deno.writeTextFile(path, "#!/bin/sh\ncat\n");
    await Deno.chmod(path, 0o755);
    await withKv(async (kv) => {
      const out = collector();
      const stop = new AbortController();
      const config = configOf(
        `[[hooks]]\nname = "echo"\nbind = "127.0.0.1:0"\nscript = "./echo.sh"\n`,
        dir,
      );
      const session = await openSession(
        options(kv, out, { config, daemon: true, hooks: ["echo"], signal: stop.signal }),
      );
      assert.deepEqual(session.hooks, ["echo"]);
      const running = session.run();
      const res = await session.handle(
        "echo",
        new Request("http://x/path", { method: "POST", body: "a webhook body" }),
      );
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "ok");
      // Printed at once, or stored and drained once the runner runs (it may start later than
      // the request on a slow machine); a stop before that would leave it for the next run.
      const injected = await out.next("injected");
      stop.abort();
      await running;
      assert.equal(injected?.content, "a webhook body");
      assert.equal(injected?.source_label, "webhook echo");
      const run = out.records.find((r) => r.type === "hook_run");
      assert.equal(run?.status, 200);
      await session.stop();
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openSession refuses a hook the config does not have, with code hook_not_found", async () => {
  await withKv(async (kv) => {
    await assert.rejects(
      () => openSession(options(kv, collector(), { hooks: ["nope"] })),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, "hook_not_found");
        assert.equal(e.message, "Hook 'nope' not found in config");
        return true;
      },
    );
  });
});

Deno.test("openSession: stop() without run() releases everything and processes nothing", async () => {
  await withKv(async (kv) => {
    await new InboxStore(kv).add("s", [{ source: "inject", content: "left alone" }]);
    const out = collector();
    const session = await openSession(options(kv, out, { daemon: true }));
    await session.stop();
    assert.deepEqual(out.records.map((r) => r.type), ["ready"]);
    assert.equal(
      (await new InboxStore(kv).list("s")).length,
      1,
      "nothing was taken from the inbox",
    );
    assert.throws(() => session.run(), /already|stopp/);
  });
});
