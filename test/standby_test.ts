/**
 * End-to-end tests of several daemons of one session on one KV file (docs/operations.md "Several
 * daemons, one inbox"): two `hookhost run --daemon` processes with their own state folders and a
 * shared `HOOKHOST_KV`. One drains, holding the session's lease; the other stands by, serving its
 * webhooks and `send` into the shared inbox, and takes over when the holder dies.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, config, Proc, type Rec, script, tempDir } from "./_helpers.ts";
import { scaled, until } from "./_poll.ts";

const TTL = 2;

interface Pair {
  dir: string;
  env: (which: "a" | "b") => Record<string, string>;
  start: (which: "a" | "b") => Proc;
}

async function withPair(body: (p: Pair) => Promise<void>): Promise<void> {
  const tmp = await tempDir();
  const procs: Proc[] = [];
  try {
    await script(tmp.path, "echo.sh", "cat");
    await config(
      tmp.path,
      `[session]\nlease_ttl = ${TTL}\n\n[[hooks]]\nname = "in"\nbind = "127.0.0.1:0"\nscript = "./echo.sh"\n`,
    );
    const env = (which: "a" | "b") => ({
      HOOKHOST_CONFIG: join(tmp.path, "hookhost.toml"),
      HOOKHOST_STATE: join(tmp.path, `state-${which}`),
      HOOKHOST_KV: join(tmp.path, "shared", "hookhost.kv"),
    });
    // The session exists once a run made it.
    const first = await cli(["run", "--name", "shared"], { env: env("a") });
    assert.equal(first.code, 0, first.stderr);
    const start = (which: "a" | "b") => {
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

Deno.test("a standby daemon of the same session takes over within the lease time when the holder is killed -9 under load; nothing acknowledged is lost or printed twice", async () => {
  await withPair(async ({ env, start }) => {
    const a = start("a");
    await a.addr("in");
    const b = start("b");
    await b.waitFor(isStatus("standing by"));
    const addrs = [await a.addr("in"), await b.addr("in")];

    const acked = new Set<string>();
    let killedAt = 0;
    let n = 0;
    const kill = () => {
      if (killedAt) return;
      killedAt = Date.now();
      a.child.kill("SIGKILL");
    };
    const hooks = async (w: number) => {
      while (n < 200) {
        const content = `wh-${n++}`;
        // Both daemons' hooks: the standby stores into the shared inbox.
        const addr = addrs[w % 2];
        try {
          const res = await fetch(`http://${addr}/`, { method: "POST", body: content });
          await res.body?.cancel();
          if (res.status === 200) acked.add(content);
        } catch {
          // The holder's connections reset by the kill.
        }
        if (acked.size >= 60) kill();
      }
    };
    const sends = Array.from({ length: 12 }, async (_, i) => {
      const content = `send-${i}`;
      const r = await cli(["send", "--name", "shared", content], { env: env(i % 2 ? "b" : "a") });
      if (r.code === 0) acked.add(content);
    });
    await Promise.all([...Array.from({ length: 8 }, (_, w) => hooks(w)), ...sends]);
    kill();
    await a.exited();

    const took = await b.waitFor(isStatus("drains the inbox now"), scaled(60_000));
    const after = Date.parse(took.ts) - killedAt;
    assert.ok(after <= TTL * 1000 + scaled(3000), `took over ${after} ms after the kill`);
    // Every acknowledged message is printed by one of them; the same content twice only under
    // one id (the holder died after printing it, before deleting it).
    await until(
      () => {
        const printed = new Set([...injected(a), ...injected(b)].map((r) => r.content));
        return [...acked].every((c) => printed.has(c));
      },
      () =>
        `missing: ${
          [...acked].filter((c) => ![...injected(a), ...injected(b)].some((r) => r.content === c))
        }`,
    );
    const ids = new Map<string, Set<string>>();
    for (const r of [...injected(a), ...injected(b)]) {
      if (!ids.has(r.content)) ids.set(r.content, new Set());
      ids.get(r.content)!.add(r.id);
    }
    for (const [content, set] of ids) assert.equal(set.size, 1, `${content}: ${[...set]}`);
    const twiceInB = injected(b).length - new Set(injected(b).map((r) => r.id)).size;
    assert.equal(twiceInB, 0, "the standby printed a message twice");
    assert.equal(await b.stop(), 0, b.stderr);
    assert.doesNotMatch(b.stderr, /database is locked|Stack backtrace|\n\s+at /);
  });
});
