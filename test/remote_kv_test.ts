/**
 * End-to-end tests of daemons on remote KV (docs/operations.md "Several hosts on remote KV"):
 * `hookhost run --daemon` processes with their own state folders and `HOOKHOST_KV` a KV Connect
 * URL, served on loopback by _kv_connect.ts, with the token in `DENO_KV_ACCESS_TOKEN`. KV
 * Connect has no queues and tells every client of every write: the same lease, takeover and
 * fencing as on one file, wake-ups through `watch`, schedules without queue timers.
 */
import assert from "node:assert/strict";
import { cli, request, tempDir } from "./_helpers.ts";
import { scaled, until } from "./_poll.ts";
import { type KvConnectServer, startKvConnect } from "./_kv_connect.ts";
import {
  CLEAN,
  injected,
  isStatus,
  killHolderUnderLoad,
  pausedHolderPrintsNothing,
  STANDS_BY,
  withDaemons,
} from "./_daemons.ts";

async function withRemote(body: (srv: KvConnectServer) => Promise<void>): Promise<void> {
  const srv = await startKvConnect();
  try {
    await body(srv);
  } finally {
    await srv.close();
  }
}

const remote = (srv: KvConnectServer) => ({
  kv: srv.url,
  env: { DENO_KV_ACCESS_TOKEN: srv.token },
});

Deno.test("remote KV: a standby takes over within the lease time when the holder is killed -9 under load; nothing acknowledged is lost or printed twice", async () => {
  await withRemote(async (srv) => {
    await killHolderUnderLoad({ ...remote(srv), slack: 3000 });
    // The holder watched the wake key (standbys' writes reach it at once there).
    assert.ok(srv.stats.watches >= 1, JSON.stringify(srv.stats));
  });
});

Deno.test("remote KV: a SIGSTOPped holder (stopped at any moment: no file lock to hold) resumed after losing its lease prints and deletes nothing", async () => {
  await withRemote(async (srv) => {
    await pausedHolderPrintsNothing({
      ...remote(srv),
      stop: (d) => Promise.resolve(void d.child.kill("SIGSTOP")),
    });
  });
});

Deno.test("remote KV: schedules are added without queue timers and fired by the holder alone", async () => {
  await withRemote(async (srv) => {
    await withDaemons(async ({ env, start }) => {
      const a = start("a");
      await a.addr("in");
      const b = start("b");
      await b.waitFor(isStatus(STANDS_BY));
      const add = await cli(["schedule", "add", "--name", "shared", "--every", "1s", "tick"], {
        env: env("b"),
      });
      assert.equal(add.code, 0, add.stderr);
      const ticks = await a.waitForCount(
        (r) => r.type === "injected" && r.source_kind === "schedule" && r.content === "tick",
        2,
      );
      assert.equal(new Set(ticks.map((r) => r.id)).size, ticks.length);
      assert.deepEqual(injected(b), []);
      const list = await cli(["schedule", "ls", "--name", "shared", "--json"], { env: env("b") });
      assert.equal(list.code, 0, list.stderr);
      assert.ok(JSON.parse(list.stdout.trim().split("\n")[0]).fired >= 2, list.stdout);
      for (const d of [a, b]) {
        assert.equal(await d.stop(), 0, d.stderr);
        assert.doesNotMatch(d.stderr, CLEAN);
      }
    }, remote(srv));
  });
});

Deno.test("remote KV: a wrong access token fails the run at once with one line naming the database", async () => {
  await withRemote(async (srv) => {
    const tmp = await tempDir();
    try {
      const r = await cli(["run", "--name", "x"], {
        env: {
          HOOKHOST_STATE: `${tmp.path}/state`,
          HOOKHOST_KV: srv.url,
          DENO_KV_ACCESS_TOKEN: "not-the-token",
        },
      });
      assert.notEqual(r.code, 0);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /Invalid access token/);
      assert.ok(lines[0].includes(srv.url), r.stderr);
    } finally {
      await tmp.cleanup();
    }
  });
});

Deno.test("remote KV: while the database does not answer, webhooks are answered 503 within the deadline instead of waiting, and acknowledged again once it is back", async () => {
  await withRemote(async (srv) => {
    await withDaemons(async ({ start }) => {
      const a = start("a");
      const addr = await a.addr("in");
      const post = (body: string) => request(`http://${addr}/`, { method: "POST", body }, 30_000);
      assert.equal((await post("before")).status, 200);
      srv.down();
      // A holder still sure of its lease delivers straight to the output (no KV needed); once
      // it is not, a webhook must be stored, and the store fails at its deadline.
      const acked: string[] = [];
      let refused = false;
      const deadline = Date.now() + scaled(60_000);
      for (let i = 0; !refused && Date.now() < deadline; i++) {
        // Paced, so that the holder's last sure moments do not deliver thousands.
        if (i) await new Promise((r) => setTimeout(r, 50));
        const r = await post(`during-${i}`);
        if (r.status === 200) acked.push(`during-${i}`);
        else {
          assert.equal(r.status, 503, r.text);
          refused = true;
        }
      }
      assert.ok(refused, "never refused");
      assert.match(a.stderr, /did not answer within 5 s; webhooks are answered 503/);
      srv.up();
      await until(async () => (await post("after")).status === 200, () => a.stderr);
      for (const c of ["before", ...acked, "after"]) {
        await a.waitFor((r) => r.type === "injected" && r.content === c);
      }
      assert.equal(await a.stop(), 0, a.stderr);
      assert.doesNotMatch(a.stderr, CLEAN);
    }, remote(srv));
  });
});
