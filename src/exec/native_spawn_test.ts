import assert from "node:assert/strict";
import { libc as openLibc } from "./libc.ts";
import { hasTerminal, NativeSpawner, statFields } from "./native_spawn.ts";

const libc = openLibc();

const decoder = new TextDecoder();

function killGroup(pid: number): void {
  try {
    Deno.kill(-pid, "SIGKILL");
  } catch {
    // Gone.
  }
}

// Kernels before 5.3 have no pidfd: exits are then polled once the pipes close.
for (const pidfds of [true, false]) {
  const name = `NativeSpawner.run() (pidfds ${pidfds ? "on" : "off"})`;

  Deno.test({
    name: `${name} returns output and exit code`,
    ignore: !libc,
    async fn() {
      const spawner = new NativeSpawner(libc!, { pidfds });
      const r = await spawner.run("/bin/sh", {
        args: ["-c", "cat; echo err >&2; exit 4"],
        stdin: "in",
      }, killGroup);
      assert.equal(r.code, 4);
      assert.equal(decoder.decode(r.stdout), "in");
      assert.equal(decoder.decode(r.stderr), "err\n");
    },
  });

  Deno.test({
    name: `${name} sees an exit after the pipes were closed early`,
    ignore: !libc,
    async fn() {
      const spawner = new NativeSpawner(libc!, { pidfds });
      const r = await spawner.run("/bin/sh", {
        args: ["-c", "exec >&- 2>&-; sleep 0.2; exit 7"],
      }, killGroup);
      assert.equal(r.code, 7);
    },
  });

  Deno.test({
    name: `${name} kills at the timeout`,
    ignore: !libc,
    async fn() {
      const spawner = new NativeSpawner(libc!, { pidfds });
      const r = await spawner.run(
        "/bin/sh",
        { args: ["-c", "sleep 30"], timeoutMs: 200 },
        killGroup,
      );
      assert.equal(r.timedOut, true);
      assert.equal(r.signal, "SIGKILL");
    },
  });

  Deno.test({
    name: `${name} does not busy-wait while a descendant holds stdout after the exit`,
    ignore: !libc,
    async fn() {
      const spawner = new NativeSpawner(libc!, { pidfds });
      const cpu = () => {
        const f = statFields(Deno.readTextFileSync("/proc/thread-self/stat"));
        return (Number(f[11]) + Number(f[12])) * 10; // ms, at 100 ticks per second
      };
      const before = cpu();
      const started = Date.now();
      const r = await spawner.run(
        "/bin/sh",
        // A wait delay longer than the descendant: the run waits for it to close stdout.
        { args: ["-c", "echo hi; sleep 1 &"], waitDelayMs: 5_000 },
        killGroup,
      );
      const wall = Date.now() - started;
      const used = cpu() - before;
      assert.equal(r.code, 0);
      assert.equal(decoder.decode(r.stdout), "hi\n");
      assert.ok(wall >= 500, `answered before the descendant closed stdout (${wall} ms)`);
      // A spin would keep this thread (the one running JavaScript) busy for the whole wait; other
      // test files running in parallel in this process do not count.
      assert.ok(used < wall / 3, `${used} ms of CPU in ${wall} ms`);
    },
  });
}

/** Process group and session of the process whose /proc/PID/stat is `stat`. */
function groupAndSession(stat: string): [number, number] {
  const f = statFields(stat);
  return [Number(f[2]), Number(f[3])];
}

for (const session of [false, true]) {
  Deno.test({
    name: `NativeSpawner.run() with session ${session} starts the child in ${
      session ? "a session" : "a process group"
    } of its own`,
    ignore: !libc,
    async fn() {
      const spawner = new NativeSpawner(libc!, { session });
      const r = await spawner.run("/bin/sh", {
        args: ["-c", "echo $$; cat /proc/$$/stat; [ -r /dev/tty ] && : </dev/tty && echo tty"],
      }, killGroup);
      const [pidLine, stat, tty] = decoder.decode(r.stdout).split("\n");
      const pid = Number(pidLine);
      const [pgid, sid] = groupAndSession(stat);
      const ours = groupAndSession(Deno.readTextFileSync("/proc/self/stat"))[1];
      assert.equal(pgid, pid);
      assert.equal(sid, session ? pid : ours);
      if (session) assert.notEqual(tty, "tty", "a session of its own has no terminal");
    },
  });
}

Deno.test("hasTerminal() says whether this process has a controlling terminal", () => {
  let canOpen = true;
  try {
    Deno.openSync("/dev/tty").close();
  } catch {
    canOpen = false;
  }
  assert.equal(hasTerminal(), canOpen);
});

/**
 * Runs `body` as a Deno program that has a `spawner` (a NativeSpawner) at hand, after the shell
 * commands `setup` (limits and dispositions that must be in place before Deno starts); returns
 * its stdout, and fails the test if it failed.
 */
async function withSpawner(setup: string, body: string): Promise<string> {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/main.ts`;
    const here = (file: string) => JSON.stringify(new URL(file, import.meta.url).href);
    await Deno.writeTextFile(
      script,
      `import { libc } from ${here("./libc.ts")};
import { NativeSpawner } from ${here("./native_spawn.ts")};
const spawner = new NativeSpawner(libc()!, { session: false });
${body}`,
    );
    const out = await new Deno.Command("/bin/sh", {
      args: ["-c", `${setup}; exec "$0" run -A --no-config "$1"`, Deno.execPath(), script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, decoder.decode(out.stderr));
    return decoder.decode(out.stdout).trim();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "NativeSpawner.run() leaves signals this process ignores ignored, and only those",
  ignore: !libc,
  async fn() {
    // Deno starts with SIGUSR2 ignored, as a daemon under `nohup` starts with SIGHUP ignored.
    const out = await withSpawner(
      "trap '' USR2",
      `const r = await spawner.run("/bin/sh", {
  args: ["-c", "grep '^SigIgn' /proc/self/status"],
}, () => {});
console.log(new TextDecoder().decode(r.stdout));`,
    );
    const mask = BigInt(`0x${out.split(/\s+/)[1]}`);
    const ignored = (signal: number) => ((mask >> BigInt(signal - 1)) & 1n) === 1n;
    assert.ok(ignored(12), "SIGUSR2 should stay ignored in the child");
    assert.ok(!ignored(13), "SIGPIPE, which Deno ignores, should be back at its default");
  },
});

Deno.test({
  name: "NativeSpawner.run() closes every pipe it made when it runs out of descriptors",
  ignore: !libc,
  async fn() {
    // With 1 to 5 descriptors free, one of the three pipes cannot be made.
    const out = await withSpawner(
      "ulimit -n 256",
      `const count = () => [...Deno.readDirSync("/proc/self/fd")].length;
const fill: Deno.FsFile[] = [];
try {
  for (;;) fill.push(Deno.openSync("/dev/null"));
} catch { /* full */ }
const leaks: number[] = [];
for (let free = 1; free <= 5; free++) {
  for (const f of fill.splice(0, free)) f.close();
  const before = count();
  const error = await spawner.run("/bin/true", { stdin: "x" }, () => {}).then(() => null, (e) => e);
  leaks.push(count() - before);
  if (!error) break;
  for (let i = 0; i < free; i++) fill.push(Deno.openSync("/dev/null"));
}
console.log(JSON.stringify(leaks));`,
    );
    const leaks: number[] = JSON.parse(out);
    assert.ok(leaks.length >= 3, `expected several failed runs, got ${leaks}`);
    assert.deepEqual(leaks, leaks.map(() => 0), `descriptors left open: ${leaks}`);
  },
});
