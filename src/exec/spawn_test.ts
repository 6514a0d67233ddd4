import assert from "node:assert/strict";
import { join } from "node:path";
import { runCommand, type RunOptions, runProcess, type RunResult, SpawnError } from "./spawn.ts";
import { libc } from "./libc.ts";
import { hasTerminal, statFields } from "./native_spawn.ts";
import { alive, eventually, exists, scaled } from "../../test/_poll.ts";

const decoder = new TextDecoder();

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hh-spawn" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function script(dir: string, name: string, body: string): Promise<string> {
  const path = join(dir, name);
  await Deno.writeTextFile(path, `#!/bin/sh\n${body}\n`);
  await Deno.chmod(path, 0o755);
  return path;
}

type Run = (command: string, options?: RunOptions) => Promise<RunResult>;

// Every behaviour holds on both paths: posix_spawn through FFI (Linux) and Deno.Command.
const implementations: [string, Run][] = [["runProcess", runProcess], ["runCommand", runCommand]];

for (const [name, run] of implementations) {
  Deno.test(`${name}() round-trips 5 MiB through cat's stdin and stdout`, async () => {
    const input = new Uint8Array(5 * 1024 * 1024);
    for (let i = 0; i < input.length; i += 65_536) {
      crypto.getRandomValues(input.subarray(i, i + 65_536));
    }
    const result = await run("cat", { stdin: input });
    assert.equal(result.code, 0);
    assert.equal(result.timedOut, false);
    assert.equal(result.stdout.length, input.length);
    assert.ok(result.stdout.every((b, i) => b === input[i]), "stdout differs from stdin");
    assert.equal(result.stderr.length, 0);
  });

  Deno.test(`${name}() writes text stdin and passes env on top of the inherited one`, async () => {
    const result = await run("/bin/sh", {
      args: ["-c", 'printf "%s|%s|%s" "$(cat)" "$HOOK_X" "${PATH:+has-path}"'],
      stdin: "héllo",
      env: { HOOK_X: "x y" },
    });
    assert.equal(decoder.decode(result.stdout), "héllo|x y|has-path");
  });

  Deno.test(`${name}() reports a non-zero exit code and captures stderr`, async () => {
    const result = await run("/bin/sh", {
      args: ["-c", "echo partial; echo 'it broke' >&2; exit 3"],
    });
    assert.equal(result.code, 3);
    assert.equal(result.signal, null);
    assert.equal(result.timedOut, false);
    assert.equal(decoder.decode(result.stdout), "partial\n");
    assert.equal(decoder.decode(result.stderr), "it broke\n");
    assert.ok(result.durationMs >= 0);
  });

  Deno.test(`${name}() does not fail when the child exits without reading stdin`, async () => {
    const result = await run("/bin/sh", {
      args: ["-c", "exit 0"],
      stdin: new Uint8Array(4 * 1024 * 1024),
    });
    assert.equal(result.code, 0);
  });

  Deno.test(`${name}() passes every size of stdin around a pipe's capacity whole`, async () => {
    // The native spawner writes what fits before the child starts and the rest as it reads.
    for (const size of [1, 4096, 65_535, 65_536, 65_537, 200_000]) {
      const input = new Uint8Array(size).map((_, i) => i % 251);
      const result = await run("/bin/sh", { args: ["-c", "sleep 0.05; wc -c"], stdin: input });
      assert.equal(result.code, 0);
      assert.equal(decoder.decode(result.stdout).trim(), String(size));
    }
    const unread = await run("/bin/sh", { args: ["-c", "exit 3"], stdin: new Uint8Array(60_000) });
    assert.equal(unread.code, 3);
  });

  Deno.test(`${name}() keeps at most maxOutputBytes and still finishes`, async () => {
    const result = await run("/bin/sh", {
      args: ["-c", "head -c 300000 /dev/zero; echo done >&2"],
      maxOutputBytes: 1000,
    });
    assert.equal(result.code, 0);
    assert.equal(result.stdout.length, 1000);
    assert.equal(decoder.decode(result.stderr), "done\n");
  });

  Deno.test(`${name}() kills the whole process group on timeout`, async () => {
    await withTempDir(async (dir) => {
      const pidFile = join(dir, "grandchild.pid");
      // The grandchild keeps stdout open; only a group kill lets the run finish.
      const path = await script(dir, "slow.sh", `sleep 30 &\necho $! > ${pidFile}\nwait`);
      const started = Date.now();
      const result = await run(path, { timeoutMs: 300 });
      const elapsed = Date.now() - started;
      assert.equal(result.timedOut, true);
      assert.equal(result.code, null);
      assert.equal(result.signal, "SIGKILL");
      assert.ok(elapsed < 5_000, `took ${elapsed} ms`);
      const grandchild = Number((await Deno.readTextFile(pidFile)).trim());
      assert.ok(grandchild > 0);
      assert.ok(
        await eventually(() => !alive(grandchild)),
        `grandchild ${grandchild} survived the timeout`,
      );
    });
  });

  Deno.test(`${name}() kills the process when the signal aborts`, async () => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 200);
    const started = Date.now();
    const result = await run("/bin/sh", {
      args: ["-c", "sleep 30"],
      signal: controller.signal,
    });
    clearTimeout(timer);
    assert.ok(Date.now() - started < 5_000);
    assert.equal(result.code, null);
    assert.equal(result.signal, "SIGKILL");
    assert.equal(result.timedOut, false);

    const already = await run("/bin/sh", {
      args: ["-c", "sleep 30"],
      signal: AbortSignal.abort(),
    });
    assert.equal(already.signal, "SIGKILL");
  });

  Deno.test(`${name}() throws SpawnError for a missing or non-executable command`, async () => {
    await withTempDir(async (dir) => {
      const missing = join(dir, "no-such-script");
      await assert.rejects(() => run(missing, { stdin: "x" }), (e: unknown) => {
        assert.ok(e instanceof SpawnError);
        assert.equal(e.code, "spawn_failed");
        assert.ok(e.message.startsWith(`Cannot start '${missing}': `), e.message);
        return true;
      });
      const plain = join(dir, "plain.sh");
      await Deno.writeTextFile(plain, "#!/bin/sh\necho hi\n");
      await assert.rejects(() => run(plain), SpawnError);
    });
  });

  Deno.test(`${name}() rejects a non-positive timeout`, async () => {
    await assert.rejects(() => run("true", { timeoutMs: 0 }), RangeError);
  });

  Deno.test(`${name}() starts the child as the leader of its own process group`, async () => {
    // Fields 5 and 6 of /proc/PID/stat: process group and session.
    const result = await run("/bin/sh", {
      args: ["-c", 'set -- $(sed "s/.*) //" /proc/$$/stat); echo "$$ $3 $4"'],
    });
    const [pid, pgid, sid] = decoder.decode(result.stdout).trim().split(" ").map(Number);
    assert.ok(pid > 0);
    assert.equal(pgid, pid);
    if (name === "runProcess" && libc() && !hasTerminal()) {
      // posix_spawn keeps it in hookhost's session, and so in its scheduling autogroup.
      const ours = Number(statFields(await Deno.readTextFile("/proc/self/stat"))[3]);
      assert.equal(sid, ours);
    } else {
      // From a terminal (so it cannot stop on it), and through Deno.Command (which can only
      // get there through util-linux `setsid`): a session of its own.
      assert.equal(sid, pid);
    }
  });

  Deno.test(`${name}() lets env override an inherited variable and finds commands on PATH`, async () => {
    const result = await run("sh", {
      args: ["-c", 'printf %s "$HOME"'],
      env: { HOME: "/elsewhere" },
    });
    assert.equal(decoder.decode(result.stdout), "/elsewhere");
  });

  Deno.test(`${name}() runs in cwd when given`, async () => {
    await withTempDir(async (dir) => {
      const result = await run("/bin/sh", { args: ["-c", "pwd -P"], cwd: dir });
      assert.equal(decoder.decode(result.stdout).trim(), await Deno.realPath(dir));
    });
  });

  Deno.test(`${name}() reports the signal that ended the child`, async () => {
    const result = await run("/bin/sh", { args: ["-c", "kill -TERM $$"] });
    assert.equal(result.code, null);
    assert.equal(result.signal, "SIGTERM");
    assert.equal(result.timedOut, false);
  });

  Deno.test(`${name}() restores SIGPIPE, which Deno ignores, for the child`, async () => {
    // `yes | head` ends only if yes dies of SIGPIPE.
    const result = await run("/bin/sh", { args: ["-c", "yes | head -n 1"], timeoutMs: 10_000 });
    assert.equal(result.timedOut, false);
    assert.equal(decoder.decode(result.stdout), "y\n");
  });

  Deno.test(`${name}() throws SpawnError when the script's interpreter is missing`, async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, "odd.sh");
      await Deno.writeTextFile(path, "#!/no/such/interpreter\necho hi\n");
      await Deno.chmod(path, 0o755);
      await assert.rejects(() => run(path, { stdin: "x" }), (e: unknown) => {
        assert.ok(e instanceof SpawnError);
        assert.match(e.message, /No such file or directory/);
        return true;
      });
    });
  });

  Deno.test(`${name}() answers an exited script whose background child keeps stdout once it is quiet, leaving the child alone`, async () => {
    await withTempDir(async (dir) => {
      const pidFile = join(dir, "child.pid");
      // The child inherits stdout and keeps it; the script exits 0 at once.
      const path = await script(dir, "bg.sh", `echo hello\nsleep 30 &\necho $! > ${pidFile}`);
      const started = Date.now();
      const result = await run(path, { timeoutMs: 20_000, waitDelayMs: 300 });
      const elapsed = Date.now() - started;
      const child = Number((await Deno.readTextFile(pidFile)).trim());
      try {
        assert.equal(result.timedOut, false);
        assert.equal(result.code, 0);
        assert.equal(decoder.decode(result.stdout), "hello\n");
        assert.ok(elapsed >= 300 && elapsed < 15_000, `took ${elapsed} ms`);
        assert.ok(alive(child), "the background child was killed");
      } finally {
        Deno.kill(child, "SIGKILL");
      }
    });
  });

  Deno.test(`${name}() keeps reading an exited script's background output while it keeps coming`, async () => {
    await withTempDir(async (dir) => {
      // Output every 100 ms for 1 s after the exit, inside a longer wait delay: all of it is kept.
      const path = await script(
        dir,
        "trickle.sh",
        `(for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.1; echo $i; done) &\necho start`,
      );
      const result = await run(path, { timeoutMs: 20_000, waitDelayMs: scaled(1_000) });
      assert.equal(result.timedOut, false);
      assert.equal(result.code, 0);
      assert.equal(decoder.decode(result.stdout), "start\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n");
    });
  });

  Deno.test(`${name}() answers at the timeout although an escaped process holds stdout`, async () => {
    await withTempDir(async (dir) => {
      const pidFile = join(dir, "escaped.pid");
      // setsid puts the sleeper in a new group, out of reach of the group kill.
      const path = await script(
        dir,
        "escape.sh",
        `setsid sleep 30 & echo $! > ${pidFile}\nsleep 30`,
      );
      const started = Date.now();
      const result = await run(path, { timeoutMs: 300 });
      const escaped = Number((await Deno.readTextFile(pidFile)).trim());
      try {
        assert.equal(result.timedOut, true);
        assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
      } finally {
        Deno.kill(escaped, "SIGKILL");
      }
    });
  });

  Deno.test(`${name}() answers at the timeout although an escaped process holds stdin unread`, async () => {
    await withTempDir(async (dir) => {
      const go = join(dir, "go");
      const done = join(dir, "done");
      assert.ok((await new Deno.Command("mkfifo", { args: [go] }).output()).success);
      // The holder leaves the group with the script's stdin (as fd 3) and reads it only once told
      // to, after the answer: a run that waits for the 1 MiB to be written never answers.
      const path = await script(
        dir,
        "hold.sh",
        `exec 3<&0\nsetsid sh -c 'read go < ${go}; cat <&3 > /dev/null; echo > ${done}' ` +
          `> /dev/null 2>&1 &\nsleep 30`,
      );
      let answered = false;
      const running = run(path, { stdin: new Uint8Array(1 << 20), timeoutMs: 300 })
        .finally(() => (answered = true));
      const inTime = await eventually(() => answered);
      // Told to read either way, so the write still in flight (if any) ends within this test.
      await Deno.writeTextFile(go, "go\n");
      const result = await running;
      assert.ok(inTime, "no answer while an escaped process held stdin");
      assert.equal(result.timedOut, true);
      assert.ok(await eventually(() => exists(done)), "the holder never saw its stdin end");
    });
  });
}

Deno.test("runProcess() takes the posix_spawn path on Linux", async () => {
  if (Deno.build.os !== "linux") return;
  assert.ok(libc(), "libc could not be opened through FFI");
  // util-linux setsid (the runCommand path) would appear as the child's first exec.
  const result = await runProcess("/bin/sh", { args: ["-c", "cat /proc/$$/comm"] });
  assert.equal(decoder.decode(result.stdout).trim(), "sh");
});

Deno.test("libc() returns the same symbols at every call", () => {
  if (Deno.build.os !== "linux") return;
  const first = libc();
  assert.ok(first, "libc could not be opened through FFI");
  assert.equal(libc(), first);
});
