import assert from "node:assert/strict";
import { libc } from "./libc.ts";
import { NativeSpawner } from "./native_spawn.ts";

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
}
