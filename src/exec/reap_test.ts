import assert from "node:assert/strict";
import { join } from "node:path";
import { libc as openLibc } from "./libc.ts";
import { NativeSpawner, type WaitPid } from "./native_spawn.ts";
import { ChildLostError, runCommand, type RunOptions, runProcess, type RunResult } from "./mod.ts";
import { until } from "../../test/_poll.ts";

const libc = openLibc();

function killGroup(pid: number): void {
  try {
    Deno.kill(-pid, "SIGKILL");
  } catch {
    // Gone.
  }
}

/** Asserts that `e` is the error of `command`'s child `pid` (if known) found already reaped. */
function assertLost(e: unknown, command: string, pid?: number): true {
  assert.ok(e instanceof ChildLostError, `expected a ChildLostError, got ${e}`);
  assert.equal(e.code, "child_lost");
  assert.ok(e.pid > 0);
  if (pid !== undefined) assert.equal(e.pid, pid);
  assert.equal(
    e.message,
    `Cannot collect the exit status of '${command}' (pid '${e.pid}'): ` +
      "No child processes (os error 10)",
  );
  return true;
}

for (const pidfds of [true, false]) {
  Deno.test({
    name: `NativeSpawner.run() (pidfds ${
      pidfds ? "on" : "off"
    }) rejects with ChildLostError when the child was reaped elsewhere`,
    ignore: !libc,
    async fn() {
      const lib = libc!;
      let calls = 0;
      // Something else in this process reaps the child first (as a stray waitpid(-1) would);
      // the spawner's own call then fails with the kernel's ECHILD.
      const reapFirst: WaitPid = (pid, status, flags) => {
        calls++;
        lib.waitpid(pid, new Int32Array(1), 0);
        return lib.waitpid(pid, status, flags);
      };
      const spawner = new NativeSpawner(lib, { pidfds, waitpid: reapFirst });
      await assert.rejects(
        spawner.run("/bin/sh", { args: ["-c", "echo out; exit 3"] }, killGroup),
        (e) => assertLost(e, "/bin/sh"),
      );
      assert.equal(calls, 1);
      // The spawner still works afterwards.
      const ok = await new NativeSpawner(lib, { pidfds }).run("/bin/sh", {
        args: ["-c", "exit 3"],
      }, killGroup);
      assert.equal(ok.code, 3);
    },
  });
}

type Run = (command: string, options?: RunOptions) => Promise<RunResult>;

for (const [name, run] of [["runProcess", runProcess], ["runCommand", runCommand]] as const) {
  Deno.test({
    name: `${name}() rejects with ChildLostError when something else reaps the child first`,
    // The reaping is done through libc's own waitpid.
    ignore: !libc,
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "hh-reap" });
      try {
        const pidFile = join(dir, "pid");
        const script = join(dir, "wait.sh");
        await Deno.writeTextFile(
          script,
          `#!/bin/sh\necho $$ > ${pidFile}.tmp\n` +
            `mv ${pidFile}.tmp ${pidFile}\nexec sleep 30\n`,
        );
        await Deno.chmod(script, 0o755);
        let settled = false;
        const running = (run as Run)(script, { stdin: "x" }).then(
          (r) => r,
          (e: unknown) => e,
        ).finally(() => (settled = true));
        let pid = 0;
        await until(async () => {
          // Ended before it wrote its pid: it failed some other way, which this reports.
          if (settled) assert.fail(`ended early with ${Deno.inspect(await running)}`);
          pid = Number(await Deno.readTextFile(pidFile).catch(() => "0"));
          return pid > 0;
        }, () => "the script never wrote its pid");
        // Killed and reaped with no turn of the event loop in between, so neither Deno's reaper
        // nor the native spawner's can see the exit before this waitpid takes it.
        Deno.kill(pid, "SIGKILL");
        const status = new Int32Array(1);
        assert.equal(libc!.waitpid(pid, status, 0), pid);
        assert.equal(status[0] & 0x7f, 9, "the child should have died of SIGKILL");
        const outcome = await running;
        assertLost(outcome, script, pid);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
