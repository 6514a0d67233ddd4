import assert from "node:assert/strict";
import { join } from "node:path";
import { runProcess, SpawnError } from "./spawn.ts";

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

/** Whether `pid` is a live (not zombie) process. */
function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2)[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

async function waitDead(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !alive(pid);
}

Deno.test("runProcess() round-trips 5 MiB through cat's stdin and stdout", async () => {
  const input = new Uint8Array(5 * 1024 * 1024);
  for (let i = 0; i < input.length; i += 65_536) {
    crypto.getRandomValues(input.subarray(i, i + 65_536));
  }
  const result = await runProcess("cat", { stdin: input });
  assert.equal(result.code, 0);
  assert.equal(result.timedOut, false);
  assert.equal(result.stdout.length, input.length);
  assert.ok(result.stdout.every((b, i) => b === input[i]), "stdout differs from stdin");
  assert.equal(result.stderr.length, 0);
});

Deno.test("runProcess() writes text stdin and passes env on top of the inherited one", async () => {
  const result = await runProcess("/bin/sh", {
    args: ["-c", 'printf "%s|%s|%s" "$(cat)" "$HOOK_X" "${PATH:+has-path}"'],
    stdin: "héllo",
    env: { HOOK_X: "x y" },
  });
  assert.equal(decoder.decode(result.stdout), "héllo|x y|has-path");
});

Deno.test("runProcess() reports a non-zero exit code and captures stderr", async () => {
  const result = await runProcess("/bin/sh", {
    args: ["-c", "echo partial; echo 'it broke' >&2; exit 3"],
  });
  assert.equal(result.code, 3);
  assert.equal(result.signal, null);
  assert.equal(result.timedOut, false);
  assert.equal(decoder.decode(result.stdout), "partial\n");
  assert.equal(decoder.decode(result.stderr), "it broke\n");
  assert.ok(result.durationMs >= 0);
});

Deno.test("runProcess() does not fail when the child exits without reading stdin", async () => {
  const result = await runProcess("/bin/sh", {
    args: ["-c", "exit 0"],
    stdin: new Uint8Array(4 * 1024 * 1024),
  });
  assert.equal(result.code, 0);
});

Deno.test("runProcess() keeps at most maxOutputBytes and still finishes", async () => {
  const result = await runProcess("/bin/sh", {
    args: ["-c", "head -c 300000 /dev/zero; echo done >&2"],
    maxOutputBytes: 1000,
  });
  assert.equal(result.code, 0);
  assert.equal(result.stdout.length, 1000);
  assert.equal(decoder.decode(result.stderr), "done\n");
});

Deno.test("runProcess() kills the whole process group on timeout", async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, "grandchild.pid");
    // The grandchild keeps stdout open; only a group kill lets the run finish.
    const path = await script(dir, "slow.sh", `sleep 30 &\necho $! > ${pidFile}\nwait`);
    const started = Date.now();
    const result = await runProcess(path, { timeoutMs: 300 });
    const elapsed = Date.now() - started;
    assert.equal(result.timedOut, true);
    assert.equal(result.code, null);
    assert.equal(result.signal, "SIGKILL");
    assert.ok(elapsed < 5_000, `took ${elapsed} ms`);
    const grandchild = Number((await Deno.readTextFile(pidFile)).trim());
    assert.ok(grandchild > 0);
    assert.ok(await waitDead(grandchild, 2_000), `grandchild ${grandchild} survived the timeout`);
  });
});

Deno.test("runProcess() kills the process when the signal aborts", async () => {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 200);
  const started = Date.now();
  const result = await runProcess("/bin/sh", {
    args: ["-c", "sleep 30"],
    signal: controller.signal,
  });
  clearTimeout(timer);
  assert.ok(Date.now() - started < 5_000);
  assert.equal(result.code, null);
  assert.equal(result.signal, "SIGKILL");
  assert.equal(result.timedOut, false);

  const already = await runProcess("/bin/sh", {
    args: ["-c", "sleep 30"],
    signal: AbortSignal.abort(),
  });
  assert.equal(already.signal, "SIGKILL");
});

Deno.test("runProcess() throws SpawnError for a missing or non-executable command", async () => {
  await withTempDir(async (dir) => {
    const missing = join(dir, "no-such-script");
    await assert.rejects(() => runProcess(missing, { stdin: "x" }), (e: unknown) => {
      assert.ok(e instanceof SpawnError);
      assert.equal(e.code, "spawn_failed");
      assert.ok(e.message.startsWith(`Cannot start '${missing}': `), e.message);
      return true;
    });
    const plain = join(dir, "plain.sh");
    await Deno.writeTextFile(plain, "#!/bin/sh\necho hi\n");
    await assert.rejects(() => runProcess(plain), SpawnError);
  });
});

Deno.test("runProcess() rejects a non-positive timeout", async () => {
  await assert.rejects(() => runProcess("true", { timeoutMs: 0 }), RangeError);
});
