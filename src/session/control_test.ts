import assert from "node:assert/strict";
import { join } from "node:path";
import { HookhostError } from "../errors.ts";
import { scaled } from "../../test/_poll.ts";
import {
  type ControlRequest,
  controlRequest,
  type ControlResponse,
  NotRunningError,
  serveControl,
} from "./control.ts";

/** A short temp dir under /tmp (Unix socket paths are limited to ~100 bytes). */
async function withSocketDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "hh" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

Deno.test("controlRequest() round-trips a request through serveControl() over a Unix socket", async () => {
  await withSocketDir(async (dir) => {
    const path = join(dir, "demo.sock");
    const seen: ControlRequest[] = [];
    const server = await serveControl(path, (req) => {
      seen.push(req);
      const answer: ControlResponse = req.op === "send"
        ? { ok: true, id: "01STORED", name: "demo" }
        : { ok: true, pid: Deno.pid, name: "demo" };
      return Promise.resolve(answer);
    });
    try {
      assert.deepEqual(await controlRequest(path, { op: "ping" }), {
        ok: true,
        pid: Deno.pid,
        name: "demo",
      });
      // Newlines, unicode and a large payload survive the one-line protocol.
      const content = "line 1\nline 2 ✓ 🎉\n" + "x".repeat(2 * 1024 * 1024);
      const sent = await controlRequest(path, {
        op: "send",
        content,
        source: "inject",
        label: "inject cli",
      });
      assert.deepEqual(sent, { ok: true, id: "01STORED", name: "demo" });
      assert.equal(seen.length, 2);
      const req = seen[1];
      assert.equal(req.op, "send");
      assert.ok(req.op === "send" && req.content === content, "content changed in transit");
      assert.equal(req.op === "send" && req.label, "inject cli");
    } finally {
      await server.close();
    }
    assert.equal(await exists(path), false, "close() should remove the socket file");
  });
});

Deno.test("serveControl() answers ok:false when the handler throws", async () => {
  await withSocketDir(async (dir) => {
    const path = join(dir, "s.sock");
    const server = await serveControl(path, () => Promise.reject(new Error("inbox unavailable")));
    try {
      assert.deepEqual(await controlRequest(path, { op: "wake" }), {
        ok: false,
        error: "inbox unavailable",
      });
    } finally {
      await server.close();
    }
  });
});

Deno.test("controlRequest() to a missing socket throws NotRunningError", async () => {
  await withSocketDir(async (dir) => {
    const path = join(dir, "nobody.sock");
    await assert.rejects(() => controlRequest(path, { op: "ping" }), (e: unknown) => {
      assert.ok(e instanceof NotRunningError);
      assert.equal(e.code, "not_running");
      assert.equal(e.message, `No session is listening on '${path}'`);
      return true;
    });
  });
});

Deno.test("controlRequest() to a stale socket left by a dead session throws NotRunningError", async () => {
  await withSocketDir(async (dir) => {
    const path = join(dir, "stale.sock");
    // A session that dies without cleaning up leaves its socket file behind.
    const crashed = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `Deno.listen({ transport: "unix", path: ${JSON.stringify(path)} }); Deno.exit(0)`,
      ],
      stdout: "null",
      stderr: "null",
    }).output();
    assert.equal(crashed.code, 0);
    assert.equal(await exists(path), true);
    await assert.rejects(() => controlRequest(path, { op: "ping" }), NotRunningError);

    // A new session replaces the stale file and is reachable.
    const server = await serveControl(path, () => Promise.resolve({ ok: true, name: "new" }));
    try {
      assert.deepEqual(await controlRequest(path, { op: "ping" }), { ok: true, name: "new" });
    } finally {
      await server.close();
    }
    await assert.rejects(() => controlRequest(path, { op: "ping" }), NotRunningError);
  });
});

Deno.test("controlRequest() fails with no_answer when the session does not answer in time", async () => {
  await withSocketDir(async (dir) => {
    const path = join(dir, "slow.sock");
    let release!: () => void;
    const never = new Promise<ControlResponse>((r) => (release = () => r({ ok: true })));
    const server = await serveControl(path, () => never);
    try {
      const started = Date.now();
      await assert.rejects(
        () => controlRequest(path, { op: "send", content: "x" }, { timeoutMs: 200 }),
        (e: unknown) => {
          assert.ok(e instanceof HookhostError);
          assert.ok(!(e instanceof NotRunningError));
          assert.equal(e.code, "no_answer");
          assert.match(e.message, /^The session did not confirm the request/);
          return true;
        },
      );
      assert.ok(Date.now() - started < 3_000);
    } finally {
      release();
      await server.close();
    }
  });
});

Deno.test("serveControl() close() is not held up forever by a client that never sends", async () => {
  // Shutdown (SIGTERM) awaits close(); a stray idle connection must not keep the daemon alive.
  await withSocketDir(async (dir) => {
    const path = join(dir, "idle.sock");
    const server = await serveControl(path, () => Promise.resolve({ ok: true }));
    const idle = await Deno.connect({ transport: "unix", path });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const closing = server.close();
    const outcome = await Promise.race([
      closing.then(() => "closed"),
      new Promise<string>((r) => (timer = setTimeout(() => r("stuck"), scaled(2_000)))),
    ]);
    clearTimeout(timer);
    idle.close();
    await closing;
    assert.equal(outcome, "closed", "close() still waiting for the idle client after 2 s");
  });
});

Deno.test("serveControl() and controlRequest() refuse a socket path that is too long", async () => {
  const path = "/tmp/" + "d".repeat(120) + "/x.sock";
  await assert.rejects(() => controlRequest(path, { op: "ping" }), {
    code: "socket_path_too_long",
  });
  await assert.rejects(
    () => serveControl(path, () => Promise.resolve({ ok: true })),
    { code: "socket_path_too_long" },
  );
});
